"""The discovery report (主动发现) defined once, as data, like the visit survey."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.households.constants import CATEGORIES, CATEGORY_LABELS, CAUSE_LABELS, CAUSES
from fieldwork.i18n import plain
from fieldwork.privacy.idnumber import IdNumberError, validate_id_number

VERSION = 1


def _fields() -> list[dict[str, Any]]:
    return [
        {"name": "head_name", "type": "text", "label": _l("户主姓名"), "required": True,
         "max_length": 64},
        {"name": "id_number", "type": "id_number", "label": _l("户主身份证号"),
         "required": False, "max_length": 18,
         "hint": _l("如能取得请填写，用于查重；不会在手机上保存明文以外的副本")},
        {"name": "contact_phone", "type": "text", "label": _l("联系电话"), "required": False,
         "max_length": 20},
        {"name": "members_count", "type": "integer", "label": _l("家庭人口"),
         "required": True, "min": 1, "max": 30},
        {"name": "category", "type": "choice", "label": _l("初步判断的类别"), "required": False,
         "options": [{"value": c, "label": CATEGORY_LABELS[c]} for c in CATEGORIES]},
        {"name": "causes", "type": "multichoice", "label": _l("致困原因"), "required": False,
         "options": [{"value": c, "label": CAUSE_LABELS[c]} for c in CAUSES]},
    ]


def definition() -> dict[str, Any]:
    return {"version": VERSION, "fields": plain(_fields())}


def validate_answers(raw: Any) -> tuple[dict[str, Any], dict[str, str]]:
    if not isinstance(raw, dict):
        return {}, {"answers": _("上报内容格式不正确")}
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    fields = {f["name"]: f for f in _fields()}
    for name in raw:
        if name not in fields:
            errors[str(name)[:64]] = _("未知的上报项")
    for name, f in fields.items():
        value = raw.get(name)
        label = str(f["label"])
        blank = value is None or value == "" or value == []
        if blank:
            if f["required"]:
                errors[name] = _("请填写“%(label)s”", label=label)
            else:
                clean[name] = [] if f["type"] == "multichoice" else ""
            continue
        kind = f["type"]
        if kind == "text":
            if not isinstance(value, str):
                errors[name] = _("“%(label)s”应为文字", label=label)
            elif len(value) > f["max_length"]:
                errors[name] = _("“%(label)s”不能超过 %(n)d 个字", label=label, n=f["max_length"])
            else:
                clean[name] = value.strip()
        elif kind == "id_number":
            if not isinstance(value, str):
                errors[name] = _("“%(label)s”应为文字", label=label)
                continue
            try:
                clean[name] = validate_id_number(value)
            except IdNumberError as exc:
                errors[name] = exc.message
        elif kind == "integer":
            n = None
            if isinstance(value, int) and not isinstance(value, bool):
                n = value
            elif isinstance(value, float) and value.is_integer() and abs(value) < 1000:
                n = int(value)
            elif isinstance(value, str) and value.strip().isascii() and \
                    value.strip().isdigit() and len(value.strip()) <= 3:
                n = int(value.strip())
            if n is None or not f["min"] <= n <= f["max"]:
                errors[name] = _("“%(label)s”应为 %(a)d 到 %(b)d 之间的整数", label=label,
                                 a=f["min"], b=f["max"])
            else:
                clean[name] = n
        elif kind == "choice":
            if not isinstance(value, str) or value not in [o["value"] for o in f["options"]]:
                errors[name] = _("请为“%(label)s”选择一项", label=label)
            else:
                clean[name] = value
        elif kind == "multichoice":
            values = value if isinstance(value, list) else [value]
            allowed = {o["value"] for o in f["options"]}
            # Only strings are options (an object or a list inside would not even hash).
            if any(not isinstance(v, str) or v not in allowed for v in values):
                errors[name] = _("“%(label)s”中有无效的选项", label=label)
            else:
                clean[name] = sorted(set(values))
    return clean, errors

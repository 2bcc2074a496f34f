"""The visit survey (入户调查表) defined once, as data.

The page renders it, the server validates against it, the printed form lays it out and the
sync API publishes it as `forms.visit`. Change a field here and every one of them follows;
bump VERSION when answers of the old shape would no longer validate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.households.constants import DIMENSION_LABELS, DIMENSION_SHORT, DIMENSIONS
from fieldwork.i18n import plain
from fieldwork.records import parse_money

VERSION = 1

STATUS_OPTIONS = [
    {"value": "ok", "label": _l("正常")},
    {"value": "at_risk", "label": _l("有风险")},
    {"value": "problem", "label": _l("有困难")},
]
MAX_TEXT = 500
MAX_INCOME = Decimal("10000000")


def _fields() -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = [
        {"name": "present", "type": "text", "label": _l("在场人员"), "required": True,
         "max_length": 100, "group": "basic",
         "hint": _l("如：户主本人、配偶")},
    ]
    for dim in DIMENSIONS:
        fields.append({"name": f"{dim}_status", "type": "choice", "label": DIMENSION_LABELS[dim],
                       "required": True, "options": STATUS_OPTIONS, "group": "dimensions",
                       "dimension": dim})
        fields.append({"name": f"{dim}_note", "type": "textarea",
                       "label": _l("%(dim)s情况说明", dim=DIMENSION_SHORT[dim]),
                       "required": False, "max_length": MAX_TEXT, "group": "dimensions",
                       "dimension": dim,
                       "required_unless": {"field": f"{dim}_status", "value": "ok"}})
    fields += [
        {"name": "household_income", "type": "money", "label": _l("本月家庭总收入（元）"),
         "required": True, "min": 0, "max": float(MAX_INCOME), "group": "income",
         "hint": _l("人均月收入按家庭人口自动计算")},
        {"name": "needs", "type": "textarea", "label": _l("发现的需求和问题"), "required": False,
         "max_length": MAX_TEXT, "group": "followup"},
        {"name": "measures_delivered", "type": "multichoice",
         "label": _l("上次走访以来已落实的帮扶措施"), "required": False,
         "options_from": "household.measures", "group": "followup"},
        {"name": "next_steps", "type": "textarea", "label": _l("下一步帮扶打算"),
         "required": False, "max_length": MAX_TEXT, "group": "followup"},
    ]
    return fields


GROUPS = [
    ("basic", _l("基本情况")),
    ("dimensions", _l("两有四保障")),
    ("income", _l("收入")),
    ("followup", _l("需求与措施")),
]


def definition() -> dict[str, Any]:
    """The schema with labels in the current language (for the page and `forms.visit`)."""
    return {
        "version": VERSION,
        "groups": [{"name": n, "label": str(label)} for n, label in GROUPS],
        "fields": plain(_fields()),
    }


def field_names() -> list[str]:
    return [f["name"] for f in _fields()]


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def validate_answers(
    raw: Any, measure_ids: set[int]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check answers against the schema: (clean answers, {field: Chinese message})."""
    if not isinstance(raw, dict):
        return {}, {"answers": _("调查内容格式不正确")}
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    fields = _fields()
    known = {f["name"] for f in fields}
    for name in raw:
        if name not in known:
            errors[str(name)[:64]] = _("未知的调查项")
    for f in fields:
        name, value = f["name"], raw.get(f["name"])
        required = f.get("required", False)
        cond = f.get("required_unless")
        if cond and raw.get(cond["field"]) not in (None, "", cond["value"]):
            required = True
        if _is_blank(value):
            if required:
                errors[name] = (
                    _("%(label)s不是“正常”时请说明情况", label=str(DIMENSION_SHORT[f["dimension"]]))
                    if cond else _("请填写“%(label)s”", label=str(f["label"]))
                )
            elif f["type"] == "multichoice":
                clean[name] = []
            else:
                clean[name] = ""
            continue
        kind = f["type"]
        if kind in ("text", "textarea"):
            if not isinstance(value, str):
                errors[name] = _("“%(label)s”应为文字", label=str(f["label"]))
            elif len(value) > f["max_length"]:
                errors[name] = _("“%(label)s”不能超过 %(n)d 个字", label=str(f["label"]),
                                 n=f["max_length"])
            else:
                clean[name] = value.strip()
        elif kind == "choice":
            allowed = [o["value"] for o in f["options"]]
            if value not in allowed:
                errors[name] = _("请为“%(label)s”选择一项", label=str(f["label"]))
            else:
                clean[name] = value
        elif kind == "money":
            amount = parse_money(value)
            if amount is None:
                errors[name] = _("“%(label)s”应为数字", label=str(f["label"]))
            elif amount < 0:
                errors[name] = _("“%(label)s”不能为负数", label=str(f["label"]))
            elif amount > MAX_INCOME:
                errors[name] = _("“%(label)s”数额过大，请核对", label=str(f["label"]))
            else:
                clean[name] = float(amount)
        elif kind == "multichoice":
            values = value if isinstance(value, list) else [value]
            ids = []
            for v in values:
                # Only ids as the form sends them: an integer or a string of digits.
                if isinstance(v, bool) or not isinstance(v, int | str):
                    ids.append(-1)
                    continue
                try:
                    ids.append(int(v))
                except (TypeError, ValueError, OverflowError):
                    ids.append(-1)
            if any(i not in measure_ids for i in ids):
                errors[name] = _("所选帮扶措施不在该户的帮扶计划中")
            else:
                clean[name] = sorted(set(ids))
    return clean, errors



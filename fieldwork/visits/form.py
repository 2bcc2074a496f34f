"""The visit survey (入户调查表) defined once, as data.

The page renders it, the server validates against it, the printed form lays it out and the
sync API publishes it as `forms.visit`. Change a field here and every one of them follows;
bump VERSION when answers of the old shape would no longer validate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.households.constants import (
    DIMENSION_LABELS,
    DIMENSION_SHORT,
    DIMENSIONS,
    RELATION_LABELS,
    RELATIONS,
)
from fieldwork.households.models import Member
from fieldwork.i18n import plain
from fieldwork.records import parse_money, text_problem

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


# 家庭成员变化 seen on the visit (issue 13): an optional `member_changes` list in the answers.
# Each entry becomes a change of the household's file that the street office confirms
# (households.visit_changes). Not one of `fields`: a client that does not know the list
# simply never sends it.
MEMBER_CHANGE_KINDS = ("birth", "death", "move_out", "move_in")
MEMBER_CHANGE_LABELS = {
    "birth": _l("出生"), "death": _l("死亡"), "move_out": _l("迁出"), "move_in": _l("迁入"),
}
LEAVE_DATE_LABELS = {"death": _l("死亡日期"), "move_out": _l("迁出日期")}
MAX_MEMBER_CHANGES = 10
MAX_NAME = 64
MAX_CHANGE_NOTE = 200
GENDERS = ("male", "female")  # as Member.gender stores them (privacy.idnumber.gender_of)
# A newcomer is never the head: the household has one (a new head is an office change).
NEW_MEMBER_RELATIONS = tuple(r for r in RELATIONS if r != "self")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
MIN_DATE = date(1900, 1, 1)


def _member_change_fields() -> dict[str, dict[str, Any]]:
    relation = {"name": "relation", "type": "choice", "label": _l("与户主关系"), "required": True,
                "options": [{"value": r, "label": RELATION_LABELS[r]}
                            for r in NEW_MEMBER_RELATIONS]}
    gender = {"name": "gender", "type": "choice", "label": _l("性别"),
              "options": [{"value": "male", "label": _l("男")},
                          {"value": "female", "label": _l("女")}]}
    name = {"name": "name", "type": "text", "label": _l("姓名"), "required": True,
            "max_length": MAX_NAME}
    member = {"name": "member_id", "type": "member", "label": _l("成员"), "required": True,
              "options_from": "household.members"}
    return {
        "birth": {"fields": [name, {"name": "birth_date", "type": "date", "label": _l("出生日期"),
                                    "required": True},
                             relation, {**gender, "required": True}]},
        "death": {"fields": [member, {"name": "date", "type": "date",
                                      "label": LEAVE_DATE_LABELS["death"], "required": True}]},
        "move_out": {"fields": [member, {"name": "date", "type": "date",
                                         "label": LEAVE_DATE_LABELS["move_out"],
                                         "required": True}]},
        "move_in": {"fields": [name, relation,
                               {"name": "birth_date", "type": "date", "label": _l("出生日期"),
                                "required": True},
                               {**gender, "required": False},
                               {"name": "date", "type": "date", "label": _l("迁入日期"),
                                "required": False, "hint": _l("不填则为走访当天")},
                               {"name": "note", "type": "text", "label": _l("说明"),
                                "required": False, "max_length": MAX_CHANGE_NOTE}]},
    }


def member_changes_definition() -> dict[str, Any]:
    fields = _member_change_fields()
    return {
        "name": "member_changes", "label": _l("家庭成员变化"), "max_items": MAX_MEMBER_CHANGES,
        "hint": _l("提交后由街道(乡镇)确认，确认后才记入家庭档案"),
        "kinds": [{"value": k, "label": MEMBER_CHANGE_LABELS[k], "fields": fields[k]["fields"]}
                  for k in MEMBER_CHANGE_KINDS],
    }


def definition() -> dict[str, Any]:
    """The schema with labels in the current language (for the page and `forms.visit`)."""
    return {
        "version": VERSION,
        "groups": [{"name": n, "label": str(label)} for n, label in GROUPS],
        "fields": plain(_fields()),
        # Extension (protocol v1 stays valid): the shape of answers.member_changes.
        "member_changes": plain(member_changes_definition()),
    }


def field_names() -> list[str]:
    return [f["name"] for f in _fields()]


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def validate_answers(
    raw: Any, measure_ids: set[int], *, members: Mapping[int, Member] | None = None,
    on: date | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check answers against the schema: (clean answers, {field: Chinese message}).
    `members`: the household's members by id (current or not), `on`: the visit's local date (both
    for `member_changes`; without `on` no list is accepted)."""
    if not isinstance(raw, dict):
        return {}, {"answers": _("调查内容格式不正确")}
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    fields = _fields()
    known = {f["name"] for f in fields} | {"member_changes"}
    if not _is_blank(raw.get("member_changes")):
        changes, change_errors = validate_member_changes(
            raw["member_changes"], members or {}, on or date.min)
        errors.update(change_errors)
        if changes:
            clean["member_changes"] = changes
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




def _date(value: Any, name: str, label: str, errors: dict[str, str], *, on: date,
          required: bool, not_before: date | None = None) -> date | None:
    if _is_blank(value):
        if required:
            errors[name] = _("请填写“%(label)s”", label=label)
        return None
    try:
        day = date.fromisoformat(value) if isinstance(value, str) and ISO_DATE.match(value) \
            else None
    except ValueError:
        day = None
    if day is None:
        errors[name] = _("“%(label)s”应为日期，如 2026-11-20", label=label)
    elif day > on:
        errors[name] = _("“%(label)s”不能晚于走访日期", label=label)
    elif day < (not_before or MIN_DATE):
        errors[name] = _("“%(label)s”早于出生日期，请核对", label=label) if not_before \
            else _("“%(label)s”不合理，请核对", label=label)
    else:
        return day
    return None


def _text(value: Any, name: str, label: str, max_length: int, errors: dict[str, str], *,
          required: bool) -> str:
    if _is_blank(value):
        if required:
            errors[name] = _("请填写“%(label)s”", label=label)
        return ""
    if not isinstance(value, str):
        errors[name] = _("“%(label)s”应为文字", label=label)
        return ""
    text = value.strip()
    if len(text) > max_length:
        errors[name] = _("“%(label)s”不能超过 %(n)d 个字", label=label, n=max_length)
    elif text_problem(text):
        errors[name] = text_problem(text) or ""
    return text


def _choice(value: Any, name: str, label: str, allowed: tuple[str, ...],
            errors: dict[str, str], *, required: bool) -> str:
    if _is_blank(value):
        if required:
            errors[name] = _("请选择“%(label)s”", label=label)
        return ""
    if value not in allowed:
        errors[name] = _("请为“%(label)s”选择一项", label=label)
        return ""
    return str(value)


def validate_member_changes(
    raw: Any, members: Mapping[int, Member], on: date
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The member changes reported on a visit: (clean entries, {path: Chinese message}), the
    path as `member_changes[i].field`. A death or move-out names a member of the household,
    once (one who already left meanwhile is not refused: the office recorded it first); a
    birth or move-in is a new member without an ID number (the office adds it)."""
    errors: dict[str, str] = {}
    if not isinstance(raw, list):
        return [], {"member_changes": _("家庭成员变化的格式不正确")}
    if len(raw) > MAX_MEMBER_CHANGES:
        return [], {"member_changes": _("一次走访最多登记 %(n)d 项成员变化",
                                        n=MAX_MEMBER_CHANGES)}
    out: list[dict[str, Any]] = []
    leaving: set[int] = set()
    for i, entry in enumerate(raw):
        at = f"member_changes[{i}]"
        if not isinstance(entry, dict) or entry.get("kind") not in MEMBER_CHANGE_KINDS:
            errors[f"{at}.kind"] = _("请选择成员变化的类型（出生、死亡、迁出、迁入）")
            continue
        kind = entry["kind"]
        allowed = {f["name"] for f in _member_change_fields()[kind]["fields"]} | {"kind"}
        for key in entry:
            if key not in allowed:
                errors[f"{at}.{str(key)[:64]}"] = _("未知的填写项")
        clean: dict[str, Any] = {"kind": kind}
        if kind in ("death", "move_out"):
            member_id = entry.get("member_id")
            member = members.get(member_id) if isinstance(member_id, int) \
                and not isinstance(member_id, bool) else None
            if _is_blank(member_id):
                errors[f"{at}.member_id"] = _("请选择是哪位成员")
            elif member is None:
                errors[f"{at}.member_id"] = _("所选成员不是该户的成员，请同步后重新选择")
            elif member.id in leaving:
                errors[f"{at}.member_id"] = _("同一成员只能登记一项死亡或迁出")
            day = _date(entry.get("date"), f"{at}.date", str(LEAVE_DATE_LABELS[kind]), errors,
                        on=on, required=True,
                        not_before=member.birth_date if member else None)
            if member is not None and day is not None:
                leaving.add(member.id)
                clean.update(member_id=member.id, member_name=member.name,
                             date=day.isoformat())
        else:
            clean["name"] = _text(entry.get("name"), f"{at}.name", str(_l("姓名")), MAX_NAME,
                                  errors, required=True)
            birth = _date(entry.get("birth_date"), f"{at}.birth_date", str(_l("出生日期")),
                          errors, on=on, required=True)
            clean["birth_date"] = birth.isoformat() if birth else None
            clean["relation"] = _choice(entry.get("relation"), f"{at}.relation",
                                        str(_l("与户主关系")), NEW_MEMBER_RELATIONS, errors,
                                        required=True)
            clean["gender"] = _choice(entry.get("gender"), f"{at}.gender", str(_l("性别")),
                                      GENDERS, errors, required=kind == "birth")
            if kind == "move_in":
                day = _date(entry.get("date"), f"{at}.date", str(_l("迁入日期")), errors, on=on,
                            required=False, not_before=birth)
                clean["date"] = (day or on).isoformat()
                clean["note"] = _text(entry.get("note"), f"{at}.note", str(_l("说明")),
                                      MAX_CHANGE_NOTE, errors, required=False)
        out.append(clean)
    return (out, errors) if not errors else ([], errors)

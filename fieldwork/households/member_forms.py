"""Reading the member forms (add, correct, leave) into the `after` of a member change
(households.members): Chinese messages per field, ID numbers validated and kept only as
their encrypted form, blind index and mask. Gender and birth date come from the ID number;
one current head (户主) per household; one ID, one current member in the whole city (a
duplicate elsewhere names the place, never the other family)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import (
    DISABILITY_GRADES,
    DISABILITY_KINDS,
    EMPLOYMENT,
    ILLNESSES,
    LEAVE_REASONS,
    RELATIONS,
    SCHOOLING_STAGES,
)
from fieldwork.households.models import Household, HouseholdChange, Member
from fieldwork.places.models import Place
from fieldwork.privacy.idnumber import (
    IdNumberError,
    birth_date_of,
    gender_of,
    validate_id_number,
)
from fieldwork.privacy.service import protect_id
from fieldwork.records import parse_money, text_problem
from fieldwork.timeutil import today_local

ADD_KIND, LEAVE_KIND, EDIT_KIND = "member_add", "member_leave", "member_edit"
MAX_NAME = 64
MAX_NOTE = 200  # Member.health, kept as the free note on the member
GENDERS = ("male", "female")
ADD_KIND, LEAVE_KIND, EDIT_KIND = "member_add", "member_leave", "member_edit"
# The `after` of a member_add, in this order; a member_edit's after is a subset.
FIELDS = ("name", "relation", "id_enc", "id_index", "id_mask", "gender", "birth_date",
          "joined_on", "illness", "disability_kind", "disability_grade", "schooling_stage",
          "boarding", "employment_status", "monthly_income", "note")
ID_FIELDS = ("id_enc", "id_index", "id_mask")
# Fields whose value is the same however often the ID is encrypted (id_enc is not).
_COMPARED = tuple(f for f in FIELDS if f != "id_enc")



def member_facts(m: Member) -> dict[str, Any]:
    """The member as the JSON-able dict of `FIELDS` (no plain ID number)."""
    return {
        "name": m.name, "relation": m.relation, "id_enc": m.id_enc, "id_index": m.id_index,
        "id_mask": m.id_mask, "gender": m.gender,
        "birth_date": m.birth_date.isoformat() if m.birth_date else None,
        "joined_on": m.joined_on.isoformat() if m.joined_on else None,
        "illness": m.illness or "", "disability_kind": m.disability_kind or "",
        "disability_grade": m.disability_grade, "schooling_stage": m.schooling_stage or "",
        "boarding": bool(m.boarding), "employment_status": m.employment_status or "",
        "monthly_income": str(m.monthly_income) if m.monthly_income is not None else None,
        "note": m.health or "",
    }


# ---------------------------------------------------------------- parsing forms

def _iso_date(raw: Any) -> date | None | str:
    """A date from 'YYYY-MM-DD'; None when blank; 'bad' when it is not a date."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return "bad"


def _text(raw: Mapping[str, Any], name: str, label: str, limit: int,
          errors: dict[str, str]) -> str:
    value = raw.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        errors[name] = _("“%(label)s”不能超过 %(n)d 个字", label=label, n=limit)
    elif (problem := text_problem(text)) is not None:
        errors[name] = problem
    return text


def _choice(raw: Mapping[str, Any], name: str, allowed: tuple[str, ...], message: str,
            errors: dict[str, str]) -> str:
    value = raw.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if value not in allowed:
        errors[name] = message
        return ""
    return value


def _flag(raw: Mapping[str, Any], name: str) -> bool:
    value = raw.get(name)
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("1", "on", "true", "yes", "y")


def parse_member(form: Mapping[str, Any], *, household: Household,
                 member: Member | None = None) -> dict[str, Any]:
    """Check a member form (or any mapping); the `after` of a change.

    Adding (member None): the full dict of FIELDS. Editing: only the fields that differ
    from the member (a blank ID number keeps the one on file). Gender and birth date come
    from the ID number when one is given. Raises FormError({field: message})."""
    errors: dict[str, str] = {}
    today = today_local()
    name = _text(form, "name", _("姓名"), MAX_NAME, errors)
    if not name and "name" not in errors:
        errors["name"] = _("请填写姓名")
    relation = _choice(form, "relation", RELATIONS, _("请选择与户主关系"), errors)

    out: dict[str, Any] = {"name": name, "relation": relation}
    id_raw = form.get("id_number")
    number = None
    if isinstance(id_raw, str) and id_raw.strip():
        try:
            number = validate_id_number(id_raw, today=today)
        except IdNumberError as exc:
            errors["id_number"] = exc.message
    if number is not None:
        birth: date | None = birth_date_of(number)
        gender: str | None = gender_of(number)
    else:
        birth_v = _iso_date(form.get("birth_date"))
        birth = None
        if birth_v == "bad":
            errors["birth_date"] = _("出生日期格式应为 年-月-日，例如 2024-03-01")
        elif isinstance(birth_v, date):
            if birth_v > today:
                errors["birth_date"] = _("出生日期不能晚于今天")
            elif birth_v.year < 1900:
                errors["birth_date"] = _("出生年份不能早于1900年")
            birth = birth_v
        gender_raw = form.get("gender")
        gender = gender_raw.strip() if isinstance(gender_raw, str) else ""
        if gender and gender not in GENDERS:
            errors["gender"] = _("请选择性别")
        gender = gender or None
        keeps_id = member is not None and member.id_index
        if birth is None and "birth_date" not in errors and "id_number" not in errors:
            if keeps_id:
                birth = member.birth_date if member is not None else None
            else:
                errors["birth_date"] = _("未填写身份证号时（如尚未登记户口的新生儿），"
                                         "请填写出生日期")
        if keeps_id and member is not None:
            # The ID on file stays: its birth date and sex stay with it.
            birth, gender = member.birth_date, member.gender
    out["gender"] = gender
    out["birth_date"] = birth.isoformat() if birth else None

    joined_v = _iso_date(form.get("joined_on"))
    joined: date | None = None
    if joined_v == "bad":
        errors["joined_on"] = _("加入日期格式应为 年-月-日")
    elif isinstance(joined_v, date):
        if joined_v > today:
            errors["joined_on"] = _("加入日期不能晚于今天")
        elif birth is not None and joined_v < birth:
            errors["joined_on"] = _("加入日期不能早于出生日期")
        joined = joined_v
    elif member is None:
        joined = today
    else:
        joined = member.joined_on
    out["joined_on"] = joined.isoformat() if joined else None

    out["illness"] = _choice(form, "illness", ILLNESSES, _("请选择患病情况"), errors)
    kind = _choice(form, "disability_kind", DISABILITY_KINDS, _("请选择残疾类别"), errors)
    grade_raw = form.get("disability_grade")
    grade_text = str(grade_raw).strip() if grade_raw is not None else ""
    grade = None
    if grade_text:
        if not kind:
            errors["disability_grade"] = _("未选择残疾类别时不能填写残疾等级")
        elif grade_text.isdigit() and int(grade_text) in DISABILITY_GRADES:
            grade = int(grade_text)
        else:
            errors["disability_grade"] = _("残疾等级应为一级到四级")
    elif kind and kind != "unspecified":
        # "unspecified": carried over from the old free text, kind and grade to be checked.
        errors["disability_grade"] = _("请按残疾人证填写残疾等级")
    out["disability_kind"], out["disability_grade"] = kind, grade
    stage = _choice(form, "schooling_stage", SCHOOLING_STAGES, _("请选择就学阶段"), errors)
    boarding = _flag(form, "boarding")
    if boarding and not stage:
        errors["boarding"] = _("未在学的成员不能是寄宿生")
    out["schooling_stage"], out["boarding"] = stage, boarding
    out["employment_status"] = _choice(form, "employment_status", EMPLOYMENT,
                                       _("请选择就业状况"), errors)
    income_raw = form.get("monthly_income")
    income_text = str(income_raw).strip() if income_raw is not None else ""
    income: Decimal | None = None
    if income_text:
        income = parse_money(income_text)
        if income is None or income < 0 or income >= Decimal("1000000"):
            errors["monthly_income"] = _("月收入应为 0 到 999999.99 之间的金额（元）")
            income = None
    out["monthly_income"] = str(income) if income is not None else None
    out["note"] = _text(form, "note", _("备注"), MAX_NOTE, errors)

    index = None
    if number is not None:
        p = protect_id(number)
        index = p.index
        if member is not None and member.id_index == p.index:
            out.update(id_enc=member.id_enc, id_index=member.id_index, id_mask=member.id_mask)
        else:
            out.update(id_enc=p.enc, id_index=p.index, id_mask=p.mask)
    elif member is not None:
        out.update(id_enc=member.id_enc, id_index=member.id_index, id_mask=member.id_mask)
    else:
        out.update(id_enc=None, id_index=None, id_mask=None)

    if not errors:
        problems = _conflicts(household, member, relation=relation,
                              id_index=index if number is not None else None)
        errors.update(problems)
    if errors:
        raise FormError(errors)
    after = {f: out[f] for f in FIELDS}
    if member is None:
        return after
    now = member_facts(member)
    changed = {f: after[f] for f in _COMPARED if now[f] != after[f]}
    if "id_index" in changed:
        changed["id_enc"] = after["id_enc"]
    return changed


def parse_leave(form: Mapping[str, Any], *, member: Member) -> dict[str, Any]:
    """Check a 'member left' form: {left_on (ISO), left_reason}."""
    errors: dict[str, str] = {}
    if not member.current:
        raise FormError.conflict(_("该成员已不在本户，请刷新页面"))
    left_v = _iso_date(form.get("left_on"))
    left: date | None = None
    if left_v is None:
        errors["left_on"] = _("请填写离开日期")
    elif left_v == "bad":
        errors["left_on"] = _("离开日期格式应为 年-月-日")
    elif isinstance(left_v, date):
        if left_v > today_local():
            errors["left_on"] = _("离开日期不能晚于今天")
        elif member.joined_on is not None and left_v < member.joined_on:
            errors["left_on"] = _("离开日期不能早于加入本户的日期")
        elif member.birth_date is not None and left_v < member.birth_date:
            errors["left_on"] = _("离开日期不能早于出生日期")
        left = left_v
    reason = _choice(form, "left_reason", LEAVE_REASONS, _("请选择离开原因（死亡、迁出或其他）"),
                     errors)
    if errors or left is None:
        raise FormError(errors or {"left_on": _("请填写离开日期")})
    return {"left_on": left.isoformat(), "left_reason": reason}


def _conflicts(household: Household, member: Member | None, *, relation: str,
               id_index: str | None) -> dict[str, str]:
    """One current head per household; one ID, one current member in the whole city.
    A duplicate elsewhere names the place, never the other family."""
    errors: dict[str, str] = {}
    if relation == "self":
        head = household.head
        if head is not None and head is not member:
            errors["relation"] = _("本户已有户主（%(name)s）；一户只能有一位户主，"
                                   "请先修改原户主的关系", name=head.name)
        elif household.id is not None and _pending_head(household, member):
            errors["relation"] = _("本户已有一项待确认的新增户主，请等待确认")
    if id_index:
        q = (sa.select(Member.household_id).where(Member.id_index == id_index,
                                                   Member.left_on.is_(None)))
        if member is not None and member.id is not None:
            q = q.where(Member.id != member.id)
        other = db.session.scalar(q.limit(1))
        if other is not None and other == household.id:
            errors["id_number"] = _("该身份证号已是本户的成员")
        elif other is not None:
            hh = db.session.get(Household, other)
            place = db.session.get(Place, hh.place_id) if hh is not None else None
            where = place.name if place is not None else _("其他辖区")
            errors["id_number"] = _("该身份证号已是%(place)s一户的在册成员，不能重复登记；"
                                    "如已迁出，请联系该地解困办先办理迁出", place=where)
        elif household.id is not None and _pending_id(household, id_index):
            errors["id_number"] = _("该身份证号已有一项待确认的新增成员")
    return errors


def _pending_adds(household: Household) -> list[HouseholdChange]:
    return list(db.session.scalars(
        sa.select(HouseholdChange).where(HouseholdChange.household_id == household.id,
                                         HouseholdChange.kind == ADD_KIND,
                                         HouseholdChange.state == "pending")))


def _pending_head(household: Household, member: Member | None) -> bool:
    return member is None and any(c.after.get("relation") == "self"
                                  for c in _pending_adds(household))


def _pending_id(household: Household, id_index: str) -> bool:
    return any(c.after.get("id_index") == id_index for c in _pending_adds(household))


def form_values(m: Member) -> dict[str, Any]:
    """The edit form's initial values (the ID number is never sent back: blank keeps it)."""
    facts = member_facts(m)
    values = {k: v for k, v in facts.items() if k not in ID_FIELDS}
    values["disability_grade"] = str(m.disability_grade) if m.disability_grade else ""
    values["monthly_income"] = facts["monthly_income"] or ""
    values["boarding"] = "on" if m.boarding else ""
    return values

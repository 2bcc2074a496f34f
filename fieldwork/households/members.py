"""Family members over time: who joins (birth, marriage, moving in), who leaves (death,
moving out) and corrections of a member's facts -- each one a change of the file
(`households.changes`), so the history says who asked, why and who confirmed.

Adding or removing a member changes the household's per-capita income and so its
eligibility: the street office 复核s such a change (policy lines 57-67), so a community
worker's or a helper's add/leave waits as 待确认 until the street (or the county) confirms
it; the street or county records it directly. Corrections of a member's facts take effect
at once.

The head of the household (户主) is the current member with relation ``self``: one person,
one ID. ``Household.head_name`` is a cached display name this module keeps in step (lists,
search, the phones' pull and exports read it without loading members). ``members_count`` is
the number of current members, maintained here, and the per-capita income is recomputed
from it (`visits.income.refresh_per_capita`).

ID numbers are validated, then only their encrypted form, blind index and mask are kept:
no plain ID number ever enters a change's before/after."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.changes import (
    STREET,
    ChangeKind,
    parse_reason,
    pending_for,
    propose,
    register,
)
from fieldwork.households.constants import (
    DISABILITY_GRADES,
    DISABILITY_KINDS,
    EMPLOYMENT,
    ILLNESSES,
    LEAVE_REASON_LABELS,
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
from fieldwork.visits.services import refresh_per_capita

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


# ---------------------------------------------------------------- reading a member

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


def current_members(household: Household) -> list[Member]:
    return [m for m in household.members if m.current]


def head_of(household: Household) -> Member | None:
    """The current member with relation self (户主), if any."""
    return household.head


def age_on(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


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
    elif kind:
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
        head = head_of(household)
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


# ---------------------------------------------------------------- applying changes

def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _write(m: Member, after: Mapping[str, Any]) -> None:
    for f, value in after.items():
        if f in ("birth_date", "joined_on"):
            setattr(m, f, _date(value))
        elif f == "monthly_income":
            m.monthly_income = Decimal(value) if value is not None else None
        elif f == "note":
            m.health = value or ""
        elif f in FIELDS:
            setattr(m, f, value)


def refresh_household(household: Household) -> None:
    """After members changed: the count of current members, the head's cached name and
    the per-capita income that depends on the count."""
    household.members_count = len(current_members(household))
    head = head_of(household)
    if head is not None and household.head_name != head.name:
        household.head_name = head.name
    refresh_per_capita(household)


def _need(m: Member | None) -> Member:
    if m is None:
        raise FormError.of(_("请选择家庭成员"), "member")
    return m


def _snapshot_add(_hh: Household, _m: Member | None) -> dict[str, Any]:
    return {}


def _apply_add(household: Household, _m: Member | None, after: dict[str, Any]) -> Member:
    if after.get("relation") == "self" and head_of(household) is not None:
        raise FormError.conflict(_("本户已有户主；一户只能有一位户主"), "relation")
    if after.get("id_index"):
        taken = db.session.scalar(sa.select(Member.id).where(
            Member.id_index == after["id_index"], Member.left_on.is_(None)).limit(1))
        if taken is not None:
            raise FormError.conflict(_("该身份证号已是在册成员，不能重复登记"), "id_number")
    member = Member(household=household, household_id=household.id)
    _write(member, after)
    db.session.add(member)
    db.session.flush()
    refresh_household(household)
    return member


def _snapshot_leave(_hh: Household, m: Member | None) -> dict[str, Any]:
    m = _need(m)
    return {"left_on": m.left_on.isoformat() if m.left_on else None,
            "left_reason": m.left_reason or ""}


def _apply_leave(household: Household, m: Member | None, after: dict[str, Any]) -> None:
    m = _need(m)
    if not m.current:
        raise FormError.conflict(_("该成员已不在本户，请刷新页面"))
    m.left_on, m.left_reason = _date(after["left_on"]), after["left_reason"]
    refresh_household(household)


def _snapshot_edit(_hh: Household, m: Member | None) -> dict[str, Any]:
    m = _need(m)
    return member_facts(m)


def _apply_edit(household: Household, m: Member | None, after: dict[str, Any]) -> None:
    m = _need(m)
    if not m.current:
        raise FormError.conflict(_("该成员已不在本户，请刷新页面"))
    if after.get("relation") == "self":
        head = head_of(household)
        if head is not None and head is not m:
            raise FormError.conflict(_("本户已有户主；一户只能有一位户主"), "relation")
    _write(m, after)
    refresh_household(household)


MEMBER_ADD = register(ChangeKind(ADD_KIND, _l("新增家庭成员"), _snapshot_add, _apply_add,
                                 confirm_level=STREET))
MEMBER_LEAVE = register(ChangeKind(LEAVE_KIND, _l("家庭成员减少"), _snapshot_leave,
                                   _apply_leave, confirm_level=STREET))
MEMBER_EDIT = register(ChangeKind(EDIT_KIND, _l("修改成员信息"), _snapshot_edit, _apply_edit))


# ---------------------------------------------------------------- what the office pages do

# Who records member changes on the file (the helper's come from visits, via the phone).
OFFICE_ROLES = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER, roles.COUNTY_OFFICER)


def _office(user: User) -> None:
    if user.role not in OFFICE_ROLES:
        raise FormError.forbidden(_("您的角色不能修改家庭成员"))


def add_member(household: Household, user: User, form: Mapping[str, Any]) -> HouseholdChange:
    """A new member from the office form: applied if the user's office confirms such a
    change, else waiting for the street (待确认)."""
    _office(user)
    errors: dict[str, str] = {}
    try:
        reason = parse_reason(form.get("reason"))
    except FormError as exc:
        errors.update(exc.errors)
        reason = ""
    try:
        after = parse_member(form, household=household)
    except FormError as exc:
        raise FormError({**exc.errors, **errors}) from None
    if errors:
        raise FormError(errors)
    return propose(household, ADD_KIND, after, user=user, reason=reason)


def edit_member(member: Member, user: User, form: Mapping[str, Any]) -> HouseholdChange:
    _office(user)
    if not member.current:
        raise FormError.conflict(_("该成员已不在本户，请刷新页面"))
    after = parse_member(form, household=member.household, member=member)
    reason = parse_reason(form.get("reason"), required=False)
    return propose(member.household, EDIT_KIND, after, user=user,
                   reason=reason or _("更正成员信息"), member=member)


def record_leave(member: Member, user: User, form: Mapping[str, Any]) -> HouseholdChange:
    _office(user)
    after = parse_leave(form, member=member)
    reason = parse_reason(form.get("reason"), required=False)
    if any(c.kind == LEAVE_KIND and c.member_id == member.id
           for c in pending_for([member.household_id]).get(member.household_id, [])):
        raise FormError.conflict(_("该成员已有一项待确认的减少登记"))
    return propose(member.household, LEAVE_KIND, after, user=user,
                   reason=reason or str(LEAVE_REASON_LABELS[after["left_reason"]]), member=member)


# ---------------------------------------------------------------- the roster on the file

ELDERLY_AGE = 65  # free yearly check-up (policy line 117)
# 两癌 screening for women on 低保 (policy line 117); the policy gives no ages: 35-64 is the
# national programme's range (农村妇女"两癌"检查项目, 35-64岁).
SCREENING_AGES = (35, 64)
DIBAO_CATEGORIES = ("dibao_unemployed",)


@dataclass(frozen=True)
class Row:
    member: Member
    age: int | None
    elderly: bool
    screening: bool


def roster(household: Household, day: date) -> tuple[list[Row], list[Member]]:
    """Current members with age and the flags measures target; those who left, apart."""
    rows = []
    on_dibao = household.category in DIBAO_CATEGORIES
    for m in current_members(household):
        age = age_on(m.birth_date, day)
        rows.append(Row(m, age, elderly=age is not None and age >= ELDERLY_AGE,
                        screening=(on_dibao and m.gender == "female" and age is not None
                                   and SCREENING_AGES[0] <= age <= SCREENING_AGES[1])))
    left = sorted((m for m in household.members if not m.current),
                  key=lambda m: m.left_on or day, reverse=True)
    return rows, left


def pending_members(household: Household) -> list[HouseholdChange]:
    """Member changes waiting for the street or county (shown as 待确认 on the file)."""
    return [c for c in pending_for([household.id]).get(household.id, [])
            if c.kind in (ADD_KIND, LEAVE_KIND, EDIT_KIND)]


def form_values(m: Member) -> dict[str, Any]:
    """The edit form's initial values (the ID number is never sent back: blank keeps it)."""
    facts = member_facts(m)
    values = {k: v for k, v in facts.items() if k not in ID_FIELDS}
    values["disability_grade"] = str(m.disability_grade) if m.disability_grade else ""
    values["monthly_income"] = facts["monthly_income"] or ""
    values["boarding"] = "on" if m.boarding else ""
    return values

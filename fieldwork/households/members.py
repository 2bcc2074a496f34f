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

from collections.abc import Callable, Mapping
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
    REASON_MAX,
    STREET,
    ChangeKind,
    pending_for,
    propose,
    register,
)
from fieldwork.households.constants import LEAVE_REASON_LABELS
from fieldwork.households.member_forms import (
    ADD_KIND,
    EDIT_KIND,
    FIELDS,
    LEAVE_KIND,
    member_facts,
    parse_leave,
    parse_member,
)
from fieldwork.households.models import Household, HouseholdChange, Member
from fieldwork.records import parse_note
from fieldwork.visits.services import refresh_per_capita


def current_members(household: Household) -> list[Member]:
    return [m for m in household.members if m.current]


def head_of(household: Household) -> Member | None:
    """The current member with relation self (户主), if any."""
    return household.head


def age_on(birth: date | None, day: date) -> int | None:
    if birth is None:
        return None
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


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


def _reason(form: Mapping[str, Any], errors: dict[str, str], *, required: bool) -> str:
    return parse_note(form.get("reason"), "reason", errors, label=_("变更原因"),
                      max_length=REASON_MAX, required=_("请填写变更原因") if required else None)


def _parsed(parse: Callable[[], dict[str, Any]], errors: dict[str, str]) -> dict[str, Any]:
    """The form's `after`, every field message (the reason's too) in one refusal."""
    try:
        after = parse()
    except FormError as exc:
        if exc.status != 422:
            raise
        raise FormError({**exc.errors, **errors}) from None
    if errors:
        raise FormError(errors)
    return after


def add_member(household: Household, user: User, form: Mapping[str, Any]) -> HouseholdChange:
    """A new member from the office form: applied if the user's office confirms such a
    change, else waiting for the street (待确认)."""
    _office(user)
    errors: dict[str, str] = {}
    reason = _reason(form, errors, required=True)
    after = _parsed(lambda: parse_member(form, household=household), errors)
    return propose(household, ADD_KIND, after, user=user, reason=reason)


def edit_member(member: Member, user: User, form: Mapping[str, Any]) -> HouseholdChange:
    _office(user)
    if not member.current:
        raise FormError.conflict(_("该成员已不在本户，请刷新页面"))
    errors: dict[str, str] = {}
    reason = _reason(form, errors, required=False)
    after = _parsed(lambda: parse_member(form, household=member.household, member=member),
                    errors)
    return propose(member.household, EDIT_KIND, after, user=user,
                   reason=reason or _("更正成员信息"), member=member)


def record_leave(member: Member, user: User, form: Mapping[str, Any]) -> HouseholdChange:
    _office(user)
    errors: dict[str, str] = {}
    reason = _reason(form, errors, required=False)
    after = _parsed(lambda: parse_leave(form, member=member), errors)
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

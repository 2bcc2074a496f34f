"""Changes to a household's file after it was opened (动态管理), with their history.

Every change goes through `propose`: it records the value before and after, who asked and
why. A change that alters eligibility or the category needs the office the policy makes
responsible (policy lines 57-67: the street 复核s, the county 综合审核确认s); it waits as
`pending` until that office confirms or refuses it. The responsible office itself (or the
one above it) records such a change directly. Other changes take effect at once.

Each kind of change registers how it reads the current value (`snapshot`) and how it
applies a new one (`apply`); features own their kinds (members, household facts, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.dbtypes import utcnow
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.models import Household, HouseholdChange, Member
from fieldwork.records import parse_note

STREET, COUNTY = "street", "county"
REASON_MAX = 500

# Who confirms at each level: the responsible office and the ones above it in the county.
CONFIRMERS = {
    STREET: (roles.STREET_REVIEWER, roles.COUNTY_OFFICER),
    COUNTY: (roles.COUNTY_OFFICER,),
}
# Who may ask for a change to a file in their scope (a helper's come from visits).
PROPOSERS = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER, roles.COUNTY_OFFICER, roles.HELPER)


@dataclass(frozen=True)
class ChangeKind:
    """How one kind of change reads and writes the file."""

    name: str
    label: Any  # a lazy string
    # The current value, as the JSON-able dict stored in `before`.
    snapshot: Callable[[Household, Member | None], dict[str, Any]]
    # Write `after` into the file; may raise FormError when the file moved on meanwhile.
    # Returns the member it created, if any (the change then names it: member_add).
    apply: Callable[[Household, Member | None, dict[str, Any]], Member | None]
    # None: takes effect at once; STREET or COUNTY: that office confirms.
    confirm_level: str | None = None


KINDS: dict[str, ChangeKind] = {}


def register(kind: ChangeKind) -> ChangeKind:
    if kind.name in KINDS:
        raise ValueError(f"change kind {kind.name!r} registered twice")
    KINDS[kind.name] = kind
    return kind


def kind_label(name: str) -> str:
    kind = KINDS.get(name)
    return str(kind.label) if kind else name


def may_confirm(user: User, change: HouseholdChange) -> bool:
    """The user works for the office that confirms this change, for this household."""
    level = change.confirm_level
    if level is None or user.role not in CONFIRMERS.get(level, ()):
        return False
    hh = change.household
    if user.role == roles.COUNTY_OFFICER:
        return user.place_id == hh.county_id
    return user.place_id == hh.street_id


def parse_reason(raw: Any) -> str:
    errors: dict[str, str] = {}
    text = parse_note(raw, "reason", errors, label=_("变更原因"), max_length=REASON_MAX,
                      required=_("请填写变更原因"))
    if errors:
        raise FormError(errors)
    return text


def propose(household: Household, kind: str, after: dict[str, Any], *, user: User | None,
            reason: str, source: str = "office", member: Member | None = None,
            visit_id: str | None = None) -> HouseholdChange:
    """Record a change; apply it now unless the responsible office must confirm it.

    `after` holds already-validated values. The caller commits. A change that alters
    nothing is refused, so the history holds only real changes."""
    spec = KINDS[kind]
    if user is not None and user.role not in PROPOSERS:
        raise FormError.forbidden(_("您的角色不能修改家庭档案"))
    before = spec.snapshot(household, member)
    if before and all(before.get(k) == v for k, v in after.items()):
        raise FormError.of(_("没有任何改动"))
    change = HouseholdChange(
        household=household, household_id=household.id, kind=kind,
        member_id=member.id if member is not None else None, before=before, after=after,
        reason=reason, source=source, visit_id=visit_id, confirm_level=spec.confirm_level,
        requested_by_id=user.id if user is not None else None, state="pending",
    )
    db.session.add(change)
    if spec.confirm_level is None:
        _apply(change, spec, member, decided_by=None)
    elif user is not None and user.role != roles.HELPER and may_confirm(user, change):
        # The responsible office records it directly: it is its own confirmation.
        _apply(change, spec, member, decided_by=user)
    return change


def confirm(change: HouseholdChange, user: User, note: str = "") -> None:
    _check_decision(change, user)
    spec = KINDS[change.kind]
    member = db.session.get(Member, change.member_id) if change.member_id else None
    _apply(change, spec, member, decided_by=user)
    change.decision_note = note


def reject(change: HouseholdChange, user: User, note: str) -> None:
    _check_decision(change, user)
    if not note.strip():
        raise FormError.of(_("请填写不同意的理由"), "note")
    change.state, change.decided_by_id, change.decided_at = "rejected", user.id, utcnow()
    change.decision_note = note.strip()


def _check_decision(change: HouseholdChange, user: User) -> None:
    if change.state != "pending":
        raise FormError.conflict(_("该变更已处理，请刷新页面"))
    if not may_confirm(user, change):
        level = _l("县级解困办") if change.confirm_level == COUNTY else _l("街道(乡镇)解困办")
        raise FormError.forbidden(_("该变更须由%(office)s确认", office=level))


def _apply(change: HouseholdChange, spec: ChangeKind, member: Member | None,
           decided_by: User | None) -> None:
    created = spec.apply(change.household, member, change.after)
    if created is not None:
        change.member_id = created.id
    change.state = "applied"
    change.decided_at = utcnow()
    change.decided_by_id = decided_by.id if decided_by is not None else None
    change.household.version += 1


def pending_for(household_ids: list[int]) -> dict[int, list[HouseholdChange]]:
    """Open changes of these households, oldest first (one query)."""
    out: dict[int, list[HouseholdChange]] = {}
    if not household_ids:
        return out
    for c in db.session.scalars(
        sa.select(HouseholdChange)
        .where(HouseholdChange.household_id.in_(household_ids),
               HouseholdChange.state == "pending")
        .order_by(HouseholdChange.requested_at, HouseholdChange.id)
    ):
        out.setdefault(c.household_id, []).append(c)
    return out


def history(household: Household) -> list[HouseholdChange]:
    """Every change of the household, newest first."""
    return list(db.session.scalars(
        sa.select(HouseholdChange).where(HouseholdChange.household_id == household.id)
        .order_by(HouseholdChange.requested_at.desc(), HouseholdChange.id.desc())
    ))

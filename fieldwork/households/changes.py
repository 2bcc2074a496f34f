"""Changes to a household's file after it was opened (动态管理), with their history.

Every change goes through `propose`: it records the value before and after, who asked and
why. A change that alters eligibility or the category needs the office the policy makes
responsible (policy lines 57-67: the street 复核s, the county 综合审核确认s); it waits as
`pending` until that office confirms or refuses it. The responsible office itself (or the
one above it) records such a change directly. Other changes take effect at once.

Each kind of change registers how it reads the current value (`snapshot`), how it
applies a new one (`apply`) and how a value reads to a person (`describe`); features own
their kinds (members, household facts, ...). A kind whose confirming office depends on the
change itself (an address in another community) gives `level_for` instead of a fixed
`confirm_level`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.dbtypes import utcnow
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.models import Household, HouseholdChange, Member
from fieldwork.places.models import Place
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
    # The value (a `before` or `after` dict) as a person reads it; default: the values.
    describe: Callable[[dict[str, Any]], str] | None = None
    # When the office depends on the change: (household, before, after) -> level or None.
    level_for: Callable[[Household, dict[str, Any], dict[str, Any]], str | None] | None = None
    # A fact of the file itself: at most one change of it waits at a time, and one that waits
    # is confirmed only while the file still holds the value it was asked against.
    of_file: bool = False

    def level(self, household: Household, before: dict[str, Any],
              after: dict[str, Any]) -> str | None:
        if self.level_for is not None:
            return self.level_for(household, before, after)
        return self.confirm_level

    def text(self, value: dict[str, Any] | None) -> str:
        if not value:
            return "—"
        if self.describe is not None:
            return self.describe(value)
        return default_describe(value)


def default_describe(value: dict[str, Any]) -> str:
    """Values joined in their order, lists with 、 (no field names: they are code words)."""
    parts = []
    for v in value.values():
        if isinstance(v, list):
            parts.append("、".join(str(x) for x in v) or "—")
        elif v is None or v == "":
            parts.append("—")
        else:
            parts.append(str(v))
    return "；".join(parts)


KINDS: dict[str, ChangeKind] = {}


def register(kind: ChangeKind) -> ChangeKind:
    if kind.name in KINDS:
        raise ValueError(f"change kind {kind.name!r} registered twice")
    KINDS[kind.name] = kind
    return kind


def kind_label(name: str) -> str:
    kind = KINDS.get(name)
    return str(kind.label) if kind else name


def describe(change: HouseholdChange, which: str) -> str:
    """`before` or `after` of a change as a person reads it (unknown kinds: the values)."""
    value = change.before if which == "before" else change.after
    kind = KINDS.get(change.kind)
    if kind is None:
        return default_describe(value) if value else "—"
    return kind.text(value)


LEVEL_OFFICES = {STREET: _l("街道(乡镇)解困办"), COUNTY: _l("县级解困办")}


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
    if spec.of_file and db.session.scalar(
            sa.select(HouseholdChange.id).where(HouseholdChange.household_id == household.id,
                                                HouseholdChange.kind == kind,
                                                HouseholdChange.state == "pending").limit(1)):
        raise FormError.conflict(_("该户已有一项待确认的“%(kind)s”变更，请等确认后再提交",
                                   kind=spec.label))
    # Compared on the facts the file holds: notes that go with an `after` (an income's
    # basis) are not facts of the file.
    if before and all(after.get(k) == v for k, v in before.items()):
        raise FormError.of(_("没有任何改动"))
    change = HouseholdChange(
        household=household, household_id=household.id, kind=kind,
        member_id=member.id if member is not None else None, before=before, after=after,
        reason=reason, source=source, visit_id=visit_id,
        confirm_level=spec.level(household, before, after),
        requested_by_id=user.id if user is not None else None, state="pending",
    )
    db.session.add(change)
    if change.confirm_level is None:
        _apply(change, spec, member, decided_by=None)
    elif user is not None and user.role != roles.HELPER and may_confirm(user, change):
        # The responsible office records it directly: it is its own confirmation.
        _apply(change, spec, member, decided_by=user)
    else:
        # Pending: the file is unchanged, but what the phone shows of it (待确认) is not.
        household.version += 1
    return change


def confirm(change: HouseholdChange, user: User, note: str = "") -> None:
    check_decision(change, user)
    spec = KINDS[change.kind]
    member = db.session.get(Member, change.member_id) if change.member_id else None
    if spec.of_file and spec.snapshot(change.household, member) != change.before:
        raise FormError.conflict(_("提交后档案的“%(kind)s”已有其他变更，请退回此项后重新提交",
                                   kind=spec.label))
    _apply(change, spec, member, decided_by=user)
    change.decision_note = _note(note)


def reject(change: HouseholdChange, user: User, note: str) -> None:
    check_decision(change, user)
    text = _note(note)
    if not text:
        raise FormError.of(_("请填写不同意的理由"), "note")
    change.state, change.decided_by_id, change.decided_at = "rejected", user.id, utcnow()
    change.decision_note = text
    change.household.version += 1  # the phone's 待确认 goes


def decide(change: HouseholdChange, user: User, form: Any) -> HouseholdChange:
    """The confirming office's answer from a form: decision confirm|reject and a note."""
    decision = form.get("decision", "")
    if decision == "confirm":
        confirm(change, user, form.get("note", "") or "")
    elif decision == "reject":
        reject(change, user, form.get("note", "") or "")
    else:
        check_decision(change, user)
        raise FormError.of(_("请选择同意或不同意"), "decision")
    return change


def _note(raw: Any) -> str:
    errors: dict[str, str] = {}
    text = parse_note(raw, "note", errors, label=_("意见"), max_length=REASON_MAX)
    if errors:
        raise FormError(errors)
    return text


def check_decision(change: HouseholdChange, user: User) -> None:
    """Refuse (409) a change already decided, (403) a user whose office is not the one."""
    if change.state != "pending":
        raise FormError.conflict(_("该变更已处理，请刷新页面"))
    if not may_confirm(user, change):
        office = LEVEL_OFFICES.get(change.confirm_level or "", _l("县级解困办"))
        raise FormError.forbidden(_("该变更须由%(office)s确认", office=office))


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


def confirmable_clause(user: User) -> sa.ColumnElement[bool]:
    """Pending changes this user's office confirms, as a WHERE clause (joined to Household)."""
    if user.role == roles.COUNTY_OFFICER:
        return sa.and_(HouseholdChange.state == "pending",
                       HouseholdChange.confirm_level.in_((STREET, COUNTY)),
                       Household.county_id == user.place_id)
    if user.role == roles.STREET_REVIEWER:
        return sa.and_(HouseholdChange.state == "pending",
                       HouseholdChange.confirm_level == STREET,
                       Household.street_id == user.place_id)
    return sa.false()


def queue(user: User) -> list[HouseholdChange]:
    """What waits for this user's confirmation, oldest first (one query)."""
    return list(db.session.scalars(
        sa.select(HouseholdChange).join(Household, Household.id == HouseholdChange.household_id)
        .where(confirmable_clause(user))
        .options(orm.contains_eager(HouseholdChange.household),
                 orm.joinedload(HouseholdChange.requested_by))
        .order_by(HouseholdChange.requested_at, HouseholdChange.id)
    ))


def get_change(household: Household, change_id: int) -> HouseholdChange | None:
    change = db.session.get(HouseholdChange, change_id)
    return change if change is not None and change.household_id == household.id else None


def place_in_county(household: Household, place_id: Any) -> Place | None:
    """A community of the household's county, or None (the caller reports the error)."""
    try:
        pid = int(place_id)
    except (TypeError, ValueError):
        return None
    place = db.session.get(Place, pid)
    if place is None or place.level != "community" or place.county_id() != household.county_id:
        return None
    return place


def county_communities(household: Household) -> list[Place]:
    """The communities a household may move to: those of its county."""
    county = db.session.get(Place, household.county_id)
    if county is None:
        return []
    return list(db.session.scalars(
        sa.select(Place).where(Place.level == "community",
                               Place.path.startswith(county.path, autoescape=True))
        .order_by(Place.code).limit(2000)))


def history(household: Household) -> list[HouseholdChange]:
    """Every change of the household, newest first."""
    return list(db.session.scalars(
        sa.select(HouseholdChange).where(HouseholdChange.household_id == household.id)
        .options(orm.joinedload(HouseholdChange.requested_by),
                 orm.joinedload(HouseholdChange.decided_by))
        .order_by(HouseholdChange.requested_at.desc(), HouseholdChange.id.desc())
    ))

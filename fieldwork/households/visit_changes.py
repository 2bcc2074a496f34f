"""Member changes a helper reports on a visit (家庭成员变化: born, died, moved out, moved in)
become pending changes of the household's file (`households.changes`) that the street office
confirms (policy lines 57-67: the street 复核s what alters per-capita income, i.e.
eligibility). A helper never changes the file directly: the member appears or leaves only
once the office confirms.

The sync API calls `propose_from_visit` inside the savepoint that stores a new visit
(`visits.services.record_visit(on_created=...)`), so a repeated push of the same visit
proposes nothing twice; nor does a correction (`supersedes`) re-sending what the visit it
corrects already reported. The entries were validated by `visits.form.validate_member_changes`;
no ID number is typed on the phone: the office adds it when it confirms or later."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.members import ADD_KIND, FIELDS, LEAVE_KIND
from fieldwork.households.models import Household, HouseholdChange, Member
from fieldwork.timeutil import local
from fieldwork.visits.form import MEMBER_CHANGE_LABELS
from fieldwork.visits.models import Visit

LEAVE_REASON = {"death": "died", "move_out": "moved_out"}


def new_member_after(entry: dict[str, Any]) -> dict[str, Any]:
    """The member_add `after` of a birth or a move-in (members.FIELDS), without an ID."""
    after: dict[str, Any] = dict.fromkeys(FIELDS)
    after.update(
        name=entry["name"], relation=entry["relation"], gender=entry.get("gender") or None,
        birth_date=entry["birth_date"],
        # A newborn belongs to the household from birth; a newcomer from the day they came.
        joined_on=entry["birth_date"] if entry["kind"] == "birth" else entry["date"],
        illness="", disability_kind="", disability_grade=None, schooling_stage="",
        boarding=False, employment_status="", monthly_income=None,
        note=entry.get("note") or "",
    )
    return after


def _key(entry: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two reports of a member change the same report."""
    if entry["kind"] in LEAVE_REASON:
        return ("leave", entry["member_id"])
    return ("add", entry["name"], entry["birth_date"])


def _reported_before(visit: Visit) -> set[tuple[Any, ...]]:
    """The member changes the visit this one corrects (`supersedes`) already proposed: a
    correction re-sends the whole survey, and must not report the same birth twice."""
    if not visit.supersedes_id:
        return set()
    out: set[tuple[Any, ...]] = set()
    for c in db.session.scalars(sa.select(HouseholdChange).where(
            HouseholdChange.visit_id == visit.supersedes_id)):
        if c.kind == LEAVE_KIND:
            out.add(("leave", c.member_id))
        elif c.kind == ADD_KIND:
            out.add(("add", c.after.get("name"), c.after.get("birth_date")))
    return out


def _reason(visit: Visit, entry: dict[str, Any]) -> str:
    return _("走访时登记（%(kind)s），走访日期 %(day)s",
             kind=str(MEMBER_CHANGE_LABELS[entry["kind"]]),
             day=local(visit.visited_at).date().isoformat())


def propose_from_visit(visit: Visit, household: Household, *,
                       user: User) -> list[HouseholdChange]:
    """One pending change per entry of the visit's `member_changes`. A death or move-out of
    a member who already left, or whose leaving already waits for confirmation, is known to
    the office: nothing is proposed twice."""
    entries = (visit.answers or {}).get("member_changes") or []
    if not entries:
        return []
    pending_leave = {c.member_id for c in changes.pending_for([household.id]).get(household.id, [])
                     if c.kind == LEAVE_KIND}
    already = _reported_before(visit)
    out: list[HouseholdChange] = []
    for entry in entries:
        if _key(entry) in already:
            continue
        if entry["kind"] in LEAVE_REASON:
            member = db.session.get(Member, entry["member_id"])
            if member is None or member.household_id != household.id or not member.current \
                    or member.id in pending_leave:
                continue
            pending_leave.add(member.id)
            out.append(changes.propose(
                household, LEAVE_KIND,
                {"left_on": entry["date"], "left_reason": LEAVE_REASON[entry["kind"]]},
                user=user, reason=_reason(visit, entry), source="visit", member=member,
                visit_id=visit.id))
        else:
            out.append(changes.propose(
                household, ADD_KIND, new_member_after(entry), user=user,
                reason=_reason(visit, entry), source="visit", visit_id=visit.id))
    return out

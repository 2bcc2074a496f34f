"""What waits for whom: cases to decide, entries to correct, publicity running and ready,
and new discovery reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from fieldwork.access import roles
from fieldwork.access.scope import household_clause
from fieldwork.accounts.models import User
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db
from fieldwork.households.intake.publicity import enrol_blockers
from fieldwork.households.intake.steps import (
    CHAINS,
    COMMUNITY_REVIEW,
    COUNTY_CONFIRM,
    LEAD_SOURCES,
    PUBLICITY,
    STREET_REVIEW,
    awaiting_clause,
    department_channel,
)
from fieldwork.households.models import (
    Case,
    Household,
    Objection,
)
from fieldwork.places.models import Place
from fieldwork.timeutil import local, today_local

# ---------------------------------------------------------------- queues

@dataclass
class QueueRow:
    case: Case
    household: Household
    days_waiting: int
    open_objections: int = 0
    blockers: list[str] = field(default_factory=list)


def _days_since(when: datetime, today: date) -> int:
    return max(0, (today - local(when).date()).days)


def _decide_clause(user: User) -> sa.ColumnElement[bool] | None:
    """Cases at a step the user holds (SQL form of holds_step for the case's stage)."""
    if user.role == roles.COMMUNITY_WORKER:
        return sa.and_(Case.stage == COMMUNITY_REVIEW, Household.place_id == user.place_id)
    if user.role == roles.STREET_REVIEWER:
        return sa.and_(Case.stage == STREET_REVIEW, Household.street_id == user.place_id)
    if user.role == roles.COUNTY_OFFICER:
        return sa.and_(Case.stage == COUNTY_CONFIRM, Household.county_id == user.place_id)
    channel = department_channel(user)
    if channel is not None:
        return sa.and_(Case.stage == CHAINS[channel][0], Case.channel == channel,
                       Case.organisation == user.organisation,
                       Household.county_id == user.place_id)
    return None


def _correct_clause(user: User) -> sa.ColumnElement[bool] | None:
    if user.role == roles.COUNTY_OFFICER:
        return sa.and_(Case.stage == STREET_REVIEW, Case.source.in_(LEAD_SOURCES),
                       Household.county_id == user.place_id)
    if user.role == roles.STREET_REVIEWER:
        return None
    return _decide_clause(user)


def _open_cases(user: User, clause: sa.ColumnElement[bool]) -> sa.Select[Case]:
    return (sa.select(Case).join(Household, Case.household_id == Household.id)
            .where(Case.kind == "intake", Case.state == "open", clause,
                   household_clause(user)))


def _rows(cases: Sequence[Case], today: date) -> list[QueueRow]:
    return [QueueRow(c, c.household, _days_since(c.stage_since, today)) for c in cases]


def queue(user: User, today: date | None = None) -> list[QueueRow]:
    """Cases waiting for the user's decision, oldest first."""
    clause = _decide_clause(user)
    if clause is None:
        return []
    cases = db.session.scalars(_open_cases(user, sa.and_(clause, ~awaiting_clause()))
                               .order_by(Case.stage_since, Case.id))
    return _rows(list(cases), today or today_local())


def returned_for_correction(user: User, today: date | None = None) -> list[QueueRow]:
    """Cases returned to the user's office for correction (退回补正)."""
    clause = _correct_clause(user)
    if clause is None:
        return []
    cases = db.session.scalars(_open_cases(user, sa.and_(clause, awaiting_clause()))
                               .order_by(Case.stage_since, Case.id))
    return _rows(list(cases), today or today_local())


def publicity_rows(user: User, today: date | None = None) -> tuple[list[QueueRow],
                                                                    list[QueueRow]]:
    """The county office's cases in publicity: (still running or blocked, ready to enrol)."""
    if user.role != roles.COUNTY_OFFICER:
        return [], []
    today = today or today_local()
    cases = list(db.session.scalars(_open_cases(user, sa.and_(
        Case.stage == PUBLICITY, Household.county_id == user.place_id))
        .order_by(Case.publicity_ends_on, Case.id)))
    counts = dict(db.session.execute(
        sa.select(Objection.case_id, sa.func.count()).where(
            Objection.case_id.in_([c.id for c in cases]), Objection.upheld.is_(None))
        .group_by(Objection.case_id)).all()) if cases else {}
    running: list[QueueRow] = []
    ready: list[QueueRow] = []
    for c in cases:
        row = QueueRow(c, c.household, _days_since(c.stage_since, today),
                       open_objections=counts.get(c.id, 0), blockers=enrol_blockers(c, today))
        (running if row.blockers else ready).append(row)
    return running, ready


def reports_waiting(user: User) -> list[DiscoveryReport]:
    """New discovery reports of the user's area, waiting to be turned into cases (oldest
    first). The county office sees the leads it entered itself; community reports are the
    community's and the street's to take up."""
    if user.role not in roles.REPORTERS:
        return []
    q = (sa.select(DiscoveryReport).join(Place, DiscoveryReport.place_id == Place.id)
         .where(DiscoveryReport.status == "new",
                Place.path.startswith(user.place.path, autoescape=True)))
    if user.role == roles.COUNTY_OFFICER:
        q = q.where(DiscoveryReport.source.in_(LEAD_SOURCES))
    return list(db.session.scalars(q.order_by(DiscoveryReport.reported_at)
                                   .limit(500)))

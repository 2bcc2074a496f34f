"""Registry queries: visit state per household and month, counts for the place tree."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from fieldwork.access.validity import valid_visit_clause
from fieldwork.extensions import db
from fieldwork.households.constants import DIMENSIONS
from fieldwork.households.models import Household
from fieldwork.places.models import Place
from fieldwork.timeutil import add_months, month_of_date
from fieldwork.visits.models import Visit

VISITED, DUE, OVERDUE = "visited", "due", "overdue"



def visit_counts(household_ids: Iterable[int], months: Iterable[int]) -> dict[tuple[int, int], int]:
    """Valid visits per (household id, month)."""
    ids, months = list(household_ids), list(months)
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Visit.household_id, Visit.month, sa.func.count())
        .where(Visit.household_id.in_(ids), Visit.month.in_(months), valid_visit_clause())
        .group_by(Visit.household_id, Visit.month)
    )
    return {(hid, month): n for hid, month, n in rows}


@dataclass(frozen=True)
class MonthState:
    state: str  # visited | due | overdue
    visits: int
    required: int


def month_state(counts: dict[tuple[int, int], int], household_id: int, month: int,
                required: int, enrolled_on: date | None = None) -> MonthState:
    """Visited when the month has the required valid visits; overdue when the previous month
    was missed too (and the household was already enrolled then); otherwise due."""
    n = counts.get((household_id, month), 0)
    if n >= required:
        return MonthState(VISITED, n, required)
    new_this_month = enrolled_on is not None and month_of_date(enrolled_on) >= month
    if not new_this_month and counts.get((household_id, add_months(month, -1)), 0) < required:
        return MonthState(OVERDUE, n, required)
    return MonthState(DUE, n, required)


def counts_by_child(parent: Place, statuses: tuple[str, ...], month: int,
                    scope: sa.ColumnElement[bool]) -> dict[int, dict[str, int]]:
    """For each child place of parent: households in the given statuses and those visited
    in the month (at least one valid visit), within the user's scope."""
    column = {"city": Household.county_id, "county": Household.street_id,
              "street": Household.place_id}.get(parent.level)
    if column is None:
        return {}
    visited = (
        sa.select(Visit.household_id).where(Visit.month == month, valid_visit_clause())
        .distinct().subquery()
    )
    rows = db.session.execute(
        sa.select(column, sa.func.count(Household.id), sa.func.count(visited.c.household_id))
        .outerjoin(visited, visited.c.household_id == Household.id)
        .where(Household.status.in_(statuses), scope)
        .group_by(column)
    )
    out: dict[int, dict[str, int]] = defaultdict(lambda: {"households": 0, "visited": 0})
    for pid, total, seen in rows:
        if pid is not None:
            out[pid] = {"households": total, "visited": seen}
    return out


def latest_visits(household_ids: Iterable[int]) -> dict[int, Visit]:
    """The latest valid visit of each household (one query)."""
    ids = list(household_ids)
    if not ids:
        return {}
    ranked = (
        sa.select(Visit.id, sa.func.row_number().over(
            partition_by=Visit.household_id,
            order_by=(Visit.visited_at.desc(), Visit.id.desc())).label("rn"))
        .where(Visit.household_id.in_(ids), valid_visit_clause())
        .subquery()
    )
    visits = db.session.scalars(
        sa.select(Visit).join(ranked, ranked.c.id == Visit.id).where(ranked.c.rn == 1)
    )
    return {v.household_id: v for v in visits}


def open_problems(visit: Visit | None) -> list[str]:
    """Dimensions the last visit found at risk or in difficulty."""
    if visit is None:
        return []

    return [d for d in DIMENSIONS if visit.answers.get(f"{d}_status") in ("at_risk", "problem")]

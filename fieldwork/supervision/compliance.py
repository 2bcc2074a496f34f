"""Visit compliance (督导考评): who was due a visit in a month, who got a valid one, and who is
overdue, rolled up the place tree and by helper, in a few grouped queries (never one per row).

Rules:
- due in month M: the household was enrolled at some point of M (enrolled_on ≤ last day of M,
  and not exited before M began);
- visited: at least `visits_per_month` valid visits in M (valid = not rejected in review, not
  superseded by a correction); flagged visits count until a reviewer rejects them;
- overdue: due, not visited, and either M has ended or the household was not visited in M-1
  either (the current month is still running);
- attribution: the month belongs to the helper whose assignment was in force at the end of M
  (or, if none was, the last assignment that overlapped M).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.extensions import db
from fieldwork.households.models import Assignment, Household
from fieldwork.places.models import Place, PolicySettings
from fieldwork.timeutil import add_months, current_month, month_first_day, month_last_day
from fieldwork.visits.models import Visit

LEVEL_COLUMN = {"county": Household.county_id, "street": Household.street_id,
                "community": Household.place_id}
CHILD_LEVEL = {"city": "county", "county": "street", "street": "community",
               "community": "helper"}


@dataclass
class Counts:
    due: int = 0
    visited: int = 0
    overdue: int = 0
    flagged: int = 0  # valid visits in the month that carry at least one flag
    visits: int = 0  # valid visits in the month

    @property
    def not_visited(self) -> int:
        return self.due - self.visited

    @property
    def rate(self) -> float | None:
        return round(100 * self.visited / self.due, 1) if self.due else None

    def add(self, other: Counts) -> None:
        self.due += other.due
        self.visited += other.visited
        self.overdue += other.overdue
        self.flagged += other.flagged
        self.visits += other.visits


@dataclass
class Row:
    key: int | None
    name: str
    level: str
    counts: Counts = field(default_factory=Counts)


def due_clause(month: int) -> ColumnElement[bool]:
    first, last = month_first_day(month), month_last_day(month)
    return sa.and_(
        Household.enrolled_on.is_not(None),
        Household.enrolled_on <= last,
        sa.or_(Household.exited_on.is_(None), Household.exited_on >= first),
        Household.status.in_(("enrolled", "exited")),
    )


def valid_visit_clause() -> ColumnElement[bool]:
    return sa.and_(Visit.review_status != "rejected", Visit.superseded.is_(False))


def _required_case() -> sa.ColumnElement[int]:
    """visits_per_month of the household's county (1 where the county set none)."""
    return sa.func.coalesce(
        sa.select(PolicySettings.visits_per_month)
        .where(PolicySettings.place_id == Household.county_id)
        .scalar_subquery(),
        1,
    )


def responsible_helper(month: int) -> sa.Subquery:
    """(household_id, helper_id) of the assignment the month is attributed to."""
    first, last = month_first_day(month), month_last_day(month)
    ranked = (
        sa.select(
            Assignment.household_id,
            Assignment.helper_id,
            sa.func.row_number().over(
                partition_by=Assignment.household_id,
                order_by=(Assignment.start_date.desc(), Assignment.id.desc()),
            ).label("rn"),
        )
        .where(Assignment.start_date <= last,
               sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= first))
        .subquery()
    )
    return sa.select(ranked.c.household_id, ranked.c.helper_id).where(ranked.c.rn == 1).subquery()


def _visit_counts(month: int) -> sa.Subquery:
    return (
        sa.select(
            Visit.household_id.label("household_id"),
            sa.func.count().label("n"),
            sa.func.sum(sa.case((Visit.flag_count > 0, 1), else_=0)).label("flagged"),
        )
        .where(Visit.month == month, valid_visit_clause())
        .group_by(Visit.household_id)
        .subquery()
    )


def household_month_rows(scope: ColumnElement[bool], month: int,
                         extra: ColumnElement[bool] | None = None) -> sa.Select:
    """One row per due household of the scope: its ids, visit count and previous-month count,
    attributed helper. The building block of every figure on the dashboard."""
    this = _visit_counts(month)
    prev = _visit_counts(add_months(month, -1))
    helper = responsible_helper(month)
    required = _required_case()
    query = (
        sa.select(
            Household.id.label("household_id"),
            Household.county_id, Household.street_id, Household.place_id,
            helper.c.helper_id,
            sa.func.coalesce(this.c.n, 0).label("n"),
            sa.func.coalesce(this.c.flagged, 0).label("flagged"),
            sa.func.coalesce(prev.c.n, 0).label("prev_n"),
            required.label("required"),
        )
        .outerjoin(this, this.c.household_id == Household.id)
        .outerjoin(prev, prev.c.household_id == Household.id)
        .outerjoin(helper, helper.c.household_id == Household.id)
        .where(scope, due_clause(month))
    )
    if extra is not None:
        query = query.where(extra)
    return query


def _aggregate(rows: sa.Subquery, month: int, group: list[sa.ColumnElement]) -> sa.Select:
    ended = month < current_month()
    visited = rows.c.n >= rows.c.required
    overdue = sa.and_(sa.not_(visited), sa.true() if ended else rows.c.prev_n < rows.c.required)
    return sa.select(
        *group,
        sa.func.count().label("due"),
        sa.func.sum(sa.case((visited, 1), else_=0)).label("visited"),
        sa.func.sum(sa.case((overdue, 1), else_=0)).label("overdue"),
        sa.func.sum(rows.c.flagged).label("flagged"),
        sa.func.sum(rows.c.n).label("visits"),
    ).group_by(*group)


def _counts(r) -> Counts:
    return Counts(due=r.due or 0, visited=int(r.visited or 0), overdue=int(r.overdue or 0),
                  flagged=int(r.flagged or 0), visits=int(r.visits or 0))


def totals(scope: ColumnElement[bool], month: int,
           extra: ColumnElement[bool] | None = None) -> Counts:
    rows = household_month_rows(scope, month, extra).subquery()
    r = db.session.execute(_aggregate(rows, month, [])).one_or_none()
    return _counts(r) if r is not None and r.due else Counts()


def breakdown(place: Place, scope: ColumnElement[bool], month: int) -> list[Row]:
    """The children of place (or its helpers, for a community) with their counts."""
    from fieldwork.accounts.models import User

    child = CHILD_LEVEL[place.level]
    if child == "helper":
        rows = household_month_rows(scope, month, Household.place_id == place.id).subquery()
        result = db.session.execute(_aggregate(rows, month, [rows.c.helper_id]))
        by_helper = {r.helper_id: _counts(r) for r in result}
        names = dict(db.session.execute(
            sa.select(User.id, sa.func.coalesce(sa.func.nullif(User.display_name, ""),
                                                User.username))
            .where(User.id.in_([k for k in by_helper if k is not None]))).all())
        out = [Row(k, names.get(k, "—") if k else "未指定帮扶责任人", "helper", c)
               for k, c in by_helper.items()]
        return sorted(out, key=lambda r: (r.counts.rate if r.counts.rate is not None else 101,
                                          r.name))
    column_name = {"county": "county_id", "street": "street_id", "community": "place_id"}[child]
    parent_filter = {
        "city": sa.true(),
        "county": Household.county_id == place.id,
        "street": Household.street_id == place.id,
    }[place.level]
    rows = household_month_rows(scope, month, parent_filter).subquery()
    col = rows.c[column_name]
    by_place = {r[0]: _counts(r) for r in db.session.execute(_aggregate(rows, month, [col]))}
    children = db.session.scalars(
        sa.select(Place).where(Place.parent_id == place.id).order_by(Place.code))
    return [Row(p.id, p.name, child, by_place.get(p.id, Counts())) for p in children]


def helper_rows(scope: ColumnElement[bool], month: int) -> list[Row]:
    """Every helper with households due in scope, for the bar chart and ranking."""
    from fieldwork.accounts.models import User

    rows = household_month_rows(scope, month).subquery()
    result = {r.helper_id: _counts(r)
              for r in db.session.execute(_aggregate(rows, month, [rows.c.helper_id]))}
    names = dict(db.session.execute(sa.select(User.id, User.display_name).where(
        User.id.in_([k for k in result if k is not None]))).all())
    return [Row(k, names.get(k) or "未指定帮扶责任人", "helper", c) for k, c in result.items()]


def trend(scope: ColumnElement[bool], month: int, months: int = 12) -> list[tuple[int, Counts]]:
    """Compliance of the scope for each of the months ending with month."""
    return [(m, totals(scope, m)) for m in (add_months(month, -i) for i in range(months - 1, -1, -1))]


def overdue_households(scope: ColumnElement[bool], month: int, limit: int = 200):
    """Due households without the required visit: (household, helper_id, last visit date)."""
    rows = household_month_rows(scope, month).subquery()
    ended = month < current_month()
    condition = rows.c.n < rows.c.required
    if not ended:
        condition = sa.and_(condition, rows.c.prev_n < rows.c.required)
    last_visit = (
        sa.select(sa.func.max(Visit.visited_at)).where(
            Visit.household_id == rows.c.household_id, valid_visit_clause(),
            Visit.month <= month)
        .scalar_subquery()
    )
    query = (
        sa.select(Household, rows.c.helper_id, last_visit.label("last_visit"))
        .join(rows, rows.c.household_id == Household.id)
        .where(condition)
        .order_by(last_visit.asc().nulls_first(), Household.id)
        .limit(limit)
    )
    return db.session.execute(query).all()


def as_of(month: int) -> date:
    return month_last_day(month)

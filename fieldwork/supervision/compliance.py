"""Visit compliance (督导考评): who was due a visit in a month, who got a valid one, and who is
overdue, rolled up the place tree and by helper, in a few grouped queries (never one per row).

Rules:
- due in month M: the household was enrolled at some point of M (enrolled_on ≤ last day of M)
  and still in the programme after M's first day: an exit dated the 1st or earlier means not
  due in M; an exit later in M leaves M due (the helper had days to visit) and no month after
  it (docs/exit.md "Visits after an exit");
- visited: at least `visits_per_month` valid visits in M (valid = not rejected in review, not
  superseded by a correction); flagged visits count until a reviewer rejects them;
- overdue: due, not visited, and either M has ended or (M still running) the household was
  enrolled before M and not visited in M-1 either — the same rule as the helper's list
  (households.services.month_state);
- attribution: the month belongs to the helper whose assignment was in force at the end of M
  (or, if none was, the last assignment that overlapped M).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access.validity import valid_visit_clause
from fieldwork.accounts.models import User
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
        sa.or_(Household.exited_on.is_(None), Household.exited_on > first),
        Household.status.in_(("enrolled", "exited")),
    )


def responsible_helper(month: int, household_id: sa.SQLColumnExpression[int]) -> sa.ScalarSelect:
    """The helper the month is attributed to, for the household whose id is household_id (a
    column of the enclosing query): a correlated subquery that seeks the household's own
    assignments on ix_assignments_household_start, so its cost follows the scope's size.

    Not a window function ranking every assignment of the month, and not one restricted by
    `household_id IN (scope)`: on SQLite the latter is re-evaluated for every household and
    turned the county dashboard's overdue list from 0.7 s into 277 s (issue 18; the query-work
    guard in tests/supervision/test_query_work.py keeps it from coming back)."""
    first, last = month_first_day(month), month_last_day(month)
    return (
        sa.select(Assignment.helper_id)
        .where(Assignment.household_id == household_id,
               Assignment.start_date <= last,
               sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= first))
        # In force at the end of the month first, then the latest to start: with overlapping
        # assignments (a temporary stand-in) the one holding the household when the month
        # closes is responsible, as the rule says.
        .order_by(sa.case((sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= last),
                           0), else_=1),
                  Assignment.start_date.desc(), Assignment.id.desc())
        .limit(1)
        .correlate_except(Assignment)
        .scalar_subquery()
    )


def household_month_rows(scope: ColumnElement[bool], month: int,
                         extra: ColumnElement[bool] | None = None, *,
                         with_helper: bool = True) -> sa.Select:
    """One row per due household of the scope: its ids, visit count and previous-month count,
    attributed helper. The building block of every figure on the dashboard. Figures by place
    leave the helper out (with_helper=False): working out who was responsible is one index
    seek per household, not needed there."""
    prev_month = add_months(month, -1)
    # The household's own visits of this month and the one before, joined from the scope's
    # households (an index seek per household on ix_visits_household_month, which covers the
    # columns read), rather than counting every visit of the city and joining afterwards.
    this_month = Visit.month == month
    enrolled_before = (Household.enrolled_on < month_first_day(month)).label("enrolled_before")
    required = sa.func.coalesce(PolicySettings.visits_per_month, 1).label("required")
    helper_col = responsible_helper(month, Household.id) if with_helper else sa.null()
    query = (
        sa.select(
            Household.id.label("household_id"),
            Household.county_id, Household.street_id, Household.place_id,
            helper_col.label("helper_id"),
            sa.func.coalesce(sa.func.sum(sa.case((this_month, 1), else_=0)), 0).label("n"),
            sa.func.coalesce(sa.func.sum(sa.case(
                (sa.and_(this_month, Visit.flag_count > 0), 1), else_=0)), 0).label("flagged"),
            sa.func.coalesce(sa.func.sum(sa.case((Visit.month == prev_month, 1), else_=0)),
                             0).label("prev_n"),
            # Enrolled before the month (a household enrolled during it is not overdue before
            # the month is out). A plain range test, so PostgreSQL estimates it from statistics.
            enrolled_before,
            required,
        )
        .outerjoin(Visit, sa.and_(Visit.household_id == Household.id,
                                  Visit.month.in_((month, prev_month)), valid_visit_clause()))
        .outerjoin(PolicySettings, PolicySettings.place_id == Household.county_id)
        .where(scope, due_clause(month))
        .group_by(Household.id, Household.county_id, Household.street_id, Household.place_id,
                  Household.enrolled_on, PolicySettings.visits_per_month)
    )
    if extra is not None:
        query = query.where(extra)
    return query


def _missed_before(rows: sa.Subquery) -> ColumnElement[bool]:
    """In a running month: the household was enrolled before it and missed last month too."""
    return sa.and_(rows.c.enrolled_before, rows.c.prev_n < rows.c.required)


def _aggregate(rows: sa.Subquery, month: int, group: list[sa.ColumnElement]) -> sa.Select:
    ended = month < current_month()
    visited = rows.c.n >= rows.c.required
    overdue = sa.and_(sa.not_(visited), sa.true() if ended else _missed_before(rows))
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
    rows = household_month_rows(scope, month, extra, with_helper=False).subquery()
    r = db.session.execute(_aggregate(rows, month, [])).one_or_none()
    return _counts(r) if r is not None and r.due else Counts()


def _helper_names(ids) -> dict[int, str]:
    """Display name (or user name, when none was set) of each helper id."""
    wanted = [k for k in ids if k is not None]
    if not wanted:
        return {}
    return dict(db.session.execute(
        sa.select(User.id, sa.func.coalesce(sa.func.nullif(User.display_name, ""),
                                            User.username))
        .where(User.id.in_(wanted))).all())


def _helper_label(helper_id: int | None, names: dict[int, str]) -> str:
    if helper_id is None:
        return _("未指定帮扶责任人")
    return names.get(helper_id, "—")


def breakdown(place: Place, scope: ColumnElement[bool], month: int) -> list[Row]:
    """The children of place (or its helpers, for a community) with their counts.

    Households filed directly at place (not at one of its children) are gathered in one
    extra row (key None), so the rows always add up to the place's totals."""
    child = CHILD_LEVEL[place.level]
    if child == "helper":
        rows = household_month_rows(scope, month, Household.place_id == place.id).subquery()
        result = db.session.execute(_aggregate(rows, month, [rows.c.helper_id]))
        by_helper = {r.helper_id: _counts(r) for r in result}
        names = _helper_names(by_helper)
        out = [Row(k, _helper_label(k, names), "helper", c) for k, c in by_helper.items()]
        return sorted(out, key=lambda r: (r.counts.rate if r.counts.rate is not None else 101,
                                          r.name))
    column_name = {"county": "county_id", "street": "street_id", "community": "place_id"}[child]
    parent_filter = {
        "city": sa.true(),
        "county": Household.county_id == place.id,
        "street": Household.street_id == place.id,
    }[place.level]
    rows = household_month_rows(scope, month, parent_filter, with_helper=False).subquery()
    col = rows.c[column_name]
    by_place = {r[0]: _counts(r) for r in db.session.execute(_aggregate(rows, month, [col]))}
    children = list(db.session.scalars(
        sa.select(Place).where(Place.parent_id == place.id).order_by(Place.code)))
    out = [Row(p.id, p.name, child, by_place.pop(p.id, Counts())) for p in children]
    if by_place:
        direct = Counts()
        for counts in by_place.values():
            direct.add(counts)
        out.append(Row(None, _("直属%(place)s", place=place.name), "direct", direct))
    return out


def helper_rows(scope: ColumnElement[bool], month: int) -> list[Row]:
    """Every helper with households due in scope, for the bar chart and ranking."""
    rows = household_month_rows(scope, month).subquery()
    result = {r.helper_id: _counts(r)
              for r in db.session.execute(_aggregate(rows, month, [rows.c.helper_id]))}
    names = _helper_names(result)
    return [Row(k, _helper_label(k, names), "helper", c) for k, c in result.items()]


def trend(scope: ColumnElement[bool], month: int, months: int = 12) -> list[tuple[int, Counts]]:
    """Compliance of the scope for each of the months ending with month.

    Ended months come from two grouped queries for the whole span (households by enrolment
    and exit dates; valid visits by household and month), not one `totals` per month: in an
    ended month overdue is simply due minus visited. A month still running (its overdue rule
    looks at the month before) goes through `totals`."""
    wanted = [add_months(month, -i) for i in range(months - 1, -1, -1)]
    running = current_month()
    ended = [m for m in wanted if m < running]
    out = _ended_months(scope, ended[0], ended[-1]) if ended else {}
    for m in wanted:
        if m >= running:
            out[m] = totals(scope, m)
    return [(m, out.get(m, Counts())) for m in wanted]


def _month_number(column: sa.SQLColumnExpression[Any]) -> sa.ColumnElement[int]:
    """YYYYMM of a date column (portable: EXTRACT, or STRFTIME on SQLite)."""
    return sa.extract("year", column) * 100 + sa.extract("month", column)


def _ended_months(scope: ColumnElement[bool], first: int, last: int) -> dict[int, Counts]:
    months = []
    m = first
    while m <= last:
        months.append(m)
        m = add_months(m, 1)
    enrolled = sa.and_(Household.enrolled_on.is_not(None),
                       Household.status.in_(("enrolled", "exited")))
    out = {m: Counts() for m in months}
    spans = db.session.execute(
        sa.select(Household.enrolled_on, Household.exited_on, sa.func.count())
        .where(scope, enrolled).group_by(Household.enrolled_on, Household.exited_on))
    for enrolled_on, exited_on, n in spans:
        for m in months:
            if cast(date, enrolled_on) <= month_last_day(m) and (exited_on is None
                                                     or exited_on > month_first_day(m)):
                out[m].due += n
    per = (
        sa.select(Visit.household_id, Visit.month, sa.func.count().label("n"),
                  sa.func.sum(sa.case((Visit.flag_count > 0, 1), else_=0)).label("flagged"))
        .where(Visit.month.between(first, last), valid_visit_clause(),
               Visit.household_id.in_(sa.select(Household.id).where(scope, enrolled)))
        .group_by(Visit.household_id, Visit.month)
        .subquery()
    )
    required = sa.func.coalesce(PolicySettings.visits_per_month, 1)
    rows = db.session.execute(
        sa.select(per.c.month,
                  sa.func.sum(sa.case((per.c.n >= required, 1), else_=0)),
                  sa.func.sum(per.c.flagged), sa.func.sum(per.c.n))
        .join(Household, Household.id == per.c.household_id)
        .outerjoin(PolicySettings, PolicySettings.place_id == Household.county_id)
        .where(_month_number(Household.enrolled_on) <= per.c.month,
               sa.or_(Household.exited_on.is_(None),
                      _month_number(Household.exited_on) > per.c.month,
                      sa.and_(_month_number(Household.exited_on) == per.c.month,
                              sa.extract("day", Household.exited_on) > 1)))
        .group_by(per.c.month))
    for m, visited, flagged, visits in rows:
        counts = out[int(m)]
        counts.visited, counts.flagged, counts.visits = int(visited or 0), int(flagged or 0), \
            int(visits or 0)
    for counts in out.values():
        counts.overdue = counts.due - counts.visited
    return out


def overdue_households(scope: ColumnElement[bool], month: int, limit: int = 200):
    """Due households without the required visit: (household, helper_id, last visit date)."""
    rows = household_month_rows(scope, month).subquery()
    ended = month < current_month()
    condition = rows.c.n < rows.c.required
    if not ended:
        condition = sa.and_(condition, _missed_before(rows))
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

"""The helper's task list (帮扶人任务清单, issue 15): per helper and month, the households they
hold, each with the month's duty (visits required by the county's policy and done so far,
已走访 / 待走访 / 逾期), the open problems of the latest valid visit and the plan measures in
force, those to follow up marked. Printed by `printing.helper_tasks`; the phone draws the
same list from its pull (static/js/pages/tasks.js, static/js/task-rows.js).

Which households:
- the current month: those the helper holds today and that are being assisted (the helper's
  phone pull holds exactly these: offline_sync.services._scope_ids);
- an ended month: those due in it (compliance.due_clause: enrolled or exited mid-month
  follow the compliance rule) whose month is attributed to the helper
  (compliance.responsible_helper), so the printed list agrees with 督导考评.

Duty state: the current month by households.services.month_state (the rule of the helper's
list); an ended month is 已走访 when it had the required valid visits, else 逾期.

Measures to follow up (待跟进): plans.py records for each entry a start and an optional
(inclusive) end, nothing else about progress, so an entry in force in the month is to follow
up when it starts in the month (new: the helper checks it reaches the household) or ends in it
(the helper tells the household it stops). Listed are the entries in force on the month's
reference day (today in the running month, the month's last day for an ended one), as the
pull's `measures` are those in force today. The phone applies the same rule to the pulled
`measures` (`start_date`, `end_date`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access.scope import household_clause
from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households import services as registry
from fieldwork.households.constants import VISITED_STATUSES
from fieldwork.households.models import Household, PlanMeasure
from fieldwork.places.models import Place
from fieldwork.places.services import policy_for_county
from fieldwork.privacy.idnumber import mask_phone
from fieldwork.supervision.compliance import due_clause, responsible_helper
from fieldwork.timeutil import (
    add_months,
    current_month,
    local,
    month_last_day,
    month_of_date,
    today_local,
)

STATE_ORDER = {registry.OVERDUE: 0, registry.DUE: 1, registry.VISITED: 2}


@dataclass
class MeasureTask:
    entry: PlanMeasure
    follow_up: str = ""  # "" | "starts" | "ends": why the helper follows it up this month


@dataclass
class TaskRow:
    household: Household
    community: str
    phone_mask: str
    state: registry.MonthState
    last_visit_on: date | None
    open_problems: list[str]
    measures: list[MeasureTask] = field(default_factory=list)

    @property
    def follow_ups(self) -> list[MeasureTask]:
        return [m for m in self.measures if m.follow_up]


def reference_day(month: int, today: date | None = None) -> date:
    """The day measures are taken in force on: today in the running month, else the
    month's last day."""
    today = today or today_local()
    return today if month == month_of_date(today) else month_last_day(month)


def follow_up(pm: PlanMeasure, month: int) -> str:
    if month_of_date(pm.start_date) == month:
        return "starts"
    if pm.end_date is not None and month_of_date(pm.end_date) == month:
        return "ends"
    return ""


def _households(helper: User, month: int, scope: ColumnElement[bool] | None) -> list[Household]:
    if month >= current_month():
        where = [household_clause(helper), Household.status.in_(VISITED_STATUSES)]
    else:
        where = [due_clause(month), responsible_helper(month, Household.id) == helper.id]
    if scope is not None:
        where.append(scope)
    return list(db.session.scalars(
        sa.select(Household).where(*where).options(selectinload(Household.plan))
))


def task_list(helper: User, month: int, *, scope: ColumnElement[bool] | None = None,
              today: date | None = None) -> list[TaskRow]:
    """The helper's rows for the month (a key YYYYMM, not after the current month), overdue
    first, then to visit, then visited; within each by the head's name. `scope` narrows the
    households to what the reader may see (an officer's household_clause)."""
    today = today or today_local()
    households = _households(helper, month, scope)
    if not households:
        return []
    ids = [h.id for h in households]
    counts = registry.visit_counts(ids, [month, add_months(month, -1)])
    latest = registry.latest_visits(ids)
    names = dict(db.session.execute(sa.select(Place.id, Place.name).where(
        Place.id.in_({h.place_id for h in households}))).all())
    on = reference_day(month, today)
    running = month >= month_of_date(today)
    required: dict[int, int] = {}
    rows = []
    for h in households:
        if h.county_id not in required:
            required[h.county_id] = policy_for_county(h.county_id).visits_per_month
        need = required[h.county_id]
        if running:
            state = registry.month_state(counts, h.id, month, need, h.enrolled_on)
        else:
            n = counts.get((h.id, month), 0)
            state = registry.MonthState(registry.VISITED if n >= need else registry.OVERDUE,
                                        n, need)
        last = latest.get(h.id)
        measures = [MeasureTask(pm, follow_up(pm, month))
                    for pm in sorted(h.plan, key=lambda p: (p.start_date, p.id)) if pm.in_force(on)]
        rows.append(TaskRow(
            household=h, community=names.get(h.place_id, ""),
            phone_mask=mask_phone(h.phone) if h.phone else "",
            state=state, last_visit_on=local(last.visited_at).date() if last else None,
            open_problems=registry.open_problems(last), measures=measures))
    # In Python, not SQL: PostgreSQL's collation would order the names otherwise than SQLite
    # and than the phone (static/js/task-rows.js: by code point).
    rows.sort(key=lambda r: (STATE_ORDER[r.state.state], r.household.head_name, r.household.id))
    return rows

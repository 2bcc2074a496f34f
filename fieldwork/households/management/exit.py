"""Monitoring and exit (平稳退出).

Eligibility is computed from the visits. A household that is enrolled is eligible when, in
EACH of the last N full calendar months before the current one (N = the county's
exit_months, Asia/Shanghai months, consecutive), it has at least one valid visit (not
rejected in review, not superseded by a correction), and EVERY valid visit of those months
records a per-capita income strictly above the county's 城镇低保标准 in force that month and all
six dimensions "ok" (policy line 149). One bad visit, one missing month or an income equal to
the standard is enough to wait. A month's standard is the one in force on its last day
(places.standards; a raise during the month applies to all of it); a month before the county's
first recorded standard cannot count, and the reason says so.

The whole scope is computed with a fixed number of queries (households, policies with the
standards' history, visits), never one per household.

This is the evidence of the stable route (平稳退出); the routes, the chain of opinions and the
effect of an exit are in exit_chain.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access.validity import valid_visit_clause
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import DIMENSION_SHORT, DIMENSIONS
from fieldwork.households.models import Case, Household
from fieldwork.places.models import DEFAULT_POLICY, DibaoStandard, Place, PolicySettings
from fieldwork.places.standards import Schedule, schedules_from_rows
from fieldwork.timeutil import add_months, current_month, month_last_day
from fieldwork.visits.models import Visit

KIND = "exit"


@dataclass
class MonthEvidence:
    month: int
    standard: Decimal | None = None  # the county's 城镇低保标准 on the month's last day
    visits: int = 0
    min_income: Decimal | None = None  # lowest per-capita income among the month's visits
    missing_income: int = 0  # valid visits without an income figure
    not_ok: set[str] = field(default_factory=set)  # dimensions some visit did not find "ok"

    @property
    def not_above_standard(self) -> bool:
        """Some visit's per-capita income is at or below the standard (the lowest one is)."""
        return (self.standard is not None and self.min_income is not None
                and self.min_income <= self.standard)

    @property
    def ok(self) -> bool:
        return (self.visits > 0 and self.standard is not None and not self.missing_income
                and not self.not_above_standard and not self.not_ok)


@dataclass
class Evidence:
    household_id: int
    county_id: int
    months: list[MonthEvidence]

    @property
    def eligible(self) -> bool:
        return all(m.ok for m in self.months)

    @property
    def reasons(self) -> list[str]:
        """Why not (yet) eligible, one Chinese line per failing month."""

        out = []
        for m in self.months:
            label = _("%(y)d年%(m)d月", y=m.month // 100, m=m.month % 100)
            if m.visits == 0:
                out.append(_("%(m)s 没有有效走访", m=label))
                continue
            if m.standard is None:
                out.append(_("%(m)s 尚无适用的城镇低保标准（请在政策参数中补录）",
                             m=label))
            if m.missing_income:
                out.append(_("%(m)s 有走访未记录收入", m=label))
            if m.not_above_standard:
                out.append(_("%(m)s 人均收入未高于当月城镇低保标准 %(s)s 元（最低 %(v)s 元）",
                             m=label, s=m.standard, v=m.min_income))
            if m.not_ok:
                dims = "、".join(str(DIMENSION_SHORT[d]) for d in DIMENSIONS if d in m.not_ok)
                out.append(_("%(m)s %(dims)s 未达“正常”", m=label, dims=dims))
        return out


def window(n: int, month: int | None = None) -> list[int]:
    """The last n full months before `month` (default the current one), oldest first."""
    this = month or current_month()
    return [add_months(this, -i) for i in range(n, 0, -1)]


def _policies(county_ids: set[int]) -> tuple[dict[int, int], dict[int, Schedule]]:
    """Each county's exit months (default where it has no settings row) and the history of its
    低保标准, in one query."""
    rows = list(db.session.execute(
        sa.select(Place.id, PolicySettings.exit_months, DibaoStandard.effective_from,
                  DibaoStandard.amount)
        .outerjoin(PolicySettings, PolicySettings.place_id == Place.id)
        .outerjoin(DibaoStandard, DibaoStandard.place_id == Place.id)
        .where(Place.id.in_(county_ids or {0}))))
    default = cast(int, DEFAULT_POLICY["exit_months"])
    found = {cid: n for cid, n, _day, _amount in rows if n is not None}
    months = {cid: found.get(cid, default) for cid in county_ids}
    return months, schedules_from_rows(((c, d, a) for c, _n, d, a in rows), county_ids)


# visits, lowest income, visits without income, dims not ok
Row = tuple[int, Decimal | None, int, frozenset[str]]


@dataclass
class _Collected:
    households: dict[int, int]  # household id → county id
    windows: dict[int, list[tuple[int, Decimal | None]]]  # county id → its months, standards
    stats: dict[int, dict[int, Row]]  # household id → month → figures

    def evidence(self, hid: int) -> Evidence:
        cid = self.households[hid]
        got = self.stats.get(hid, {})
        months = []
        for key, standard in self.windows[cid]:
            m = MonthEvidence(key, standard)
            if key in got:
                m.visits, m.min_income, m.missing_income, dims = got[key]
                m.not_ok = set(dims)
            months.append(m)
        return Evidence(hid, cid, months)

    def passes(self, hid: int) -> bool:
        """Eligibility without building the evidence (cheap for a whole county)."""
        got = self.stats.get(hid)
        if not got:
            return False
        for key, standard in self.windows[self.households[hid]]:
            row = got.get(key)
            if (standard is None or row is None or row[0] == 0 or row[1] is None
                    or row[1] <= standard or row[2] or row[3]):
                return False
        return True


def _collect(scope: ColumnElement[bool], month: int | None,
             household_ids: list[int] | None) -> _Collected | None:
    """The three queries: enrolled households in scope, their counties' policies and standards,
    and one grouped row per household and month of the window."""
    this = month or current_month()
    query = sa.select(Household.id, Household.county_id).where(
        scope, Household.status == "enrolled")
    if household_ids is not None:
        query = query.where(Household.id.in_(household_ids or [0]))
    households: dict[int, int] = {hid: cid for hid, cid in db.session.execute(query)}
    if not households:
        return None
    exit_months, standards = _policies(set(households.values()))
    windows = {cid: [(key, standards[cid].on(month_last_day(key))) for key in window(n, this)]
               for cid, n in exit_months.items()}
    first = min(w[0][0] for w in windows.values())
    # Per household and month: valid visits, the lowest income (every visit is above the
    # standard when the lowest is), and how many visits lack an income or find a dimension not
    # "ok" (a missing answer counts as not "ok").
    income = Visit.per_capita_income
    not_ok = [sa.func.sum(sa.case(
        (sa.func.coalesce(Visit.answers[f"{d}_status"].as_string(), "") != "ok", 1), else_=0))
        for d in DIMENSIONS]
    grouped = (
        sa.select(
            Visit.household_id, Visit.month, sa.func.count(), sa.func.min(income),
            sa.func.sum(sa.case((income.is_(None), 1), else_=0)),
            *not_ok)
        .join(Household, Household.id == Visit.household_id)
        .where(scope, Household.status == "enrolled", Visit.month >= first,
               Visit.month < this, valid_visit_clause())
        .group_by(Visit.household_id, Visit.month))
    if household_ids is not None:
        grouped = grouped.where(Household.id.in_(household_ids or [0]))
    stats: dict[int, dict[int, Row]] = {}
    cent = Decimal("0.01")
    for hid, key, n, lowest, missing, *dims in db.session.execute(grouped):
        lowest_dec = Decimal(str(lowest)).quantize(cent) if lowest is not None else None
        stats.setdefault(hid, {})[key] = (
            n, lowest_dec, int(missing or 0),
            frozenset(d for d, bad in zip(DIMENSIONS, dims, strict=True) if bad))
    return _Collected(households, windows, stats)


def evaluate(scope: ColumnElement[bool], *, month: int | None = None,
             household_ids: list[int] | None = None) -> dict[int, Evidence]:
    """Evidence for every enrolled household in scope (optionally only some), three queries
    whatever the number of households."""
    collected = _collect(scope, month, household_ids)
    if collected is None:
        return {}
    return {hid: collected.evidence(hid) for hid in collected.households}


def open_exit_cases(scope: ColumnElement[bool]) -> list[Case]:
    return list(db.session.scalars(
        sa.select(Case).join(Household, Household.id == Case.household_id)
        .where(scope, Case.kind == KIND, Case.state == "open")
        .order_by(Case.stage_since, Case.id)))


def eligible(scope: ColumnElement[bool], *, month: int | None = None) -> list[Evidence]:
    """Eligible enrolled households without an open exit case, in household id order (four
    queries; evidence is built only for the eligible)."""
    collected = _collect(scope, month, None)
    if collected is None:
        return []
    pending = set(db.session.scalars(
        sa.select(Case.household_id).join(Household, Household.id == Case.household_id)
        .where(scope, Case.kind == KIND, Case.state == "open")))
    return [collected.evidence(hid) for hid in sorted(collected.households)
            if hid not in pending and collected.passes(hid)]


def check_eligible(household: Household) -> Evidence:
    ev = evaluate(Household.id == household.id).get(household.id)
    if ev is None:
        raise FormError({"household": _("只有帮扶中的住户可以申请退出")})
    if not ev.eligible:
        raise FormError({"household": _("该户目前不符合平稳退出条件：%(why)s",
                                        why="；".join(ev.reasons))})
    return ev


def evidence_json(ev: Evidence) -> dict[str, Any]:
    return {"months": [{"month": m.month, "visits": m.visits,
                        "dibao_standard": str(m.standard) if m.standard is not None else None,
                        "min_income": str(m.min_income) if m.min_income is not None else None}
                       for m in ev.months]}

"""Monitoring and exit (平稳退出).

Eligibility is computed from the visits. A household that is enrolled is eligible when, in
EACH of the last N full calendar months before the current one (N = the county's
exit_months, Asia/Shanghai months, consecutive), it has at least one valid visit (not
rejected in review, not superseded by a correction), and EVERY valid visit of those months
records a per-capita income strictly above the county's dibao line and all six dimensions
"ok". One bad visit, one missing month or an income equal to the line is enough to wait.

The whole scope is computed with a fixed number of queries (households, policies, visits),
never one per household.

Exit is then proposed as a Case (kind "exit", channel "territorial", stage "exit_review")
and decided by the county officer: approve, return (stage "exit_returned": the proposer
may resubmit once the doubt is cleared) or reject; each decision is a ReviewDecision with
its opinion and an audit "case.decision". Approval records the exit: status "exited",
exited_on the decision date, the helper assignment and the plan measures end that day, and
the version is bumped so the helper's phone drops the household. The file number and the
ID-number index stay, so a later discovery finds the household and can bring it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access.validity import valid_visit_clause
from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import DIMENSION_SHORT, DIMENSIONS
from fieldwork.households.management.assignments import end_assignments
from fieldwork.households.models import Case, Household, ReviewDecision
from fieldwork.places.models import DEFAULT_POLICY, PolicySettings
from fieldwork.records import parse_note
from fieldwork.timeutil import add_months, current_month, local, now_utc
from fieldwork.visits.models import Visit

KIND = "exit"
STAGE_REVIEW = "exit_review"
STAGE_RETURNED = "exit_returned"
STEP = "exit_review"
STEP_PROPOSAL = "exit_proposal"
MAX_OPINION = 1000




@dataclass
class MonthEvidence:
    month: int
    visits: int = 0
    min_income: Decimal | None = None  # lowest per-capita income among the month's visits
    missing_income: int = 0  # valid visits without an income figure
    at_or_below_line: int = 0  # valid visits with per-capita income ≤ the dibao line
    not_ok: set[str] = field(default_factory=set)  # dimensions some visit did not find "ok"

    @property
    def ok(self) -> bool:
        return (self.visits > 0 and not self.missing_income and not self.at_or_below_line
                and not self.not_ok)


@dataclass
class Evidence:
    household_id: int
    county_id: int
    dibao_line: Decimal
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
            if m.missing_income:
                out.append(_("%(m)s 有走访未记录收入", m=label))
            if m.at_or_below_line:
                out.append(_("%(m)s 人均收入未高于低保标准（最低 %(v)s 元）", m=label,
                             v=m.min_income))
            if m.not_ok:
                dims = "、".join(str(DIMENSION_SHORT[d]) for d in DIMENSIONS if d in m.not_ok)
                out.append(_("%(m)s %(dims)s 未达“正常”", m=label, dims=dims))
        return out


def window(n: int, month: int | None = None) -> list[int]:
    """The last n full months before `month` (default the current one), oldest first."""
    this = month or current_month()
    return [add_months(this, -i) for i in range(n, 0, -1)]


def _policies(county_ids: set[int]) -> dict[int, tuple[int, Decimal]]:
    rows = db.session.execute(
        sa.select(PolicySettings.place_id, PolicySettings.exit_months, PolicySettings.dibao_line)
        .where(PolicySettings.place_id.in_(county_ids or {0})))
    found = {pid: (n, Decimal(str(line))) for pid, n, line in rows}
    default = (cast(int, DEFAULT_POLICY["exit_months"]),
               Decimal(str(DEFAULT_POLICY["dibao_line"])))
    return {cid: found.get(cid, default) for cid in county_ids}


# visits, lowest income, visits without income, visits at or below the line, dims not ok
Row = tuple[int, Decimal | None, int, int, frozenset[str]]


@dataclass
class _Collected:
    households: dict[int, int]  # household id → county id
    policies: dict[int, tuple[int, Decimal]]  # county id → (exit months, dibao line)
    windows: dict[int, list[int]]  # county id → its months
    stats: dict[int, dict[int, Row]]  # household id → month → figures

    def evidence(self, hid: int) -> Evidence:
        cid = self.households[hid]
        _n, line = self.policies[cid]
        got = self.stats.get(hid, {})
        months = []
        for key in self.windows[cid]:
            m = MonthEvidence(key)
            if key in got:
                m.visits, m.min_income, m.missing_income, m.at_or_below_line, dims = got[key]
                m.not_ok = set(dims)
            months.append(m)
        return Evidence(hid, cid, line, months)

    def passes(self, hid: int) -> bool:
        """Eligibility without building the evidence (cheap for a whole county)."""
        got = self.stats.get(hid)
        if not got:
            return False
        for key in self.windows[self.households[hid]]:
            row = got.get(key)
            if row is None or row[0] == 0 or row[2] or row[3] or row[4]:
                return False
        return True


def _collect(scope: ColumnElement[bool], month: int | None,
             household_ids: list[int] | None) -> _Collected | None:
    """The three queries: enrolled households in scope, their counties' policies, and one
    grouped row per household and month of the window."""
    this = month or current_month()
    query = sa.select(Household.id, Household.county_id).where(
        scope, Household.status == "enrolled")
    if household_ids is not None:
        query = query.where(Household.id.in_(household_ids or [0]))
    households: dict[int, int] = {hid: cid for hid, cid in db.session.execute(query)}
    if not households:
        return None
    policies = _policies(set(households.values()))
    windows = {cid: window(n, this) for cid, (n, _line) in policies.items()}
    first = min(w[0] for w in windows.values())
    # Per household and month: valid visits, the lowest income, and how many visits lack an
    # income, are at or below the county's line, or find a dimension not "ok" (a missing
    # answer counts as not "ok").
    line = sa.func.coalesce(PolicySettings.dibao_line, DEFAULT_POLICY["dibao_line"])
    income = Visit.per_capita_income
    not_ok = [sa.func.sum(sa.case(
        (sa.func.coalesce(Visit.answers[f"{d}_status"].as_string(), "") != "ok", 1), else_=0))
        for d in DIMENSIONS]
    grouped = (
        sa.select(
            Visit.household_id, Visit.month, sa.func.count(), sa.func.min(income),
            sa.func.sum(sa.case((income.is_(None), 1), else_=0)),
            sa.func.sum(sa.case((income <= line, 1), else_=0)),
            *not_ok)
        .join(Household, Household.id == Visit.household_id)
        .outerjoin(PolicySettings, PolicySettings.place_id == Household.county_id)
        .where(scope, Household.status == "enrolled", Visit.month >= first,
               Visit.month < this, valid_visit_clause())
        .group_by(Visit.household_id, Visit.month))
    if household_ids is not None:
        grouped = grouped.where(Household.id.in_(household_ids or [0]))
    stats: dict[int, dict[int, Row]] = {}
    cent = Decimal("0.01")
    for hid, key, n, lowest, missing, at_or_below, *dims in db.session.execute(grouped):
        lowest_dec = Decimal(str(lowest)).quantize(cent) if lowest is not None else None
        stats.setdefault(hid, {})[key] = (
            n, lowest_dec, int(missing or 0), int(at_or_below or 0),
            frozenset(d for d, bad in zip(DIMENSIONS, dims, strict=True) if bad))
    return _Collected(households, policies, windows, stats)


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


def _opinion(raw: Any, errors: dict[str, str], *, required: bool) -> str:
    return parse_note(raw, "opinion", errors, label=_("意见"), max_length=MAX_OPINION,
                      required=_("请填写意见") if required else None)


def _check_eligible(household: Household) -> Evidence:
    ev = evaluate(Household.id == household.id).get(household.id)
    if ev is None:
        raise FormError({"household": _("只有帮扶中的住户可以申请退出")})
    if not ev.eligible:
        raise FormError({"household": _("该户目前不符合平稳退出条件：%(why)s",
                                        why="；".join(ev.reasons))})
    return ev


def _evidence_json(ev: Evidence) -> dict[str, Any]:
    return {"dibao_line": str(ev.dibao_line),
            "months": [{"month": m.month, "visits": m.visits,
                        "min_income": str(m.min_income) if m.min_income is not None else None}
                       for m in ev.months]}


def propose(household: Household, user: User, form: dict[str, Any]) -> Case:
    """Open an exit case for an eligible household. The caller commits."""
    errors: dict[str, str] = {}
    opinion = _opinion(form.get("opinion"), errors, required=False)
    if errors:
        raise FormError(errors)
    if db.session.scalar(sa.select(Case.id).where(
            Case.household_id == household.id, Case.kind == KIND, Case.state == "open")):
        raise FormError({"household": _("该户已有待审核的退出申请")})
    ev = _check_eligible(household)
    now = now_utc()
    case = Case(household_id=household.id, kind=KIND, channel="territorial", stage=STAGE_REVIEW,
                state="open", opened_at=now, stage_since=now, opened_by_id=user.id,
                source="monitoring")
    db.session.add(case)
    db.session.flush()
    # The proposal is the first step of the chain, as 初审 is for intake: it fills the form.
    db.session.add(ReviewDecision(case_id=case.id, step=STEP_PROPOSAL, decision="approve",
                                  opinion=opinion or _("符合平稳退出条件，建议退出"),
                                  reviewer_id=user.id, decided_at=now))
    audit.record("case.open", target_type="case", target_id=case.id,
                 place_id=household.county_id, user=user, kind=KIND,
                 household=household.id, opinion=opinion, evidence=_evidence_json(ev))
    return case


def resubmit(case: Case, user: User, form: dict[str, Any]) -> Case:
    """Send a returned exit case back to review. The caller commits."""
    if case.kind != KIND or case.state != "open" or case.stage != STAGE_RETURNED:
        raise FormError({"case": _("只有被退回的退出申请可以重新提交")})
    errors: dict[str, str] = {}
    opinion = _opinion(form.get("opinion"), errors, required=True)
    if errors:
        raise FormError(errors)
    _check_eligible(case.household)
    now = now_utc()
    case.stage = STAGE_REVIEW
    case.stage_since = now
    db.session.add(ReviewDecision(case_id=case.id, step=STEP_PROPOSAL, decision="approve",
                                  opinion=opinion, reviewer_id=user.id, decided_at=now))
    audit.record("case.resubmit", target_type="case", target_id=case.id,
                 place_id=case.household.county_id, user=user, kind=KIND, opinion=opinion)
    return case


def decide(case: Case, user: User, form: dict[str, Any]) -> ReviewDecision:
    """The county officer's decision on an exit case. Approval re-checks eligibility (a month
    may have turned since the proposal) and records the exit. The caller commits."""
    errors: dict[str, str] = {}
    decision = str(form.get("decision", "") or "")
    if decision not in ("approve", "return", "reject"):
        errors["decision"] = _("请选择审核结论")
    opinion = _opinion(form.get("opinion"), errors, required=decision in ("return", "reject"))
    if case.kind != KIND or case.state != "open" or case.stage != STAGE_REVIEW:
        errors["case"] = _("该退出申请不在待审核状态")
    if errors:
        raise FormError(errors)
    household = case.household
    now = now_utc()
    day = local(now).date()
    detail: dict[str, Any] = {}
    if decision == "approve":
        ev = _check_eligible(household)
        detail = record_exit(household, day)
        detail["evidence"] = _evidence_json(ev)
        case.state, case.closed_at = "approved", now
    elif decision == "reject":
        case.state, case.closed_at = "rejected", now
    else:
        case.stage, case.stage_since = STAGE_RETURNED, now
    row = ReviewDecision(case_id=case.id, step=STEP, decision=decision,
                         opinion=opinion or (_("同意退出") if decision == "approve" else ""),
                         reviewer_id=user.id, decided_at=now)
    db.session.add(row)
    audit.record("case.decision", target_type="case", target_id=case.id,
                 place_id=household.county_id, user=user, kind=KIND, step=STEP,
                 decision=decision, opinion=row.opinion, household=household.id, **detail)
    return row


def record_exit(household: Household, day: date) -> dict[str, Any]:
    """Mark the household exited on `day`: helper responsibility and plan measures end that
    day (rows that had not started yet are withdrawn). Returns what changed, for the audit."""
    household.status = "exited"
    household.exited_on = day
    assignments = end_assignments(household, day)
    ended, withdrawn = [], []
    for pm in list(household.plan):
        if pm.start_date > day:
            withdrawn.append(pm.measure_id)
            household.plan.remove(pm)
            db.session.delete(pm)
        elif pm.end_date is None or pm.end_date > day:
            pm.end_date = day
            ended.append(pm.measure_id)
    household.version += 1
    return {"exited_on": day.isoformat(), "assignments": assignments,
            "measures_ended": ended, "measures_withdrawn": withdrawn}


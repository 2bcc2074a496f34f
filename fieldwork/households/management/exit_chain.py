"""Exit by every route (issue 14; docs/exit.md): the proposal with the route's facts, the chain
社区意见 → 街道(乡镇)解困办意见 → 县级解困办审批, the publicity of a stable exit, and the
exit itself.

Any office user in scope (community worker, street reviewer, county officer) proposes; the
case (kind "exit") then waits at `exit_community`, `exit_street`, `exit_county` in turn. Each
step approves, returns (one step back; from the community to the proposer, stage
`exit_returned`, who corrects and resubmits) or rejects (the household stays enrolled); an
opinion is required unless approving. Four eyes: whoever proposed the case or gave an earlier
opinion on it never gives the county decision. Who holds a step is intake's rule
(`intake.steps.holds_step`), and a case moves by intake's compare-and-set (`move_case`).

The route's fields are parsed by exit_routes.py. A stable exit re-checks its evidence
(exit.py) at the proposal and at the county decision and needs the judgement that the
causes of hardship are resolved (policy line 149); when the county's `exit_publicity` is on
it is then publicised (stage `exit_publicity`, objections as for enrolment,
intake/publicity.py) and takes effect on the publicity's last day once the county office
closes it. The other routes take effect at the county decision: on the day of death or of
moving away, otherwise on the decision's day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.audit.models import AuditEvent
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import DECISIONS, EXIT_ROUTE_LABELS
from fieldwork.households.intake import publicity as intake_publicity
from fieldwork.households.intake.steps import (
    COMMUNITY_REVIEW,
    COUNTY_CONFIRM,
    PUBLICITY,
    STREET_REVIEW,
    holds_step,
    move_case,
)
from fieldwork.households.intake.steps import may_handle_publicity as steps_may_handle_publicity
from fieldwork.households.management import exit as evidence
from fieldwork.households.management import exit_routes
from fieldwork.households.management.assignments import end_assignments
from fieldwork.households.management.exit_routes import parse_route
from fieldwork.households.models import Case, Household, ReviewDecision
from fieldwork.places.services import policy_for_county
from fieldwork.records import parse_note
from fieldwork.timeutil import now_utc, today_local

KIND = evidence.KIND
STAGE_COMMUNITY, STAGE_STREET, STAGE_COUNTY = "exit_community", "exit_street", "exit_county"
STAGE_PUBLICITY = "exit_publicity"
STAGE_RETURNED = "exit_returned"
CHAIN = (STAGE_COMMUNITY, STAGE_STREET, STAGE_COUNTY)
STEP_PROPOSAL = "exit_proposal"
LEGACY_REVIEW = "exit_review"  # before issue 14: one county review (stage and step)
MAX_OPINION = 1000

# Which intake step's holder acts at each exit stage (a legacy open case waits for the county).
HOLDERS = {STAGE_COMMUNITY: COMMUNITY_REVIEW, STAGE_STREET: STREET_REVIEW,
           STAGE_COUNTY: COUNTY_CONFIRM, LEGACY_REVIEW: COUNTY_CONFIRM,
           STAGE_PUBLICITY: PUBLICITY}
STEP_LABELS = {
    STEP_PROPOSAL: _l("提出退出"),
    STAGE_COMMUNITY: _l("社区意见"),
    STAGE_STREET: _l("街道(乡镇)解困办意见"),
    STAGE_COUNTY: _l("县级解困办审批"),
    STAGE_PUBLICITY: _l("退出公示"),
    STAGE_RETURNED: _l("退回提出人补正"),
    LEGACY_REVIEW: _l("县级审核"),
}
PROPOSERS = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER, roles.COUNTY_OFFICER)
ROUTES = exit_routes.ROUTES  # each route's fields (exit_routes.py), read by the pages too
deceased_members = exit_routes.deceased_members


# ---------------------------------------------------------------- who may act

def may_propose(user: User, household: Household) -> bool:
    """Any office user whose scope holds the household (the caller checked the scope)."""
    return user.is_active and user.role in PROPOSERS and household.status == "enrolled"


def signers(case: Case) -> set[int]:
    """Who proposed or resubmitted the case or gave the community's or the street's opinion
    on it: none of them may give the county decision. (The county office's own earlier
    decisions and its handling of objections do not bar it from deciding again.)"""
    ids = {d.reviewer_id for d in case.decisions
           if d.step in (STEP_PROPOSAL, STAGE_COMMUNITY, STAGE_STREET)}
    if case.opened_by_id is not None:
        ids.add(case.opened_by_id)
    return ids


def four_eyes_problem(user: User, case: Case) -> str | None:
    if case.stage in (STAGE_COUNTY, LEGACY_REVIEW) and user.id in signers(case):
        return _("您已提出该退出申请或已在本案签署意见，不能再作县级审批决定，"
                 "请由县级解困办其他人员审批")
    return None


def may_decide(user: User, case: Case) -> bool:
    return (case.kind == KIND and case.state == "open" and case.stage in HOLDERS
            and case.stage != STAGE_PUBLICITY and holds_step(user, case, HOLDERS[case.stage])
            and four_eyes_problem(user, case) is None)


def may_resubmit(user: User, case: Case) -> bool:
    return (case.kind == KIND and case.state == "open" and case.stage == STAGE_RETURNED
            and user.is_active and user.role in PROPOSERS)


def may_handle_publicity(user: User, case: Case) -> bool:
    return steps_may_handle_publicity(user, case)


def _store(case: Case, route: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Put the route's facts on the case; returns the structured ones (the route's date,
    destination, judgement, recorded deaths), which the audit event of the proposal keeps."""
    case.exit_route = route
    case.exit_reason = facts["reason"]
    case.exit_on = (date.fromisoformat(facts["event_on"])
                    if ROUTES[route].takes_effect_on_date else None)
    return {k: v for k, v in facts.items() if k not in ("route", "opinion", "reason")}


def facts(case: Case) -> dict[str, Any]:
    """The structured facts of the case's route as last proposed or resubmitted (audit events
    "case.open" / "case.resubmit", detail "facts"): event_on, destination, causes_resolved,
    recorded_deaths. Empty for a case from before issue 14."""
    detail = db.session.scalar(
        sa.select(AuditEvent.detail)
        .where(AuditEvent.target_type == "case", AuditEvent.target_id == str(case.id),
               AuditEvent.action.in_(("case.open", "case.resubmit")))
        .order_by(AuditEvent.id.desc()).limit(1))
    found = (detail or {}).get("facts")
    return dict(found) if isinstance(found, dict) else {}


def _default_opinion(route: str) -> str:
    return _("建议按“%(route)s”退出", route=str(EXIT_ROUTE_LABELS[route]))


# ---------------------------------------------------------------- proposing

def propose(household: Household, user: User, form: Any) -> Case:
    """Open an exit case by the route chosen, waiting for the community's opinion. The caller
    checked the scope and commits."""
    if not may_propose(user, household):
        if household.status != "enrolled":
            raise FormError.of(_("只有帮扶中的住户可以申请退出"), "household")
        raise FormError.forbidden(_("退出申请由社区、街道(乡镇)或县级解困办工作人员提出"))
    if db.session.scalar(sa.select(Case.id).where(
            Case.household_id == household.id, Case.kind == KIND, Case.state == "open")):
        raise FormError.of(_("该户已有办理中的退出申请"), "household")
    route, found, ev = parse_route(household, form)
    now = now_utc()
    case = Case(household_id=household.id, kind=KIND, channel="territorial",
                stage=STAGE_COMMUNITY, state="open", opened_at=now, stage_since=now,
                opened_by_id=user.id, source="monitoring")
    stored = _store(case, route, found)
    db.session.add(case)
    db.session.flush()
    db.session.add(ReviewDecision(case_id=case.id, step=STEP_PROPOSAL, decision="approve",
                                  opinion=found["opinion"] or _default_opinion(route),
                                  reviewer_id=user.id, decided_at=now))
    audit.record("case.open", target_type="case", target_id=case.id,
                 place_id=household.county_id, user=user, kind=KIND,
                 household=household.id, route=route, facts=stored,
                 evidence=evidence.evidence_json(ev) if ev else None)
    db.session.flush()
    db.session.refresh(case, ["decisions"])
    return case


def resubmit(case: Case, user: User, form: Any) -> Case:
    """A case returned by the community goes back to it with its facts corrected (same
    route). The caller commits."""
    if not (user.is_active and user.role in PROPOSERS):
        raise FormError.forbidden(_("退出申请由社区、街道(乡镇)或县级解困办工作人员提出"))
    if not may_resubmit(user, case):
        raise FormError.of(_("只有被退回的退出申请可以重新提交"), "case")
    errors: dict[str, str] = {}
    note = parse_note(form.get("opinion"), "opinion", errors, label=_("补正说明"),
                      max_length=MAX_OPINION, required=_("请填写补正说明"))
    if errors:
        raise FormError(errors)
    route = case.exit_route or "stable"
    merged = {**facts(case), **{k: v for k, v in form.items() if k != "opinion"}}
    merged.setdefault("reason", case.exit_reason)
    if route == "stable":
        merged["causes_resolved"] = "1"
    _route, found, _ev = parse_route(case.household, merged, route)
    now = now_utc()
    move_case(case, stage=STAGE_COMMUNITY, stage_since=now)
    stored = _store(case, route, found)
    db.session.add(ReviewDecision(case_id=case.id, step=STEP_PROPOSAL, decision="approve",
                                  opinion=note, reviewer_id=user.id, decided_at=now))
    audit.record("case.resubmit", target_type="case", target_id=case.id,
                 place_id=case.household.county_id, user=user, kind=KIND, opinion=note,
                 facts=stored)
    db.session.flush()
    db.session.refresh(case, ["decisions"])
    return case


# ---------------------------------------------------------------- the chain

def decide(case: Case, user: User, form: Any, *, expect_stage: str | None = None
           ) -> ReviewDecision:
    """One opinion of the chain. The county's approval of a stable exit re-checks the
    evidence and starts the publicity (when the county publicises exits) or records the exit;
    of any other route it records the exit. The caller commits."""
    stage = case.stage
    if case.kind != KIND or case.state != "open" or stage not in HOLDERS or (
            stage == STAGE_PUBLICITY):
        raise FormError.of(_("该退出申请不在待审核状态"), "case")
    if expect_stage is not None and expect_stage != stage:
        raise FormError.conflict(_("该案件已由他人处理，请刷新后查看"))
    if not holds_step(user, case, HOLDERS[stage]):
        raise FormError.forbidden(_("“%(step)s”应由其他人员办理", step=str(STEP_LABELS[stage])))
    if problem := four_eyes_problem(user, case):
        # The right role in the right place, refused by the rule: said on the page (422).
        raise FormError.of(problem, "decision")
    errors: dict[str, str] = {}
    decision = str(form.get("decision", "") or "")
    if decision not in DECISIONS:
        errors["decision"] = _("请选择审核结论")
    opinion = parse_note(form.get("opinion"), "opinion", errors, label=_("意见"),
                         max_length=MAX_OPINION,
                         required=_("退回或不同意时请填写意见和理由")
                         if decision in ("return", "reject") else None)
    if errors:
        raise FormError(errors)
    household = case.household
    route = case.exit_route or "stable"
    now = now_utc()
    detail: dict[str, Any] = {}
    step = STAGE_COUNTY if stage == LEGACY_REVIEW else stage
    if decision == "approve" and step != STAGE_COUNTY:
        move_case(case, stage=CHAIN[CHAIN.index(step) + 1], stage_since=now)
    elif decision == "approve":
        if route == "stable":
            ev = evidence.check_eligible(household)
            detail["evidence"] = evidence.evidence_json(ev)
        policy = policy_for_county(household.county_id)
        if route == "stable" and policy.exit_publicity:
            ends = today_local() + timedelta(days=policy.publicity_days)
            move_case(case, stage=STAGE_PUBLICITY, stage_since=now, publicity_ends_on=ends)
            detail["publicity_ends_on"] = ends.isoformat()
        else:
            day = case.exit_on if ROUTES[route].takes_effect_on_date and case.exit_on \
                else today_local()
            move_case(case, state="approved", closed_at=now, exit_on=day)
            detail.update(record_exit(household, day, route))
    elif decision == "return":
        back = STAGE_RETURNED if step == STAGE_COMMUNITY else CHAIN[CHAIN.index(step) - 1]
        move_case(case, stage=back, stage_since=now)
    else:
        move_case(case, state="rejected", closed_at=now)
    row = ReviewDecision(case_id=case.id, step=step, decision=decision,
                         opinion=opinion or (_("同意") if decision == "approve" else ""),
                         reviewer_id=user.id, decided_at=now)
    db.session.add(row)
    audit.record("case.decision", target_type="case", target_id=case.id,
                 place_id=household.county_id, user=user, kind=KIND, step=step,
                 decision=decision, opinion=row.opinion, household=household.id, route=route,
                 stage=case.stage, **detail)
    db.session.flush()
    db.session.refresh(case, ["decisions"])
    return row


def finish_blockers(case: Case, today: date | None = None) -> list[str]:
    """Why a publicised stable exit cannot take effect yet (empty: it can)."""
    return intake_publicity.publicity_blockers(case, today)


def finish_publicity(case: Case, user: User) -> Case:
    """After a publicity without an upheld or pending objection the county office closes the
    case: the exit takes effect on the publicity's last day. The caller commits."""
    if case.kind != KIND or case.state != "open" or case.stage != STAGE_PUBLICITY:
        raise FormError.of(_("该退出申请不在公示期"), "case")
    if not may_handle_publicity(user, case):
        raise FormError.forbidden(_("退出公示由县级解困办办理"))
    if blockers := finish_blockers(case):
        raise FormError.of("；".join(blockers), "case")
    day = min(case.publicity_ends_on or today_local(), today_local())
    now = now_utc()
    move_case(case, state="approved", closed_at=now, exit_on=day)
    detail = record_exit(case.household, day, case.exit_route or "stable")
    audit.record("case.exit", target_type="case", target_id=case.id,
                 place_id=case.household.county_id, user=user, kind=KIND, **detail)
    return case


# ---------------------------------------------------------------- the exit

def record_exit(household: Household, day: date, route: str = "stable") -> dict[str, Any]:
    """Mark the household exited on `day` by `route`: helper responsibility and plan measures
    end that day (rows that had not started yet are withdrawn); the version bump sends the
    change to the phones, which drop the household. Returns what changed, for the audit."""
    household.status = "exited"
    household.exited_on = day
    household.exit_route = route
    ended_assignments = end_assignments(household, day)
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
    return {"exited_on": day.isoformat(), "exit_route": route,
            "assignments": ended_assignments, "measures_ended": ended,
            "measures_withdrawn": withdrawn}

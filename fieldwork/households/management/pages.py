"""What each county-office management page shows: the county it is about, the user's scope,
and the context of the measures, plan, assignment, helper, exit and exit-case pages (with the
look-ups that answer 404). The routes are in views.py; a refused form re-renders through these
same builders, with its messages.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from flask import abort, render_template, request
from flask_login import current_user
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access import roles
from fieldwork.access.scope import get_county_or_404, household_clause
from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households.constants import DIMENSIONS
from fieldwork.households.intake.steps import OBJECTION_OUTCOME_LABELS, holds_step
from fieldwork.households.management import assignments, plans, platform, suggestions
from fieldwork.households.management import exit as exits
from fieldwork.households.management import exit_chain as chain
from fieldwork.households.management import measures as measures_service
from fieldwork.households.models import Case, Household, Measure, Objection
from fieldwork.places import policy as policy_service
from fieldwork.places import standards
from fieldwork.places.models import Place
from fieldwork.places.services import policy_for_county
from fieldwork.places.standards import dibao_standard
from fieldwork.timeutil import current_month, now_utc, today_local

VIEWERS = (roles.COUNTY_OFFICER, roles.STREET_REVIEWER, roles.CITY_SUPERVISOR)
ACTORS = (roles.COUNTY_OFFICER,)
# The street drafts the initial plan (policy line 61), the county approves: both take or
# dismiss the measures suggested for a household.
SUGGESTION_ACTORS = (roles.STREET_REVIEWER, roles.COUNTY_OFFICER)
# The exit pages also serve the community, which proposes exits and gives the first opinion.
EXIT_USERS = (*VIEWERS, roles.COMMUNITY_WORKER)
SEARCH_LIMIT = 50


def county_list() -> list[Place]:
    return list(db.session.scalars(
        sa.select(Place).where(Place.level == "county").order_by(Place.code)))


def county(*, allow_city: bool = False) -> Place | None:
    """The county the page is about: the officer's own, the street reviewer's, or for the
    city supervisor the one chosen with ?county= (the first by code if none; with allow_city
    an empty choice means the city-wide view)."""
    user = current_user
    if user.role == roles.CITY_SUPERVISOR:
        raw = request.args.get("county", "")
        if raw == "" and allow_city:
            return None
        if raw:
            if not raw.isdigit():
                abort(404)
            return get_county_or_404(user, int(raw))
        counties = county_list()
        if not counties:
            abort(404)
        return counties[0]
    if user.place.level == "county":
        return user.place
    county_id = user.place.county_id()
    county = db.session.get(Place, county_id) if county_id else None
    if county is None:
        abort(404)
    return county


def scope_clause(county: Place | None) -> ColumnElement[bool]:
    clause = household_clause(current_user)
    return sa.and_(clause, Household.county_id == county.id) if county is not None else clause


def can_act() -> bool:
    return current_user.role in ACTORS


def render(template: str, **context: Any) -> str:
    context.setdefault("can_act", can_act())
    context.setdefault("counties", county_list() if current_user.role == roles.CITY_SUPERVISOR
                       else [])
    context.setdefault("today", today_local())
    return render_template(template, **context)


def amount_form_context(measure: Measure | None = None) -> dict[str, Any]:
    """What the measure form's amount fields need: the kinds offered (a rule only where the
    measure has one) and the rule's text."""
    has_rule = measure is not None and measure.amount_kind == "rule"
    kinds = measures_service.FORM_AMOUNT_KINDS + (("rule",) if has_rule else ())
    return {"amount_kinds": kinds, "amount_kind_labels": measures_service.AMOUNT_KIND_LABELS,
            "current_kind": measures_service.amount_kind(measure) if measure else "none",
            "rule_text": (measures_service.rule_text(measure.rule)
                          if has_rule and measure is not None else "")}


def catalogue_page(county: Place | None, **extra: Any):
    entries = measures_service.catalogue(county.id if county else None)
    by_area: dict[str, list[measures_service.CatalogueEntry]] = {d: [] for d in DIMENSIONS}
    for entry in entries:
        by_area.setdefault(entry.measure.area, []).append(entry)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    extra.update(amount_form_context())
    return render("manage/measures.html", county=county, by_area=by_area,
                   total=len(entries), **extra)



def plan_page(household: Household, **extra: Any):
    view = plans.plan_view(household)
    options = measures_service.catalogue(household.county_id, active_only=True)
    by_area: dict[str, list[Measure]] = {}
    for entry in options:
        by_area.setdefault(entry.measure.area, []).append(entry.measure)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    extra.setdefault("end_errors", {})
    extra.setdefault("suggestion_errors", {})
    can_suggest = (plans.can_edit_plan(household)
                   and current_user.role in SUGGESTION_ACTORS)
    return render("manage/plan.html", household=household, view=view, counties=[],
                   options=by_area, editable=plans.can_edit_plan(household) and can_act(),
                   assignment=household.current_assignment(),
                   suggestions=suggestions.suggest(household), can_suggest=can_suggest,
                   **extra)


def assignments_page(county: Place, **extra: Any):
    scope = scope_clause(county)
    q = (request.args.get("q") or "").strip()[:50]
    found: list[Household] = []
    if q:
        like = f"%{q}%"
        found = list(db.session.scalars(
            sa.select(Household).where(scope, Household.status.in_(assignments.ASSIGNABLE),
                                       sa.or_(Household.head_name.like(like),
                                              Household.file_no.like(like),
                                              Household.address.like(like)))
            .order_by(Household.head_name).limit(SEARCH_LIMIT)))
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return render(
                  "manage/assignments.html", county=county, q=q, found=found,
                  unassigned=assignments.unassigned(scope),
                  loads=assignments.helper_loads(scope, county if can_act() else None),
                  helpers=assignments.county_helpers(county) if can_act() else [],
                  earliest=assignments.earliest_effective(), latest=assignments.latest_effective(),
                  **extra)


def household_assignment_page(household: Household, **extra: Any):
    county = db.session.get(Place, household.county_id)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return render(
                  "manage/household_assignment.html", household=household, county=county,
                  counties=[],
                  current=household.current_assignment(),
                  history=list(reversed(household.assignments)),
                  helpers=assignments.county_helpers(cast(Place, county)) if can_act() else [],
                  assignable=household.status in assignments.ASSIGNABLE,
                  earliest=assignments.earliest_effective(), latest=assignments.latest_effective(),
                  **extra)


def helper_or_404(county: Place, helper_id: int) -> User:
    helper = assignments.helper_in_county(county, helper_id, active_only=False)
    if helper is None:
        abort(404)
    return helper


def helper_page(county: Place, helper: User, **extra: Any):
    held = assignments.held_by(helper, scope_clause(county), today_local())
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return render(
                  "manage/helper.html", county=county, helper=helper, held=held, counties=[],
                  helpers=[h for h in assignments.county_helpers(county) if h.id != helper.id]
                  if can_act() else [],
                  earliest=assignments.earliest_effective(), latest=assignments.latest_effective(),
                  **extra)


def exit_page(county: Place, **extra: Any):
    """The exit queue: open cases by stage with their route, waiting time and who acts; the
    households that meet the stable-exit rule; the latest exits."""
    scope = scope_clause(county)
    eligible = exits.eligible(scope)
    households = {h.id: h for h in db.session.scalars(
        sa.select(Household).where(Household.id.in_([e.household_id for e in eligible] or [0])))}
    exited = list(db.session.scalars(
        sa.select(Household).where(scope, Household.status == "exited")
        .order_by(Household.exited_on.desc(), Household.id.desc()).limit(50)))
    cases = exits.open_exit_cases(scope)
    now = now_utc()
    by_stage: dict[str, list[tuple[Case, int, bool]]] = {}
    for c in cases:
        stage = chain.STAGE_COUNTY if c.stage == chain.LEGACY_REVIEW else c.stage
        waiting = max((now - c.stage_since).days, 0)
        mine = (chain.may_decide(current_user, c) or chain.may_resubmit(current_user, c)
                or chain.may_handle_publicity(current_user, c))
        by_stage.setdefault(stage, []).append((c, waiting, mine))
    stages = [st for st in (chain.STAGE_RETURNED, *chain.CHAIN, chain.STAGE_PUBLICITY)
              if st in by_stage]
    return render("manage/exit.html", county=county, eligible=eligible,
                  households=households, cases=cases, by_stage=by_stage, stages=stages,
                  exited=exited, policy=policy_for_county(county.id), month=current_month(),
                  standard=dibao_standard(county.id, today_local()),
                  can_propose=current_user.role in chain.PROPOSERS, chain=chain, **extra)


def propose_page(household: Household, **extra: Any):
    """申请退出: choose the route, then fill in its facts."""
    values = extra.setdefault("values", {})
    extra.setdefault("errors", {})
    route = values.get("route", "")
    route = route if route in chain.ROUTES else ""
    evidence = None
    if route == "stable" and household.status == "enrolled":
        evidence = exits.evaluate(Household.id == household.id).get(household.id)
    return render("manage/exit_propose.html", household=household, counties=[], route=route,
                  spec=chain.ROUTES.get(route), routes=chain.ROUTES, evidence=evidence,
                  may_propose=chain.may_propose(current_user, household),
                  deceased=chain.deceased_members(household),
                  policy=policy_for_county(household.county_id), today=today_local(),
                  chain=chain, **extra)


def case_page(case: Case, **extra: Any):
    household = case.household
    evidence = None
    if household.status == "enrolled" and (case.exit_route or "stable") == "stable":
        evidence = exits.evaluate(Household.id == household.id).get(household.id)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    extra.setdefault("objection_errors", {})
    extra.setdefault("objection_values", {})
    holder = chain.HOLDERS.get(case.stage)
    stage_ok = (case.state == "open" and holder is not None
                and case.stage != chain.STAGE_PUBLICITY)
    objections = list(db.session.scalars(
        sa.select(Objection).where(Objection.case_id == case.id).order_by(Objection.id)))
    publicised = case.state == "open" and case.stage == chain.STAGE_PUBLICITY
    return render("manage/exit_case.html", case=case, household=household, counties=[],
                  evidence=evidence, policy=policy_for_county(household.county_id),
                  chain=chain, route=case.exit_route or "stable",
                  detail=chain.facts(case),
                  can_decide=chain.may_decide(current_user, case),
                  four_eyes=chain.four_eyes_problem(current_user, case)
                  if stage_ok and holds_step(current_user, case, holder or "") else None,
                  can_resubmit=chain.may_resubmit(current_user, case),
                  can_publicity=chain.may_handle_publicity(current_user, case),
                  blockers=chain.finish_blockers(case) if publicised else [],
                  objections=objections, outcomes=OBJECTION_OUTCOME_LABELS, **extra)


def platform_page(county: Place, **extra: Any):
    """Enrolled households not yet entered into the provincial platform, and the latest
    entries."""
    scope = scope_clause(county)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    extra.setdefault("ticked", set())
    return render("manage/platform.html", county=county, waiting=platform.not_entered(scope),
                  recent=platform.recent(scope), entered=platform.entered_count(scope), **extra)


def policy_page(county: Place, **extra: Any):
    """The county's settings with its 城镇低保标准: in force today, history, and the form."""
    row = policy_service.settings_row(county)
    updated_by = db.session.get(User, row.updated_by_id) if row and row.updated_by_id else None
    history = standards.history(county)
    extra.setdefault("standard_errors", {})
    extra.setdefault("standard_values", {})
    return render("manage/policy.html", county=county, settings=policy_service.SETTINGS,
                  row=row, updated_by=updated_by, history=history,
                  setters=standards.setters(history),
                  standard=dibao_standard(county.id, today_local()), **extra)

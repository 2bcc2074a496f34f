"""County office management: measures catalogue, household plans, helper assignments, exit
(平稳退出) and the county's policy settings.

County officers act within their county; street reviewers view (their street's households,
their county's catalogue and settings); the city supervisor views every county read-only,
choosing one with ?county=. Other roles get 404, as do records outside the user's scope.
Views parse and render; the rules live in measures, plans, assignments, exit and
places.policy. Every POST is one transaction through `formflow.submit`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.accounts import roles
from fieldwork.accounts.auth import role_required
from fieldwork.accounts.models import User
from fieldwork.accounts.scope import get_household_or_404, household_clause
from fieldwork.extensions import db
from fieldwork.formflow import submit
from fieldwork.forms_once import done, once
from fieldwork.households.constants import DIMENSIONS
from fieldwork.households.management import assignments, plans
from fieldwork.households.management import exit as exits
from fieldwork.households.management import measures as measures_service
from fieldwork.households.models import Case, Household, Measure, PlanMeasure
from fieldwork.places import policy as policy_service
from fieldwork.places.models import Place
from fieldwork.places.services import policy_for_county
from fieldwork.timeutil import current_month, today_local

bp = Blueprint("manage", __name__, url_prefix="/manage")

VIEWERS = (roles.COUNTY_OFFICER, roles.STREET_REVIEWER, roles.CITY_SUPERVISOR)
ACTORS = (roles.COUNTY_OFFICER,)
SEARCH_LIMIT = 50


# ---------------------------------------------------------------- context

def _counties() -> list[Place]:
    return list(db.session.scalars(
        sa.select(Place).where(Place.level == "county").order_by(Place.code)))


def _county(*, allow_city: bool = False) -> Place | None:
    """The county the page is about: the officer's own, the street reviewer's, or for the
    city supervisor the one chosen with ?county= (the first by code if none; with allow_city
    an empty choice means the city-wide view)."""
    user = current_user
    if user.role == roles.CITY_SUPERVISOR:
        raw = request.args.get("county", "")
        if raw == "" and allow_city:
            return None
        if raw:
            county = db.session.get(Place, int(raw)) if raw.isdigit() else None
            if county is None or county.level != "county":
                abort(404)
            return county
        counties = _counties()
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


def _scope(county: Place | None) -> ColumnElement[bool]:
    clause = household_clause(current_user)
    return sa.and_(clause, Household.county_id == county.id) if county is not None else clause


def _can_act() -> bool:
    return current_user.role in ACTORS


def _render(template: str, **context: Any) -> str:
    context.setdefault("can_act", _can_act())
    context.setdefault("counties", _counties() if current_user.role == roles.CITY_SUPERVISOR
                       else [])
    context.setdefault("today", today_local())
    return render_template(template, **context)


# ---------------------------------------------------------------- index

@bp.get("/")
@role_required(*VIEWERS)
def index():
    county = _county()
    scope = _scope(county)
    policy = policy_for_county(county.id)
    open_cases = len(exits.open_exit_cases(scope))
    unassigned = len(assignments.unassigned(scope))
    return _render("manage/index.html", county=county, policy=policy, open_cases=open_cases,
                   unassigned=unassigned)


# ---------------------------------------------------------------- measures catalogue

def _catalogue_page(county: Place | None, **extra: Any):
    entries = measures_service.catalogue(county.id if county else None)
    by_area: dict[str, list[measures_service.CatalogueEntry]] = {d: [] for d in DIMENSIONS}
    for entry in entries:
        by_area.setdefault(entry.measure.area, []).append(entry)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return _render("manage/measures.html", county=county, by_area=by_area,
                   total=len(entries), **extra)


@bp.get("/measures")
@role_required(*VIEWERS)
def measures():
    return _catalogue_page(_county(allow_city=True))


@bp.post("/measures")
@role_required(*ACTORS)
@once
def add_measure():
    county = current_user.place
    return submit(
        lambda: measures_service.add_measure(county, current_user, request.form),
        failed=lambda exc: _catalogue_page(county, errors=exc.errors, values=request.form,
                                           open_add=True),
        to=lambda measure: url_for("manage.measures", _anchor=f"measure-{measure.id}"),
        message=lambda measure: _("已添加措施“%(name)s”", name=measure.name))


def _measure_or_404(measure_id: int, county: Place | None) -> Measure:
    measure = db.session.get(Measure, measure_id)
    if measure is None:
        abort(404)
    if measure.county_id is not None and (county is None or measure.county_id != county.id):
        abort(404)
    return measure


@bp.route("/measures/<int:measure_id>/edit", methods=["GET", "POST"])
@role_required(*ACTORS)
@once
def edit_measure(measure_id: int):
    county = current_user.place
    measure = _measure_or_404(measure_id, county)
    if (measure.county_id is None
            and measures_service.get_visible_measure(county.id, measure.id) is None):
        # This county already has its own version; edit that one instead.
        abort(404)

    def page(errors: dict[str, str], values: Any):
        return _render("manage/measure_edit.html", county=county, measure=measure,
                       errors=errors, values=values)

    if request.method == "GET":
        return page({}, measure)
    return submit(
        lambda: measures_service.edit_measure(measure, county, current_user, request.form),
        failed=lambda exc: page(exc.errors, request.form),
        to=lambda saved: url_for("manage.measures", _anchor=f"measure-{saved.id}"),
        message=lambda saved: _("已保存措施“%(name)s”", name=saved.name))


@bp.post("/measures/<int:measure_id>/active")
@role_required(*ACTORS)
@once
def measure_active(measure_id: int):
    county = current_user.place
    measure = _measure_or_404(measure_id, county)
    active = request.form.get("active") == "1"
    if (measure.county_id is None
            and measures_service.get_visible_measure(county.id, measure.id) is None):
        abort(404)
    if measure.county_id is None and active:
        abort(404)
    saved = measures_service.set_active(measure, county, current_user, active)
    target = url_for("manage.measures", _anchor=f"measure-{saved.id}")
    done(target)
    db.session.commit()
    flash(_("已恢复使用“%(name)s”", name=saved.name) if active
          else _("已停用“%(name)s”：已在帮扶计划中的不受影响，新计划中不再可选", name=saved.name),
          "success")
    return redirect(target)


# ---------------------------------------------------------------- household plan

def _plan_page(household: Household, **extra: Any):
    view = plans.plan_view(household)
    options = measures_service.catalogue(household.county_id, active_only=True)
    by_area: dict[str, list[Measure]] = {}
    for entry in options:
        by_area.setdefault(entry.measure.area, []).append(entry.measure)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    extra.setdefault("end_errors", {})
    return _render("manage/plan.html", household=household, view=view, counties=[],
                   options=by_area, editable=plans.can_edit_plan(household) and _can_act(),
                   assignment=household.current_assignment(), **extra)


@bp.get("/households/<int:household_id>/plan")
@role_required(*VIEWERS)
def plan(household_id: int):
    return _plan_page(get_household_or_404(current_user, household_id))


@bp.post("/households/<int:household_id>/plan")
@role_required(*ACTORS)
@once
def add_plan_measure(household_id: int):
    household = get_household_or_404(current_user, household_id)
    return submit(
        lambda: plans.add_to_plan(household, current_user, request.form),
        failed=lambda exc: _plan_page(household, errors=exc.errors, values=request.form),
        to=url_for("manage.plan", household_id=household.id),
        message=lambda pm: _("已将“%(name)s”加入帮扶计划", name=pm.measure.name))


@bp.post("/households/<int:household_id>/plan/<int:entry_id>/end")
@role_required(*ACTORS)
@once
def end_plan_measure(household_id: int, entry_id: int):
    household = get_household_or_404(current_user, household_id)
    pm = db.session.get(PlanMeasure, entry_id)
    if pm is None or pm.household_id != household.id:
        abort(404)
    return submit(
        lambda: plans.end_plan_measure(household, pm, current_user, request.form),
        # One row of the plan shows the refusal, next to its own end date.
        failed=lambda exc: _plan_page(household, end_errors={entry_id: exc.message},
                                      end_values={entry_id: request.form.get("end_date", "")}),
        to=url_for("manage.plan", household_id=household.id),
        message=lambda _result: _("已设置“%(name)s”的结束日期", name=pm.measure.name))


# ---------------------------------------------------------------- assignments

def _assignments_page(county: Place, **extra: Any):
    scope = _scope(county)
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
    return _render(
        "manage/assignments.html", county=county, q=q, found=found,
        unassigned=assignments.unassigned(scope),
        loads=assignments.helper_loads(scope, county if _can_act() else None),
        helpers=assignments.county_helpers(county) if _can_act() else [],
        earliest=assignments.earliest_effective(), latest=assignments.latest_effective(),
        **extra)


@bp.get("/assignments")
@role_required(*VIEWERS)
def assignments_index():
    return _assignments_page(_county())


@bp.post("/assignments/assign")
@role_required(*ACTORS)
@once
def assign():
    """Give an unassigned household its helper (the form on the assignments page)."""
    county = current_user.place
    raw = request.form.get("household_id", "")
    if not raw.isdigit():
        abort(404)
    household = get_household_or_404(current_user, int(raw))

    def message(move: assignments.Move) -> str:
        helper = db.session.get(User, move.household.assignments[-1].helper_id)
        return _("已为 %(name)s 指定帮扶责任人 %(helper)s", name=household.head_name,
                 helper=helper.name if helper else "")

    return submit(
        lambda: assignments.set_helper(household, county, current_user, request.form),
        # The list shows the refusal on the household's own row.
        failed=lambda exc: _assignments_page(county, errors={household.id: exc.message},
                                             values=request.form),
        to=url_for("manage.assignments_index"), message=message)


def _household_assignment_page(household: Household, **extra: Any):
    county = db.session.get(Place, household.county_id)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return _render(
        "manage/household_assignment.html", household=household, county=county,
        counties=[],
        current=household.current_assignment(),
        history=list(reversed(household.assignments)),
        helpers=assignments.county_helpers(county) if _can_act() else [],
        assignable=household.status in assignments.ASSIGNABLE,
        earliest=assignments.earliest_effective(), latest=assignments.latest_effective(),
        **extra)


@bp.get("/households/<int:household_id>/assignment")
@role_required(*VIEWERS)
def household_assignment(household_id: int):
    return _household_assignment_page(get_household_or_404(current_user, household_id))


@bp.post("/households/<int:household_id>/assignment")
@role_required(*ACTORS)
@once
def reassign(household_id: int):
    household = get_household_or_404(current_user, household_id)
    return submit(
        lambda: assignments.set_helper(household, current_user.place, current_user,
                                       request.form),
        failed=lambda exc: _household_assignment_page(household, errors=exc.errors,
                                                      values=request.form),
        to=url_for("manage.household_assignment", household_id=household.id),
        message=_("帮扶责任人已调整"))


def _helper_or_404(county: Place, helper_id: int) -> User:
    helper = assignments.helper_in_county(county, helper_id, active_only=False)
    if helper is None:
        abort(404)
    return helper


def _helper_page(county: Place, helper: User, **extra: Any):
    held = assignments.held_by(helper, _scope(county), today_local())
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return _render(
        "manage/helper.html", county=county, helper=helper, held=held, counties=[],
        helpers=[h for h in assignments.county_helpers(county) if h.id != helper.id]
        if _can_act() else [],
        earliest=assignments.earliest_effective(), latest=assignments.latest_effective(),
        **extra)


@bp.get("/assignments/helpers/<int:helper_id>")
@role_required(*VIEWERS)
def helper(helper_id: int):
    county = _county()
    return _helper_page(county, _helper_or_404(county, helper_id))


@bp.post("/assignments/helpers/<int:helper_id>/transfer")
@role_required(*ACTORS)
@once
def transfer(helper_id: int):
    county = current_user.place
    departing = _helper_or_404(county, helper_id)

    def message(result: assignments.Transfer) -> str:
        text = _("已将 %(n)d 户移交给新的帮扶责任人", n=len(result.moves))
        if result.deactivated:
            text += _("；%(name)s 的账号已停用", name=departing.name)
        return text

    return submit(
        lambda: assignments.transfer_all(departing, county, current_user, request.form),
        failed=lambda exc: _helper_page(county, departing, errors=exc.errors,
                                        values=request.form),
        to=url_for("manage.helper", helper_id=departing.id), message=message)


# ---------------------------------------------------------------- exit

def _exit_page(county: Place, **extra: Any):
    scope = _scope(county)
    eligible = exits.eligible(scope)
    households = {h.id: h for h in db.session.scalars(
        sa.select(Household).where(Household.id.in_([e.household_id for e in eligible] or [0])))}
    exited = list(db.session.scalars(
        sa.select(Household).where(scope, Household.status == "exited")
        .order_by(Household.exited_on.desc(), Household.id.desc()).limit(50)))
    return _render("manage/exit.html", county=county, eligible=eligible,
                   households=households, cases=exits.open_exit_cases(scope), exited=exited,
                   policy=policy_for_county(county.id), month=current_month(), **extra)


@bp.get("/exit")
@role_required(*VIEWERS)
def exit_list():
    return _exit_page(_county())


@bp.post("/exit/households/<int:household_id>/propose")
@role_required(*ACTORS)
@once
def propose_exit(household_id: int):
    household = get_household_or_404(current_user, household_id)
    return submit(
        lambda: exits.propose(household, current_user, request.form),
        failed=lambda exc: _exit_page(current_user.place, problem=exc.message,
                                      problem_household=household),
        to=lambda case: url_for("manage.exit_case", case_id=case.id),
        message=_("已提出 %(name)s 的退出申请，待审核", name=household.head_name))


def _case_or_404(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or case.kind != exits.KIND:
        abort(404)
    get_household_or_404(current_user, case.household_id)
    return case


def _case_page(case: Case, **extra: Any):
    household = case.household
    evidence = None
    if household.status == "enrolled":
        evidence = exits.evaluate(Household.id == household.id).get(household.id)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return _render("manage/exit_case.html", case=case, household=household, counties=[],
                   evidence=evidence, policy=policy_for_county(household.county_id), **extra)


@bp.get("/exit/cases/<int:case_id>")
@role_required(*VIEWERS)
def exit_case(case_id: int):
    return _case_page(_case_or_404(case_id))


@bp.post("/exit/cases/<int:case_id>/decide")
@role_required(*ACTORS)
@once
def decide_exit(case_id: int):
    case = _case_or_404(case_id)
    return submit(
        lambda: exits.decide(case, current_user, request.form),
        failed=lambda exc: _case_page(case, errors=exc.errors, values=request.form),
        to=url_for("manage.exit_case", case_id=case.id),
        message=lambda decision: {
            "approve": _("已同意退出：该户已转为“已退出”，帮扶责任人和帮扶措施同日结束"),
            "return": _("已退回，待补充后重新提交"),
            "reject": _("已不同意退出，该户继续帮扶")}[decision.decision])


@bp.post("/exit/cases/<int:case_id>/resubmit")
@role_required(*ACTORS)
@once
def resubmit_exit(case_id: int):
    case = _case_or_404(case_id)
    return submit(
        lambda: exits.resubmit(case, current_user, request.form),
        failed=lambda exc: _case_page(case, errors=exc.errors, values=request.form),
        to=url_for("manage.exit_case", case_id=case.id), message=_("已重新提交退出申请"))


# ---------------------------------------------------------------- policy

@bp.route("/policy", methods=["GET", "POST"])
@role_required(*VIEWERS)
@once
def policy():
    user = current_user
    if user.role == roles.CITY_SUPERVISOR:
        if request.method == "POST":
            abort(404)
        return _render("manage/policy_city.html", rows=policy_service.all_counties(), counties=[],
                       settings=policy_service.SETTINGS)
    county = _county()

    def page(errors: dict[str, str], values: Any):
        row = policy_service.settings_row(county)
        updated_by = (db.session.get(User, row.updated_by_id) if row and row.updated_by_id
                      else None)
        return _render("manage/policy.html", county=county, settings=policy_service.SETTINGS,
                       values=values, errors=errors, row=row, updated_by=updated_by)

    if request.method == "GET":
        return page({}, policy_service.current_values(county))
    if not _can_act():
        abort(404)

    def message(changes: dict[str, Any]) -> tuple[str, str]:
        if changes:
            return _("政策参数已保存，共修改 %(n)d 项；走访手机将在下次同步时更新",
                     n=len(changes)), "success"
        return _("没有修改任何参数"), "info"

    return submit(lambda: policy_service.update(county, user, request.form),
                  failed=lambda exc: page(exc.errors, request.form),
                  to=url_for("manage.policy"), message=message)

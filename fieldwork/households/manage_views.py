"""County office management: measures catalogue, household plans, helper assignments, exit
(平稳退出) and the county's policy settings.

County officers act within their county; street reviewers view (their street's households,
their county's catalogue and settings); the city supervisor views every county read-only,
choosing one with ?county=. Other roles get 404, as do records outside the user's scope.
Views parse and render; the rules live in plans, assignments, exit and places.policy.
"""

from __future__ import annotations

from typing import Any, cast

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
from fieldwork.forms_once import done, once
from fieldwork.households import assignments, plans
from fieldwork.households import exit as exits
from fieldwork.households.constants import DIMENSIONS
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


def _render(template: str, status: int = 200, **context: Any):
    context.setdefault("can_act", _can_act())
    context.setdefault("counties", _counties() if current_user.role == roles.CITY_SUPERVISOR
                       else [])
    context.setdefault("today", today_local())
    return render_template(template, **context), status


def _first_error(errors: dict[str, str]) -> str:
    return next(iter(errors.values()), _("提交的内容有误"))


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

def _catalogue_page(county: Place | None, status: int = 200, **extra: Any):
    entries = plans.catalogue(county.id if county else None)
    by_area: dict[str, list[plans.CatalogueEntry]] = {d: [] for d in DIMENSIONS}
    for entry in entries:
        by_area.setdefault(entry.measure.area, []).append(entry)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return _render("manage/measures.html", status, county=county, by_area=by_area,
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
    try:
        measure = plans.add_measure(county, current_user, request.form)
    except plans.PlanError as exc:
        db.session.rollback()
        return _catalogue_page(county, 422, errors=exc.errors, values=request.form,
                               open_add=True)
    target = url_for("manage.measures", _anchor=f"measure-{measure.id}")
    done(target)
    db.session.commit()
    flash(_("已添加措施“%(name)s”", name=measure.name), "success")
    return redirect(target)


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
    if measure.county_id is None and plans.get_visible_measure(county.id, measure.id) is None:
        # This county already has its own version; edit that one instead.
        abort(404)
    errors: dict[str, str] = {}
    values: Any = measure
    if request.method == "POST":
        try:
            saved = plans.edit_measure(measure, county, current_user, request.form)
        except plans.PlanError as exc:
            db.session.rollback()
            errors, values = exc.errors, request.form
        else:
            target = url_for("manage.measures", _anchor=f"measure-{saved.id}")
            done(target)
            db.session.commit()
            flash(_("已保存措施“%(name)s”", name=saved.name), "success")
            return redirect(target)
    return _render("manage/measure_edit.html", 422 if errors else 200, county=county,
                   measure=measure, errors=errors, values=values)


@bp.post("/measures/<int:measure_id>/active")
@role_required(*ACTORS)
@once
def measure_active(measure_id: int):
    county = current_user.place
    measure = _measure_or_404(measure_id, county)
    active = request.form.get("active") == "1"
    if measure.county_id is None and plans.get_visible_measure(county.id, measure.id) is None:
        abort(404)
    if measure.county_id is None and active:
        abort(404)
    saved = plans.set_active(measure, county, current_user, active)
    target = url_for("manage.measures", _anchor=f"measure-{saved.id}")
    done(target)
    db.session.commit()
    flash(_("已恢复使用“%(name)s”", name=saved.name) if active
          else _("已停用“%(name)s”：已在帮扶计划中的不受影响，新计划中不再可选", name=saved.name),
          "success")
    return redirect(target)


# ---------------------------------------------------------------- household plan

def _plan_page(household: Household, status: int = 200, **extra: Any):
    view = plans.plan_view(household)
    options = plans.catalogue(household.county_id, active_only=True)
    by_area: dict[str, list[Measure]] = {}
    for entry in options:
        by_area.setdefault(entry.measure.area, []).append(entry.measure)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    extra.setdefault("end_errors", {})
    return _render("manage/plan.html", status, household=household, view=view, counties=[],
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
    try:
        pm = plans.add_to_plan(household, current_user, request.form)
    except plans.PlanError as exc:
        db.session.rollback()
        return _plan_page(household, 422, errors=exc.errors, values=request.form)
    done(url_for("manage.plan", household_id=household.id))
    db.session.commit()
    flash(_("已将“%(name)s”加入帮扶计划", name=pm.measure.name), "success")
    return redirect(url_for("manage.plan", household_id=household.id))


@bp.post("/households/<int:household_id>/plan/<int:entry_id>/end")
@role_required(*ACTORS)
@once
def end_plan_measure(household_id: int, entry_id: int):
    household = get_household_or_404(current_user, household_id)
    pm = db.session.get(PlanMeasure, entry_id)
    if pm is None or pm.household_id != household.id:
        abort(404)
    try:
        plans.end_plan_measure(household, pm, current_user, request.form)
    except plans.PlanError as exc:
        db.session.rollback()
        return _plan_page(household, 422, end_errors={entry_id: _first_error(exc.errors)},
                          end_values={entry_id: request.form.get("end_date", "")})
    done(url_for("manage.plan", household_id=household.id))
    db.session.commit()
    flash(_("已设置“%(name)s”的结束日期", name=pm.measure.name), "success")
    return redirect(url_for("manage.plan", household_id=household.id))


# ---------------------------------------------------------------- assignments

def _assignments_page(county: Place, status: int = 200, **extra: Any):
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
        "manage/assignments.html", status, county=county, q=q, found=found,
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
    try:
        move = assignments.set_helper(household, county, current_user, request.form)
    except assignments.AssignmentError as exc:
        db.session.rollback()
        return _assignments_page(county, 422, errors={household.id: _first_error(exc.errors)},
                                 values=request.form)
    done(url_for("manage.assignments_index"))
    db.session.commit()
    helper = db.session.get(User, move.household.assignments[-1].helper_id)
    flash(_("已为 %(name)s 指定帮扶责任人 %(helper)s", name=household.head_name,
            helper=helper.name if helper else ""), "success")
    return redirect(url_for("manage.assignments_index"))


def _household_assignment_page(household: Household, status: int = 200, **extra: Any):
    county = db.session.get(Place, household.county_id)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return _render(
        "manage/household_assignment.html", status, household=household, county=county,
        counties=[],
        current=household.current_assignment(),
        history=list(reversed(household.assignments)),
        helpers=assignments.county_helpers(cast(Place, county)) if _can_act() else [],
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
    try:
        assignments.set_helper(household, current_user.place, current_user, request.form)
    except assignments.AssignmentError as exc:
        db.session.rollback()
        return _household_assignment_page(household, 422, errors=exc.errors,
                                          values=request.form)
    done(url_for("manage.household_assignment", household_id=household.id))
    db.session.commit()
    flash(_("帮扶责任人已调整"), "success")
    return redirect(url_for("manage.household_assignment", household_id=household.id))


def _helper_or_404(county: Place, helper_id: int) -> User:
    helper = assignments.helper_in_county(county, helper_id, active_only=False)
    if helper is None:
        abort(404)
    return helper


def _helper_page(county: Place, helper: User, status: int = 200, **extra: Any):
    held = assignments.held_by(helper, _scope(county), today_local())
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return _render(
        "manage/helper.html", status, county=county, helper=helper, held=held, counties=[],
        helpers=[h for h in assignments.county_helpers(county) if h.id != helper.id]
        if _can_act() else [],
        earliest=assignments.earliest_effective(), latest=assignments.latest_effective(),
        **extra)


@bp.get("/assignments/helpers/<int:helper_id>")
@role_required(*VIEWERS)
def helper(helper_id: int):
    county = cast(Place, _county())  # None only with allow_city
    return _helper_page(county, _helper_or_404(county, helper_id))


@bp.post("/assignments/helpers/<int:helper_id>/transfer")
@role_required(*ACTORS)
@once
def transfer(helper_id: int):
    county = current_user.place
    departing = _helper_or_404(county, helper_id)
    try:
        result = assignments.transfer_all(departing, county, current_user, request.form)
    except assignments.AssignmentError as exc:
        db.session.rollback()
        return _helper_page(county, departing, 422, errors=exc.errors, values=request.form)
    done(url_for("manage.helper", helper_id=departing.id))
    db.session.commit()
    message = _("已将 %(n)d 户移交给新的帮扶责任人", n=len(result.moves))
    if result.deactivated:
        message += _("；%(name)s 的账号已停用", name=departing.name)
    flash(message, "success")
    return redirect(url_for("manage.helper", helper_id=departing.id))


# ---------------------------------------------------------------- exit

def _exit_page(county: Place, status: int = 200, **extra: Any):
    scope = _scope(county)
    eligible = exits.eligible(scope)
    households = {h.id: h for h in db.session.scalars(
        sa.select(Household).where(Household.id.in_([e.household_id for e in eligible] or [0])))}
    exited = list(db.session.scalars(
        sa.select(Household).where(scope, Household.status == "exited")
        .order_by(Household.exited_on.desc(), Household.id.desc()).limit(50)))
    return _render("manage/exit.html", status, county=county, eligible=eligible,
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
    try:
        case = exits.propose(household, current_user, request.form)
    except exits.ExitError as exc:
        db.session.rollback()
        return _exit_page(current_user.place, 422, problem=_first_error(exc.errors),
                          problem_household=household)
    done(url_for("manage.exit_case", case_id=case.id))
    db.session.commit()
    flash(_("已提出 %(name)s 的退出申请，待审核", name=household.head_name), "success")
    return redirect(url_for("manage.exit_case", case_id=case.id))


def _case_or_404(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or case.kind != exits.KIND:
        abort(404)
    get_household_or_404(current_user, case.household_id)
    return case


def _case_page(case: Case, status: int = 200, **extra: Any):
    household = case.household
    evidence = None
    if household.status == "enrolled":
        evidence = exits.evaluate(Household.id == household.id).get(household.id)
    extra.setdefault("errors", {})
    extra.setdefault("values", {})
    return _render("manage/exit_case.html", status, case=case, household=household, counties=[],
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
    try:
        decision = exits.decide(case, current_user, request.form)
    except exits.ExitError as exc:
        db.session.rollback()
        return _case_page(case, 422, errors=exc.errors, values=request.form)
    done(url_for("manage.exit_case", case_id=case.id))
    db.session.commit()
    flash({"approve": _("已同意退出：该户已转为“已退出”，帮扶责任人和帮扶措施同日结束"),
           "return": _("已退回，待补充后重新提交"),
           "reject": _("已不同意退出，该户继续帮扶")}[decision.decision], "success")
    return redirect(url_for("manage.exit_case", case_id=case.id))


@bp.post("/exit/cases/<int:case_id>/resubmit")
@role_required(*ACTORS)
@once
def resubmit_exit(case_id: int):
    case = _case_or_404(case_id)
    try:
        exits.resubmit(case, current_user, request.form)
    except exits.ExitError as exc:
        db.session.rollback()
        return _case_page(case, 422, errors=exc.errors, values=request.form)
    done(url_for("manage.exit_case", case_id=case.id))
    db.session.commit()
    flash(_("已重新提交退出申请"), "success")
    return redirect(url_for("manage.exit_case", case_id=case.id))


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
    errors: dict[str, str] = {}
    values: Any = policy_service.current_values(county)
    if request.method == "POST":
        if not _can_act():
            abort(404)
        try:
            changes = policy_service.update(county, user, request.form)
        except policy_service.PolicyError as exc:
            db.session.rollback()
            errors, values = exc.errors, request.form
        else:
            done(url_for("manage.policy"))
            db.session.commit()
            if changes:
                flash(_("政策参数已保存，共修改 %(n)d 项；走访手机将在下次同步时更新",
                        n=len(changes)), "success")
            else:
                flash(_("没有修改任何参数"), "info")
            return redirect(url_for("manage.policy"))
    row = policy_service.settings_row(county)
    updated_by = db.session.get(User, row.updated_by_id) if row and row.updated_by_id else None
    return _render("manage/policy.html", 422 if errors else 200, county=county,
                   settings=policy_service.SETTINGS, values=values, errors=errors, row=row,
                   updated_by=updated_by)

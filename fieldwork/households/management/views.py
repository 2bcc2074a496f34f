"""County office management: measures catalogue, household plans, helper assignments, exit
(平稳退出) and the county's policy settings.

County officers act within their county; street reviewers view (their street's households,
their county's catalogue and settings); the city supervisor views every county read-only,
choosing one with ?county=. Other roles get 404, as do records outside the user's scope.
Views parse and render; the rules live in measures, plans, assignments, exit and
places.policy. Every POST is one transaction through `formflow.submit`.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.access.scope import (
    get_case_or_404,
    get_household_or_404,
    get_measure_or_404,
    get_objection_or_404,
    get_plan_measure_or_404,
)
from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.formflow import submit
from fieldwork.forms_once import done, once
from fieldwork.households.intake import publicity
from fieldwork.households.management import assignments, pages, plans, platform, suggestions
from fieldwork.households.management import exit as exits
from fieldwork.households.management import exit_chain as chain
from fieldwork.households.management import measures as measures_service
from fieldwork.households.models import Case
from fieldwork.places import policy as policy_service
from fieldwork.places import standards
from fieldwork.places.models import Place
from fieldwork.places.services import policy_for_county
from fieldwork.places.standards import dibao_standard
from fieldwork.timeutil import today_local

bp = Blueprint("manage", __name__, url_prefix="/manage")

VIEWERS, ACTORS = pages.VIEWERS, pages.ACTORS


# ---------------------------------------------------------------- index

@bp.get("/")
@role_required(*VIEWERS)
def index():
    county = pages.county()
    scope = pages.scope_clause(county)
    policy = policy_for_county(county.id)
    open_cases = len(exits.open_exit_cases(scope))
    unassigned = len(assignments.unassigned(scope))
    return pages.render("manage/index.html", county=county, policy=policy, open_cases=open_cases,
                        unassigned=unassigned, standard=dibao_standard(county.id, today_local()))


# ---------------------------------------------------------------- measures catalogue

@bp.get("/measures")
@role_required(*VIEWERS)
def measures():
    return pages.catalogue_page(pages.county(allow_city=True))


@bp.post("/measures")
@role_required(*ACTORS)
@once
def add_measure():
    county = current_user.place
    return submit(
        lambda: measures_service.add_measure(county, current_user, request.form),
        failed=lambda exc: pages.catalogue_page(county, errors=exc.errors, values=request.form,
                                                open_add=True),
        to=lambda measure: url_for("manage.measures", _anchor=f"measure-{measure.id}"),
        message=lambda measure: _("已添加措施“%(name)s”", name=measure.name))


@bp.route("/measures/<int:measure_id>/edit", methods=["GET", "POST"])
@role_required(*ACTORS)
@once
def edit_measure(measure_id: int):
    county = current_user.place
    measure = get_measure_or_404(measure_id, county)
    if (measure.county_id is None
            and measures_service.get_visible_measure(county.id, measure.id) is None):
        # This county already has its own version; edit that one instead.
        abort(404)

    def page(errors: dict[str, str], values: Any):
        return pages.render("manage/measure_edit.html", county=county, measure=measure,
                            errors=errors, values=values,
                            **pages.amount_form_context(measure))

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
    measure = get_measure_or_404(measure_id, county)
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

@bp.get("/households/<int:household_id>/plan")
@role_required(*VIEWERS)
def plan(household_id: int):
    return pages.plan_page(get_household_or_404(current_user, household_id))


@bp.post("/households/<int:household_id>/plan")
@role_required(*ACTORS)
@once
def add_plan_measure(household_id: int):
    household = get_household_or_404(current_user, household_id)
    return submit(
        lambda: plans.add_to_plan(household, current_user, request.form),
        failed=lambda exc: pages.plan_page(household, errors=exc.errors, values=request.form),
        to=url_for("manage.plan", household_id=household.id),
        message=lambda pm: _("已将“%(name)s”加入帮扶计划", name=pm.measure.name))


@bp.post("/households/<int:household_id>/plan/<int:entry_id>/end")
@role_required(*ACTORS)
@once
def end_plan_measure(household_id: int, entry_id: int):
    household = get_household_or_404(current_user, household_id)
    pm = get_plan_measure_or_404(household, entry_id)
    return submit(
        lambda: plans.end_plan_measure(household, pm, current_user, request.form),
        # One row of the plan shows the refusal, next to its own end date.
        failed=lambda exc: pages.plan_page(household, end_errors={entry_id: exc.message},
                                           end_values={entry_id: request.form.get("end_date", "")}),
        to=url_for("manage.plan", household_id=household.id),
        message=lambda _result: _("已设置“%(name)s”的结束日期", name=pm.measure.name))


@bp.post("/households/<int:household_id>/plan/suggestions")
@role_required(*pages.SUGGESTION_ACTORS)
@once
def plan_suggestion(household_id: int):
    """Accept (add to the plan) or dismiss one suggested measure."""
    household = get_household_or_404(current_user, household_id)
    key = request.form.get("key", "")
    if request.form.get("action") == "dismiss":
        return submit(
            lambda: suggestions.dismiss(household, current_user, key),
            failed=lambda exc: pages.plan_page(household, suggestion_errors=exc.errors),
            to=url_for("manage.plan", household_id=household.id, _anchor="suggestions"),
            message=lambda s: _("已不再建议“%(name)s”", name=s.measure.name))
    return submit(
        lambda: suggestions.accept(household, current_user, key),
        failed=lambda exc: pages.plan_page(household, suggestion_errors=exc.errors),
        to=url_for("manage.plan", household_id=household.id, _anchor="suggestions"),
        message=lambda pm: _("已将“%(name)s”加入帮扶计划", name=pm.measure.name))


# ---------------------------------------------------------------- assignments

@bp.get("/assignments")
@role_required(*VIEWERS)
def assignments_index():
    return pages.assignments_page(pages.county())


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
        failed=lambda exc: pages.assignments_page(county, errors={household.id: exc.message},
                                                  values=request.form),
        to=url_for("manage.assignments_index"), message=message)


@bp.get("/households/<int:household_id>/assignment")
@role_required(*VIEWERS)
def household_assignment(household_id: int):
    return pages.household_assignment_page(get_household_or_404(current_user, household_id))


@bp.post("/households/<int:household_id>/assignment")
@role_required(*ACTORS)
@once
def reassign(household_id: int):
    household = get_household_or_404(current_user, household_id)
    return submit(
        lambda: assignments.set_helper(household, current_user.place, current_user,
                                       request.form),
        failed=lambda exc: pages.household_assignment_page(household, errors=exc.errors,
                                                           values=request.form),
        to=url_for("manage.household_assignment", household_id=household.id),
        message=_("帮扶责任人已调整"))


@bp.get("/assignments/helpers/<int:helper_id>")
@role_required(*VIEWERS)
def helper(helper_id: int):
    county = cast(Place, pages.county())  # None only with allow_city
    return pages.helper_page(county, pages.helper_or_404(county, helper_id))


@bp.post("/assignments/helpers/<int:helper_id>/transfer")
@role_required(*ACTORS)
@once
def transfer(helper_id: int):
    county = current_user.place
    departing = pages.helper_or_404(county, helper_id)

    def message(result: assignments.Transfer) -> str:
        text = _("已将 %(n)d 户移交给新的帮扶责任人", n=len(result.moves))
        if result.deactivated:
            text += _("；%(name)s 的账号已停用", name=departing.name)
        return text

    return submit(
        lambda: assignments.transfer_all(departing, county, current_user, request.form),
        failed=lambda exc: pages.helper_page(county, departing, errors=exc.errors,
                                             values=request.form),
        to=url_for("manage.helper", helper_id=departing.id), message=message)


# ---------------------------------------------------------------- exit

EXIT_USERS = pages.EXIT_USERS


@bp.get("/exit")
@role_required(*EXIT_USERS)
def exit_list():
    return pages.exit_page(pages.county())


@bp.route("/exit/households/<int:household_id>/propose", methods=["GET", "POST"])
@role_required(*EXIT_USERS)
@once
def propose_exit(household_id: int):
    """申请退出: the route first, then its facts (GET ?route= shows the route's fields)."""
    household = get_household_or_404(current_user, household_id)
    if request.method == "GET":
        return pages.propose_page(household, values=request.args)
    return submit(
        lambda: chain.propose(household, current_user, request.form),
        failed=lambda exc: pages.propose_page(household, errors=exc.errors,
                                              values=request.form),
        to=lambda case: url_for("manage.exit_case", case_id=case.id),
        message=_("已提出 %(name)s 的退出申请，待社区签署意见", name=household.head_name))


@bp.get("/exit/cases/<int:case_id>")
@role_required(*EXIT_USERS)
def exit_case(case_id: int):
    return pages.case_page(get_case_or_404(current_user, case_id, kind=exits.KIND))


DECIDED = {"approve": _l("已同意，转下一环节"), "return": _l("已退回上一环节"),
           "reject": _l("已不同意退出，该户继续帮扶")}


def _decided_message(case: Case, decision: str) -> str:
    if decision == "approve" and case.stage == chain.STAGE_PUBLICITY:
        return _("已批准退出，进入公示；公示期满无异议后由县级解困办确认生效")
    if decision == "approve" and case.state == "approved":
        return _("已批准退出：该户转为“已退出”，帮扶责任人和帮扶措施于退出日期结束")
    return str(DECIDED[decision])


@bp.post("/exit/cases/<int:case_id>/decide")
@role_required(*EXIT_USERS)
@once
def decide_exit(case_id: int):
    case = get_case_or_404(current_user, case_id, kind=exits.KIND)
    return submit(
        lambda: chain.decide(case, current_user, request.form,
                             expect_stage=request.form.get("stage") or None),
        failed=lambda exc: pages.case_page(case, errors=exc.errors, values=request.form),
        to=url_for("manage.exit_case", case_id=case.id),
        message=lambda decision: _decided_message(case, decision.decision))


@bp.post("/exit/cases/<int:case_id>/resubmit")
@role_required(*EXIT_USERS)
@once
def resubmit_exit(case_id: int):
    case = get_case_or_404(current_user, case_id, kind=exits.KIND)
    return submit(
        lambda: chain.resubmit(case, current_user, request.form),
        failed=lambda exc: pages.case_page(case, errors=exc.errors, values=request.form),
        to=url_for("manage.exit_case", case_id=case.id), message=_("已重新提交退出申请"))


@bp.post("/exit/cases/<int:case_id>/objections")
@role_required(*ACTORS)
@once
def exit_objection(case_id: int):
    case = get_case_or_404(current_user, case_id, kind=exits.KIND)
    return submit(
        lambda: publicity.record_objection(current_user, case, request.form.get("text", ""),
                                           request.form.get("raised_by", "")),
        failed=lambda exc: pages.case_page(case, objection_errors=exc.errors,
                                           objection_values=request.form),
        to=url_for("manage.exit_case", case_id=case.id, _anchor="publicity"),
        message=_("已登记异议，处理前退出不能生效"))


@bp.post("/exit/cases/<int:case_id>/objections/<int:objection_id>/resolve")
@role_required(*ACTORS)
@once
def resolve_exit_objection(case_id: int, objection_id: int):
    case = get_case_or_404(current_user, case_id, kind=exits.KIND)
    objection = get_objection_or_404(case, objection_id)
    return submit(
        lambda: publicity.resolve_objection(current_user, objection,
                                            request.form.get("outcome", ""),
                                            request.form.get("resolution", "")),
        failed=lambda exc: pages.case_page(case, objection_errors=exc.errors,
                                           objection_values=request.form),
        to=url_for("manage.exit_case", case_id=case.id, _anchor="publicity"),
        message=_("异议已处理"))


@bp.post("/exit/cases/<int:case_id>/finish")
@role_required(*ACTORS)
@once
def finish_exit(case_id: int):
    case = get_case_or_404(current_user, case_id, kind=exits.KIND)
    return submit(
        lambda: chain.finish_publicity(case, current_user),
        failed=lambda exc: pages.case_page(case, errors=exc.errors, values=request.form),
        to=url_for("manage.exit_case", case_id=case.id),
        message=_("公示期满无异议，退出已生效：该户转为“已退出”"))


# ---------------------------------------------------------------- provincial platform

@bp.get("/platform")
@role_required(*VIEWERS)
def platform_list():
    return pages.platform_page(pages.county())


@bp.post("/platform")
@role_required(*ACTORS)
@once
def record_platform_entry():
    """Record that the ticked households were entered into 低收入人口动态监测信息平台."""
    county = current_user.place
    ids = platform.household_ids(request.form.getlist("household_ids"))
    households = platform.in_scope(pages.scope_clause(county), ids) if ids is not None else None
    if households is None:
        abort(404)
    return submit(
        lambda: platform.record(households, current_user, request.form),
        failed=lambda exc: pages.platform_page(county, errors=exc.errors, values=request.form,
                                               ticked=set(ids or [])),
        to=url_for("manage.platform_list"),
        message=lambda entries: _("已登记 %(n)d 户录入低收入人口动态监测信息平台",
                                  n=len(entries)))


# ---------------------------------------------------------------- policy

@bp.route("/policy", methods=["GET", "POST"])
@role_required(*VIEWERS)
@once
def policy():
    user = current_user
    if user.role == roles.CITY_SUPERVISOR:
        if request.method == "POST":
            abort(404)
        rows = policy_service.all_counties()
        in_force = standards.dibao_standards([c.id for c, _v, _r in rows], today_local())
        return pages.render("manage/policy_city.html", rows=rows, counties=[],
                            settings=policy_service.SETTINGS, standards=in_force)
    county = pages.county()

    def page(errors: dict[str, str], values: Any):
        return pages.policy_page(county, errors=errors, values=values)

    if request.method == "GET":
        return page({}, policy_service.current_values(county))
    if not pages.can_act():
        abort(404)

    def message(changes: dict[str, Any]) -> tuple[str, str]:
        if changes:
            return _("政策参数已保存，共修改 %(n)d 项；走访手机将在下次同步时更新",
                     n=len(changes)), "success"
        return _("没有修改任何参数"), "info"

    return submit(lambda: policy_service.update(county, user, request.form),
                  failed=lambda exc: page(exc.errors, request.form),
                  to=url_for("manage.policy"), message=message)


@bp.post("/policy/dibao-standard")
@role_required(*ACTORS)
@once
def set_dibao_standard():
    """A new value of the county's 城镇低保标准 from its effective date (the same page)."""
    county = current_user.place
    return submit(
        lambda: standards.set_standard(county, current_user, request.form),
        failed=lambda exc: pages.policy_page(
            county, errors={}, values=policy_service.current_values(county),
            standard_errors=exc.errors, standard_values=request.form),
        to=url_for("manage.policy", _anchor="dibao-standard"),
        message=lambda row: _("已录入城镇低保标准：%(d)s 起每人每月 %(v)s 元",
                              d=row.effective_from.isoformat(), v=row.amount))

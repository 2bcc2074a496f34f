"""Review chains (辖区/部门/行业), publicity (公示) and enrolment: the pages.

Thin views over the intake services (steps, cases, reports, decisions, publicity, enrolment,
queues), which hold every rule. A case out of the user's scope answers 404; a case they can
see but whose step is not theirs answers 403 to a POST. Each POST is one transaction through
`formflow.submit`: the service adds, then one commit, or a roll back and the page again.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.access.scope import get_case_or_404, get_objection_or_404, get_report_or_404
from fieldwork.errors import FormError
from fieldwork.formflow import submit
from fieldwork.forms_once import once
from fieldwork.households.constants import DECISION_LABELS
from fieldwork.households.intake import (
    cases,
    decisions,
    enrolment,
    pages,
    publicity,
    queues,
    reports,
    steps,
)
from fieldwork.households.models import Case
from fieldwork.timeutil import today_local

bp = Blueprint("reviews", __name__, url_prefix="/reviews")

ACTORS = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER, roles.COUNTY_OFFICER,
          roles.DEPARTMENT_REVIEWER)
READERS = (*ACTORS, roles.CITY_SUPERVISOR, roles.ADMIN)
ENTRANTS = (roles.COMMUNITY_WORKER, roles.COUNTY_OFFICER, roles.DEPARTMENT_REVIEWER)
ENTRY_FIELDS = ("head_name", "id_number", "phone", "address", "place_id", "household_income",
                "category", "situation", "source", "organisation", "opinion")


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = {k: request.form.get(k, "") for k in ENTRY_FIELDS}
    values["causes"] = request.form.getlist("causes")
    return values


# ---------------------------------------------------------------- the queue

@bp.get("/")
@role_required(*ACTORS)
def queue():
    """What waits for the user: decisions, corrections, reports, publicity, enrolment."""
    today = today_local()
    running, ready = queues.publicity_rows(current_user, today)
    return render_template(
        "reviews/queue.html", waiting=queues.queue(current_user, today),
        returned=queues.returned_for_correction(current_user, today),
        reports=queues.reports_waiting(current_user), publicity=running, ready=ready,
        can_enter=current_user.role in ENTRANTS, intake=steps, today=today,
        channel_missing=current_user.role == roles.DEPARTMENT_REVIEWER
        and steps.department_channel(current_user) is None)


# ---------------------------------------------------------------- entering a household

@bp.route("/new", methods=["GET", "POST"])
@role_required(*ENTRANTS)
@once
def new_entry():
    """An application (community), a lead (county office) or a screening (department)."""
    kind = pages.entry_kind(current_user)
    if request.method == "GET":
        communities = cases.entry_communities(current_user)
        values: dict[str, Any] = {"household_income": "", "causes": [],
                                  "place_id": str(communities[0].id)
                                  if len(communities) == 1 else ""}
        return pages.render_entry(values)
    values = _form_values()
    confirm_new = request.form.get("confirm_new") == "1"

    def enter() -> Case:
        entry = cases.parse_entry(current_user, values, id_required=kind != "lead")
        if kind == "application":
            return cases.enter_application(current_user, entry, confirm_new=confirm_new)
        if kind == "lead":
            return cases.enter_lead(current_user, entry, source=values["source"],
                                    organisation=values["organisation"],
                                    confirm_new=confirm_new)
        return cases.enter_screening(current_user, entry, opinion=values["opinion"],
                                     confirm_new=confirm_new)

    def failed(exc: FormError):
        candidates = exc.candidates if isinstance(exc, cases.PossibleDuplicates) else None
        return pages.render_entry(values, errors=exc.errors, candidates=(
            reports.visible_candidates(current_user, candidates) if candidates else None))

    return submit(enter, failed=failed,
                  to=lambda case: url_for("reviews.case", case_id=case.id),
                  message=lambda case: _("已登记 %(name)s 一户，案件已转至“%(step)s”",
                                         name=case.household.head_name,
                                         step=steps.STEP_LABELS[case.stage]))


# ---------------------------------------------------------------- discovery reports

@bp.get("/reports/<report_id>")
@role_required(*roles.REPORT_VIEWERS)
def report(report_id: str):
    return pages.render_report(get_report_or_404(current_user, report_id))


@bp.post("/reports/<report_id>/open")
@role_required(*roles.REPORT_VIEWERS)
def open_report(report_id: str):
    """Register the reported household and open its case."""
    report = get_report_or_404(current_user, report_id)
    return submit(
        lambda: reports.open_case_from_report(
            current_user, report, category=request.form.get("category", ""),
            causes=request.form.getlist("causes"),
            confirm_new=request.form.get("confirm_new") == "1"),
        failed=lambda exc: pages.render_report(report, errors=exc.errors),
        to=lambda case: url_for("reviews.case", case_id=case.id),
        message=lambda case: _("已立案：%(name)s，待“%(step)s”", name=case.household.head_name,
                               step=steps.STEP_LABELS[case.stage]))


@bp.post("/reports/<report_id>/same")
@role_required(*roles.REPORT_VIEWERS)
def same_household(report_id: str):
    """The report is about a household already registered: close it (or reopen that
    household's review when it had left the programme)."""
    report = get_report_or_404(current_user, report_id)
    raw = request.form.get("household_id", "")
    return submit(
        lambda: reports.mark_report_same(current_user, report,
                                         int(raw) if raw.isdigit() and len(raw) < 12 else 0,
                                         reopen=request.form.get("reopen") == "1"),
        failed=lambda exc: pages.render_report(report, errors=exc.errors),
        to=lambda case: (url_for("reviews.case", case_id=case.id) if case is not None
                         else url_for("reviews.queue")),
        message=lambda case: (_("已为该户重新立案审核") if case is not None
                              else _("已核实为已登记家庭，该上报已关闭")))


# ---------------------------------------------------------------- a case

@bp.get("/cases/<int:case_id>")
@role_required(*READERS)
def case(case_id: int):
    return pages.render_case(get_case_or_404(current_user, case_id))


@bp.post("/cases/<int:case_id>/decision")
@role_required(*READERS)
@once
def decide(case_id: int):
    case = get_case_or_404(current_user, case_id)
    values = {k: request.form.get(k, "") for k in ("decision", "opinion", "draft_plan")}
    step = case.stage

    def message(_decision: object) -> str:
        name = case.household.head_name
        if case.state == "rejected":
            return _("%(step)s：不同意纳入 %(name)s，已转入观察名单",
                     step=steps.STEP_LABELS[step], name=name)
        if values["decision"] == "return" and steps.awaiting_correction(case):
            return _("%(step)s：已将 %(name)s 退回补正", step=steps.STEP_LABELS[step], name=name)
        return _("%(step)s：%(decision)s，%(name)s 已转至“%(next)s”",
                 step=steps.STEP_LABELS[step], decision=DECISION_LABELS[values["decision"]],
                 name=name, next=steps.STEP_LABELS[case.stage])

    return submit(
        lambda: decisions.decide(current_user, case, values["decision"], values["opinion"],
                                 draft_plan=request.form.get("draft_plan"),
                                 expect_stage=request.form.get("stage") or None),
        failed=lambda exc: pages.render_case(get_case_or_404(current_user, case_id),
                                             errors=exc.errors, values=values),
        to=url_for("reviews.queue"), message=message)


@bp.route("/cases/<int:case_id>/correct", methods=["GET", "POST"])
@role_required(*ACTORS)
@once
def correct(case_id: int):
    """Correct a returned entry and send it again (退回补正)."""
    case = get_case_or_404(current_user, case_id)
    if not steps.may_correct(current_user, case):
        abort(403)
    hh = case.household
    if request.method == "GET":
        # Neither the ID number nor the phone is shown in full: blank keeps the one on file.
        values: dict[str, Any] = {"head_name": hh.head_name, "id_number": "", "phone": "",
                  "address": hh.address, "place_id": str(hh.place_id),
                  "household_income": str(hh.intake_income) if hh.intake_income is not None
                  else "", "category": hh.category,
                  "causes": list(hh.causes or []), "situation": hh.notes}
        return pages.render_entry(values, case=case)
    values = _form_values()
    submitted = {**values, "phone": values["phone"].strip() or hh.phone or ""}

    def resubmit() -> None:
        entry = cases.parse_entry(current_user, submitted,
                                  id_required=case.source in steps.ID_REQUIRED_SOURCES,
                                  keep_id=bool(hh.head and hh.head.id_index))
        cases.correct_and_resubmit(current_user, case, entry)

    return submit(
        resubmit,
        failed=lambda exc: pages.render_entry(values, errors=exc.errors,
                                              case=get_case_or_404(current_user, case_id)),
        to=url_for("reviews.case", case_id=case.id),
        message=lambda _none: _("已补正并重新提交“%(step)s”", step=steps.STEP_LABELS[case.stage]))


# ---------------------------------------------------------------- publicity and enrolment

@bp.post("/cases/<int:case_id>/objections")
@role_required(*READERS)
@once
def add_objection(case_id: int):
    case = get_case_or_404(current_user, case_id)
    values = {k: request.form.get(k, "") for k in ("text", "raised_by")}
    return submit(
        lambda: publicity.record_objection(current_user, case, values["text"],
                                           values["raised_by"]),
        failed=lambda exc: pages.render_case(get_case_or_404(current_user, case_id),
                                             errors=exc.errors, values=values),
        to=url_for("reviews.case", case_id=case.id), message=_("异议已登记，处理前不能建档"))


@bp.post("/cases/<int:case_id>/objections/<int:objection_id>/resolve")
@role_required(*READERS)
@once
def resolve_objection(case_id: int, objection_id: int):
    case = get_case_or_404(current_user, case_id)
    objection = get_objection_or_404(case, objection_id)
    values = {k: request.form.get(k, "") for k in ("outcome", "resolution")}
    return submit(
        lambda: publicity.resolve_objection(current_user, objection, values["outcome"],
                                            values["resolution"]),
        # The page lists every objection: the messages are keyed by this one's id.
        failed=lambda exc: pages.render_case(
            get_case_or_404(current_user, case_id), values=values,
            errors={f"{k}_{objection_id}": v for k, v in exc.errors.items()}),
        to=url_for("reviews.case", case_id=case.id),
        message=lambda _none: str(steps.OBJECTION_OUTCOME_LABELS[values["outcome"]]))


@bp.route("/cases/<int:case_id>/enrol", methods=["GET", "POST"])
@role_required(*READERS)
def enrol(case_id: int):
    """File the household after publicity: file number, helper, plan measures."""
    case = get_case_or_404(current_user, case_id)
    if not steps.may_handle_publicity(current_user, case):
        if case.state != "open" or case.stage != steps.PUBLICITY:
            flash(_("只有公示中的案件可以建档"), "warning")
            return redirect(url_for("reviews.case", case_id=case.id))
        abort(403)
    if request.method == "GET":
        return pages.render_enrol(case)
    chosen = request.form.getlist("measures")
    values: dict[str, Any] = {"helper_id": request.form.get("helper_id", ""), "measures": chosen}
    helper_raw = values["helper_id"]
    helper_id = int(helper_raw) if helper_raw.isdigit() and len(helper_raw) < 12 else None
    return submit(
        lambda: enrolment.enrol(current_user, case, helper_id=helper_id,
                                items=enrolment.parse_plan(request.form, chosen)),
        failed=lambda exc: pages.render_enrol(get_case_or_404(current_user, case_id),
                                              errors=exc.errors, values=values),
        to=url_for("reviews.case", case_id=case.id),
        message=lambda hh: _("已建档：%(name)s，档案编号 %(no)s", name=hh.head_name,
                             no=hh.file_no))

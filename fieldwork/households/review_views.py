"""Review chains (辖区/部门/行业), publicity (公示) and enrolment: the pages.

Thin views over fieldwork.households.workflow, which holds every rule. A case out of the
user's scope answers 404; a case they can see but whose step is not theirs answers 403 to a
POST. Each POST is one transaction: the service adds, the view commits once or rolls back.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fieldwork.accounts import roles
from fieldwork.accounts.auth import role_required
from fieldwork.accounts.scope import photo_clause
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db
from fieldwork.forms_once import done, once
from fieldwork.households import workflow as wf
from fieldwork.households.constants import DECISION_LABELS, DIMENSIONS
from fieldwork.households.models import Case, Objection
from fieldwork.photos.models import Photo
from fieldwork.timeutil import today_local

bp = Blueprint("reviews", __name__, url_prefix="/reviews")

ACTORS = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER, roles.COUNTY_OFFICER,
          roles.DEPARTMENT_REVIEWER)
READERS = (*ACTORS, roles.CITY_SUPERVISOR, roles.ADMIN)
ENTRANTS = (roles.COMMUNITY_WORKER, roles.COUNTY_OFFICER, roles.DEPARTMENT_REVIEWER)
ENTRY_FIELDS = ("head_name", "id_number", "phone", "address", "place_id", "members_count",
                "category", "situation", "source", "organisation", "opinion")


def _entry_kind(user) -> str:
    return {roles.COMMUNITY_WORKER: "application", roles.COUNTY_OFFICER: "lead",
            roles.DEPARTMENT_REVIEWER: "screening"}[user.role]


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = {k: request.form.get(k, "") for k in ENTRY_FIELDS}
    values["causes"] = request.form.getlist("causes")
    return values


def _fail(exc: wf.WorkflowError) -> None:
    db.session.rollback()
    if exc.status == 403:
        abort(403)


# ---------------------------------------------------------------- the queue

@bp.get("/")
@role_required(*ACTORS)
def queue():
    """What waits for the user: decisions, corrections, reports, publicity, enrolment."""
    today = today_local()
    running, ready = wf.publicity_rows(current_user, today)
    return render_template(
        "reviews/queue.html", waiting=wf.queue(current_user, today),
        returned=wf.returned_for_correction(current_user, today),
        reports=wf.reports_waiting(current_user), publicity=running, ready=ready,
        can_enter=current_user.role in ENTRANTS, wf=wf, today=today,
        channel_missing=current_user.role == roles.DEPARTMENT_REVIEWER
        and wf.department_channel(current_user) is None)


# ---------------------------------------------------------------- entering a household

def _render_entry(values: dict[str, Any], *, errors: dict[str, str] | None = None,
                  candidates: list[dict] | None = None, status: int = 200,
                  case: Case | None = None):
    kind = "correction" if case is not None else _entry_kind(current_user)
    channel = wf.department_channel(current_user)
    title = {"application": _("录入困难申请"), "lead": _("录入单位报送/比对线索"),
             "screening": _("录入行业认定结果") if channel == "sector" else _("录入部门初审结果"),
             "correction": _("补正后重新提交")}[kind]
    if case is None:
        id_required = kind != "lead"
    else:
        id_required = case.source in wf.ID_REQUIRED_SOURCES and not case.household.head_id_index
    return render_template(
        "reviews/entry.html", kind=kind, title=title, values=values, errors=errors or {},
        id_required=id_required,
        candidates=candidates or [], case=case,
        communities=wf.entry_communities(current_user),
        channel=channel, wf=wf), status


@bp.route("/new", methods=["GET", "POST"])
@role_required(*ENTRANTS)
@once
def new_entry():
    """An application (community), a lead (county office) or a screening (department)."""
    kind = _entry_kind(current_user)
    if request.method == "GET":
        communities = wf.entry_communities(current_user)
        values: dict[str, Any] = {"members_count": "1", "causes": [],
                                  "place_id": str(communities[0].id)
                                  if len(communities) == 1 else ""}
        return _render_entry(values)
    values = _form_values()
    confirm_new = request.form.get("confirm_new") == "1"
    try:
        entry = wf.parse_entry(current_user, values, id_required=kind != "lead")
        if kind == "application":
            case = wf.enter_application(current_user, entry, confirm_new=confirm_new)
        elif kind == "lead":
            case = wf.enter_lead(current_user, entry, source=values["source"],
                                 organisation=values["organisation"], confirm_new=confirm_new)
        else:
            case = wf.enter_screening(current_user, entry, opinion=values["opinion"],
                                      confirm_new=confirm_new)
        done(url_for("reviews.case", case_id=case.id))
        db.session.commit()
    except wf.PossibleDuplicates as exc:
        _fail(exc)
        return _render_entry(values, errors=exc.errors, status=exc.status,
                             candidates=wf.visible_candidates(current_user, exc.candidates))
    except wf.WorkflowError as exc:
        _fail(exc)
        return _render_entry(values, errors=exc.errors, status=exc.status)
    flash(_("已登记 %(name)s 一户，案件已转至“%(step)s”", name=case.household.head_name,
            step=wf.STEP_LABELS[case.stage]), "success")
    return redirect(url_for("reviews.case", case_id=case.id))


# ---------------------------------------------------------------- discovery reports

def _render_report(report: DiscoveryReport, *, errors: dict[str, str] | None = None,
                   status: int = 200):
    case = db.session.scalar(sa.select(Case).where(Case.discovery_id == report.id)
                             .order_by(Case.id.desc()).limit(1))
    return render_template(
        "reviews/report.html", report=report, errors=errors or {},
        candidates=wf.visible_candidates(current_user, wf.report_candidates(report)),
        photos=wf.report_photos(current_user, report),
        can_open=wf.may_open_report(current_user, report), case=case, wf=wf), status


@bp.get("/reports/<report_id>")
@role_required(*wf.REPORT_VIEWERS)
def report(report_id: str):
    return _render_report(wf.get_report_or_404(current_user, report_id))


@bp.post("/reports/<report_id>/open")
@role_required(*wf.REPORT_VIEWERS)
def open_report(report_id: str):
    """Register the reported household and open its case."""
    report = wf.get_report_or_404(current_user, report_id)
    try:
        case = wf.open_case_from_report(
            current_user, report, category=request.form.get("category", ""),
            causes=request.form.getlist("causes"),
            confirm_new=request.form.get("confirm_new") == "1")
        db.session.commit()
    except wf.WorkflowError as exc:
        _fail(exc)
        return _render_report(report, errors=exc.errors, status=exc.status)
    flash(_("已立案：%(name)s，待“%(step)s”", name=case.household.head_name,
            step=wf.STEP_LABELS[case.stage]), "success")
    return redirect(url_for("reviews.case", case_id=case.id))


@bp.post("/reports/<report_id>/same")
@role_required(*wf.REPORT_VIEWERS)
def same_household(report_id: str):
    """The report is about a household already registered: close it (or reopen that
    household's review when it had left the programme)."""
    report = wf.get_report_or_404(current_user, report_id)
    raw = request.form.get("household_id", "")
    try:
        case = wf.mark_report_same(current_user, report,
                                   int(raw) if raw.isdigit() and len(raw) < 12 else 0,
                                   reopen=request.form.get("reopen") == "1")
        db.session.commit()
    except wf.WorkflowError as exc:
        _fail(exc)
        return _render_report(report, errors=exc.errors, status=exc.status)
    if case is not None:
        flash(_("已为该户重新立案审核"), "success")
        return redirect(url_for("reviews.case", case_id=case.id))
    flash(_("已核实为已登记家庭，该上报已关闭"), "success")
    return redirect(url_for("reviews.queue"))


# ---------------------------------------------------------------- a case

def _case_photos(case: Case) -> list[Photo]:
    owner = Photo.household_id == case.household_id
    if case.discovery_id:
        owner = sa.or_(owner, Photo.discovery_id == case.discovery_id)
    return list(db.session.scalars(
        sa.select(Photo).where(owner, Photo.visit_id.is_(None), Photo.stored_at.is_not(None),
                               photo_clause(current_user))
        .order_by(Photo.created_at, Photo.id).limit(40)))


def _render_case(case: Case, *, errors: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None, status: int = 200):
    report = db.session.get(DiscoveryReport, case.discovery_id) if case.discovery_id else None
    path = wf.path_of(case)
    objections = list(db.session.scalars(
        sa.select(Objection).where(Objection.case_id == case.id).order_by(Objection.id)))
    return render_template(
        "reviews/case.html", case=case, household=case.household, report=report,
        photos=_case_photos(case), path=path, objections=objections,
        decisions=sorted(case.decisions, key=lambda d: (d.decided_at, d.id)),
        returned=wf.awaiting_correction(case),
        can_decide=wf.may_decide(current_user, case),
        can_correct=wf.may_correct(current_user, case),
        can_publicity=wf.may_handle_publicity(current_user, case),
        blockers=wf.enrol_blockers(case) if case.stage == wf.PUBLICITY else [],
        errors=errors or {}, values=values or {}, wf=wf,
        decision_labels=DECISION_LABELS), status


@bp.get("/cases/<int:case_id>")
@role_required(*READERS)
def case(case_id: int):
    return _render_case(wf.get_case_or_404(current_user, case_id))


@bp.post("/cases/<int:case_id>/decision")
@role_required(*READERS)
@once
def decide(case_id: int):
    case = wf.get_case_or_404(current_user, case_id)
    values = {k: request.form.get(k, "") for k in ("decision", "opinion", "draft_plan")}
    step = case.stage
    try:
        wf.decide(current_user, case, values["decision"], values["opinion"],
                  draft_plan=request.form.get("draft_plan"),
                  expect_stage=request.form.get("stage") or None)
        done(url_for("reviews.queue"))
        db.session.commit()
    except wf.WorkflowError as exc:
        _fail(exc)
        return _render_case(wf.get_case_or_404(current_user, case_id), errors=exc.errors,
                            values=values, status=exc.status)
    name = case.household.head_name
    if case.state == "rejected":
        message = _("%(step)s：不同意纳入 %(name)s，已转入观察名单", step=wf.STEP_LABELS[step],
                    name=name)
    elif values["decision"] == "return" and wf.awaiting_correction(case):
        message = _("%(step)s：已将 %(name)s 退回补正", step=wf.STEP_LABELS[step], name=name)
    else:
        message = _("%(step)s：%(decision)s，%(name)s 已转至“%(next)s”",
                    step=wf.STEP_LABELS[step], decision=DECISION_LABELS[values["decision"]],
                    name=name, next=wf.STEP_LABELS[case.stage])
    flash(message, "success")
    return redirect(url_for("reviews.queue"))


@bp.route("/cases/<int:case_id>/correct", methods=["GET", "POST"])
@role_required(*ACTORS)
@once
def correct(case_id: int):
    """Correct a returned entry and send it again (退回补正)."""
    case = wf.get_case_or_404(current_user, case_id)
    if not wf.may_correct(current_user, case):
        abort(403)
    hh = case.household
    if request.method == "GET":
        # Neither the ID number nor the phone is shown in full: blank keeps the one on file.
        values: dict[str, Any] = {"head_name": hh.head_name, "id_number": "", "phone": "",
                  "address": hh.address, "place_id": str(hh.place_id),
                  "members_count": str(hh.members_count), "category": hh.category,
                  "causes": list(hh.causes or []), "situation": hh.notes}
        return _render_entry(values, case=case)
    values = _form_values()
    submitted = {**values, "phone": values["phone"].strip() or hh.phone or ""}
    try:
        entry = wf.parse_entry(current_user, submitted,
                               id_required=case.source in wf.ID_REQUIRED_SOURCES,
                               keep_id=bool(hh.head_id_index))
        wf.correct_and_resubmit(current_user, case, entry)
        done(url_for("reviews.case", case_id=case.id))
        db.session.commit()
    except wf.WorkflowError as exc:
        _fail(exc)
        return _render_entry(values, errors=exc.errors, status=exc.status,
                             case=wf.get_case_or_404(current_user, case_id))
    flash(_("已补正并重新提交“%(step)s”", step=wf.STEP_LABELS[case.stage]), "success")
    return redirect(url_for("reviews.case", case_id=case.id))


# ---------------------------------------------------------------- publicity and enrolment

@bp.post("/cases/<int:case_id>/objections")
@role_required(*READERS)
@once
def add_objection(case_id: int):
    case = wf.get_case_or_404(current_user, case_id)
    values = {k: request.form.get(k, "") for k in ("text", "raised_by")}
    try:
        wf.record_objection(current_user, case, values["text"], values["raised_by"])
        done(url_for("reviews.case", case_id=case.id))
        db.session.commit()
    except wf.WorkflowError as exc:
        _fail(exc)
        return _render_case(wf.get_case_or_404(current_user, case_id), errors=exc.errors,
                            values=values, status=exc.status)
    flash(_("异议已登记，处理前不能建档"), "success")
    return redirect(url_for("reviews.case", case_id=case.id))


@bp.post("/cases/<int:case_id>/objections/<int:objection_id>/resolve")
@role_required(*READERS)
@once
def resolve_objection(case_id: int, objection_id: int):
    case = wf.get_case_or_404(current_user, case_id)
    objection = db.session.get(Objection, objection_id)
    if objection is None or objection.case_id != case.id:
        abort(404)
    values = {k: request.form.get(k, "") for k in ("outcome", "resolution")}
    try:
        wf.resolve_objection(current_user, objection, values["outcome"], values["resolution"])
        done(url_for("reviews.case", case_id=case.id))
        db.session.commit()
    except wf.WorkflowError as exc:
        _fail(exc)
        errors = {f"{k}_{objection_id}": v for k, v in exc.errors.items()}
        return _render_case(wf.get_case_or_404(current_user, case_id), errors=errors,
                            values=values, status=exc.status)
    flash(str(wf.OBJECTION_OUTCOME_LABELS[values["outcome"]]), "success")
    return redirect(url_for("reviews.case", case_id=case.id))


def _render_enrol(case: Case, *, errors: dict[str, str] | None = None,
                  values: dict[str, Any] | None = None, status: int = 200):
    today = today_local()
    measures = wf.measures_for(case.household.county_id)
    by_area: dict[str, list] = {area: [] for area in DIMENSIONS}  # the 两有四保障 order
    for m in measures:
        by_area.setdefault(m.area, []).append(m)
    by_area = {area: rows for area, rows in by_area.items() if rows}
    return render_template(
        "reviews/enrol.html", case=case, household=case.household,
        helpers=wf.county_helpers(case.household.county_id), by_area=by_area,
        blockers=wf.enrol_blockers(case, today), errors=errors or {},
        values=values or {"measures": []}, form=request.form, today=today, wf=wf), status


@bp.route("/cases/<int:case_id>/enrol", methods=["GET", "POST"])
@role_required(*READERS)
def enrol(case_id: int):
    """File the household after publicity: file number, helper, plan measures."""
    case = wf.get_case_or_404(current_user, case_id)
    if not wf.may_handle_publicity(current_user, case):
        if case.state != "open" or case.stage != wf.PUBLICITY:
            flash(_("只有公示中的案件可以建档"), "warning")
            return redirect(url_for("reviews.case", case_id=case.id))
        abort(403)
    if request.method == "GET":
        return _render_enrol(case)
    chosen = request.form.getlist("measures")
    values: dict[str, Any] = {"helper_id": request.form.get("helper_id", ""), "measures": chosen}
    try:
        items = wf.parse_plan(request.form, chosen)
        helper_raw = values["helper_id"]
        wf.enrol(current_user, case,
                 helper_id=int(helper_raw) if helper_raw.isdigit() and len(helper_raw) < 12
                 else None, items=items)
        db.session.commit()
    except wf.WorkflowError as exc:
        _fail(exc)
        return _render_enrol(wf.get_case_or_404(current_user, case_id), errors=exc.errors,
                             values=values, status=exc.status)
    hh = case.household
    flash(_("已建档：%(name)s，档案编号 %(no)s", name=hh.head_name, no=hh.file_no), "success")
    return redirect(url_for("reviews.case", case_id=case.id))

"""What the review pages show: the entry form, a discovery report, a case and the enrolment
form, with the look-ups that answer 404 for what is out of the user's scope. The routes are in
views.py; a refused form re-renders through these same builders, with its messages.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from fieldwork.access import roles
from fieldwork.access.scope import photo_clause
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db
from fieldwork.households.constants import DECISION_LABELS, DIMENSIONS
from fieldwork.households.intake import (
    cases,
    enrolment,
    publicity,
    reports,
    steps,
)
from fieldwork.households.management import assignments
from fieldwork.households.models import Case, Objection
from fieldwork.photos.models import Photo
from fieldwork.places.models import Place
from fieldwork.timeutil import today_local


def entry_kind(user) -> str:
    return {roles.COMMUNITY_WORKER: "application", roles.COUNTY_OFFICER: "lead",
            roles.DEPARTMENT_REVIEWER: "screening"}[user.role]




def render_entry(values: dict[str, Any], *, errors: dict[str, str] | None = None,
                 candidates: list[dict] | None = None,
                 case: Case | None = None):
    kind = "correction" if case is not None else entry_kind(current_user)
    channel = steps.department_channel(current_user)
    title = {"application": _("录入困难申请"), "lead": _("录入单位报送/比对线索"),
             "screening": _("录入行业认定结果") if channel == "sector" else _("录入部门初审结果"),
             "correction": _("补正后重新提交")}[kind]
    if case is None:
        id_required = kind != "lead"
    else:
        id_required = (case.source in steps.ID_REQUIRED_SOURCES
                       and not (case.household.head and case.household.head.id_index))
    return render_template(
        "reviews/entry.html", kind=kind, title=title, values=values, errors=errors or {},
        id_required=id_required,
        candidates=candidates or [], case=case,
        communities=cases.entry_communities(current_user),
        channel=channel, intake=steps)


def render_report(report: DiscoveryReport, *, errors: dict[str, str] | None = None):
    case = db.session.scalar(sa.select(Case).where(Case.discovery_id == report.id)
                             .order_by(Case.id.desc()).limit(1))
    return render_template(
        "reviews/report.html", report=report, errors=errors or {},
        candidates=reports.visible_candidates(current_user, reports.report_candidates(report)),
        photos=reports.report_photos(current_user, report),
        can_open=reports.may_open_report(current_user, report), case=case, intake=steps)


def case_photos(case: Case) -> list[Photo]:
    owner = Photo.household_id == case.household_id
    if case.discovery_id:
        owner = sa.or_(owner, Photo.discovery_id == case.discovery_id)
    return list(db.session.scalars(
        sa.select(Photo).where(owner, Photo.visit_id.is_(None), Photo.stored_at.is_not(None),
                               photo_clause(current_user))
        .order_by(Photo.created_at, Photo.id).limit(40)))


def render_case(case: Case, *, errors: dict[str, str] | None = None,
                values: dict[str, Any] | None = None):
    report = db.session.get(DiscoveryReport, case.discovery_id) if case.discovery_id else None
    path = steps.path_of(case)
    objections = list(db.session.scalars(
        sa.select(Objection).where(Objection.case_id == case.id).order_by(Objection.id)))
    return render_template(
        "reviews/case.html", case=case, household=case.household, report=report,
        photos=case_photos(case), path=path, objections=objections,
        decisions=sorted(case.decisions, key=lambda d: (d.decided_at, d.id)),
        returned=steps.awaiting_correction(case),
        can_decide=steps.may_decide(current_user, case),
        can_correct=steps.may_correct(current_user, case),
        can_publicity=steps.may_handle_publicity(current_user, case),
        blockers=publicity.enrol_blockers(case) if case.stage == steps.PUBLICITY else [],
        errors=errors or {}, values=values or {}, intake=steps,
        decision_labels=DECISION_LABELS)


def render_enrol(case: Case, *, errors: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None):
    today = today_local()
    measures = enrolment.measures_for(case.household.county_id)
    by_area: dict[str, list] = {area: [] for area in DIMENSIONS}  # the 两有四保障 order
    for m in measures:
        by_area.setdefault(m.area, []).append(m)
    by_area = {area: rows for area, rows in by_area.items() if rows}
    return render_template(
        "reviews/enrol.html", case=case, household=case.household,
        helpers=assignments.county_helpers(db.session.get_one(Place, case.household.county_id)),
        by_area=by_area,
        blockers=publicity.enrol_blockers(case, today), errors=errors or {},
        values=values or {"measures": []}, form=request.form, today=today, intake=steps)

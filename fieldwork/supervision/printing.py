"""Printable A4 forms of the policy's attachments (附件), laid out with print CSS (no PDF
library): the household visit survey form (附件3 入户调查表: blank, filled from the file, or
filled from a visit), the review and approval form (附件2 审核审批表), the assistance measures
card (附件4 明白卡) and the publicity list (公示名单) of a community or street for a period.
What each printed field comes from: docs/forms.md.

Every page goes through the scope rule: a household, visit or place out of the user's scope
is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from fieldwork.access import roles
from fieldwork.access.scope import (
    get_household_or_404,
    get_place_or_404,
    get_visit_or_404,
    household_clause,
)
from fieldwork.accounts.models import User
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import EXIT_ROUTE_LABELS
from fieldwork.households.members import age_on
from fieldwork.households.models import (
    Case,
    CaseIncome,
    Household,
    Measure,
    Member,
    PlanMeasure,
)
from fieldwork.places.models import Place, PolicySettings
from fieldwork.supervision import tasks
from fieldwork.supervision.print_boxes import (
    EXIT_BOXES,
    INTAKE_BOXES,
    CaseSheet,
    case_sheet,
    publicity_start,
)
from fieldwork.supervision.views import parse_month
from fieldwork.timeutil import current_month, local, today_local
from fieldwork.visits import form as visit_form_schema
from fieldwork.visits.services import accepted_income, per_capita

bp = Blueprint("printing", __name__, url_prefix="/print")

BLANK_MEMBER_ROWS = 5
# The longest period a publicity list covers (a quarter and a bit: one list per notice).
MAX_PUBLICITY_DAYS = 120
DEFAULT_PUBLICITY_DAYS = 30


def measures_in_force(household: Household, on: date) -> list[PlanMeasure]:
    return [pm for pm in household.plan if pm.in_force(on)]


def _place_line(household: Household) -> dict[str, str]:
    ids = [i for i in (household.county_id, household.street_id, household.place_id) if i]
    names = dict(db.session.execute(
        sa.select(Place.id, Place.name).where(Place.id.in_(ids))).all())
    community = names.get(household.place_id, "") if household.place_id not in (
        household.county_id, household.street_id) else ""
    return {"county": names.get(household.county_id, ""),
            "street": names.get(household.street_id, "") if household.street_id else "",
            "community": community}


def _schema_groups(measure_options: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The visit survey schema (fieldwork/visits/form.py) grouped for the printed layout:
    the six dimensions become rows of (status options, note). The income group is printed
    by the form's own income table (income_sources), so it is left out here."""
    schema = visit_form_schema.definition()
    groups = []
    for g in schema["groups"]:
        if g["name"] == "income":
            continue
        fields = [f for f in schema["fields"] if f["group"] == g["name"]]
        for f in fields:
            if f.get("options_from") == "household.measures":
                f["options"] = measure_options or []
        rows = []
        notes = {f["dimension"]: f for f in fields
                 if f.get("dimension") and f["type"] != "choice"}
        for f in fields:
            if f.get("dimension"):
                if f["type"] == "choice":
                    rows.append({"kind": "dimension", "field": f,
                                 "note": notes.get(f["dimension"])})
            else:
                rows.append({"kind": f["type"], "field": f})
        groups.append({"name": g["name"], "label": g["label"], "rows": rows})
    return groups


def _visit_measure_options(household: Household, on: date,
                           delivered: list[Any]) -> list[dict[str, Any]]:
    options = [{"value": pm.measure_id, "label": pm.measure.name}
               for pm in measures_in_force(household, on)]
    known = {o["value"] for o in options}
    extra = [i for i in delivered if isinstance(i, int) and i not in known]
    if extra:
        for mid, name in db.session.execute(
                sa.select(Measure.id, Measure.name).where(Measure.id.in_(extra))):
            options.append({"value": mid, "label": name})
    return options


def office_phone(county_id: int | None = None) -> str:
    """The county 解困办's phone: the county's own setting (PolicySettings.office_phone), else
    the city-wide FIELDWORK_OFFICE_PHONE, else ''."""
    if county_id is not None:
        own = db.session.scalar(
            sa.select(PolicySettings.office_phone).where(PolicySettings.place_id == county_id))
        if own and own.strip():
            return own.strip()
    return str(current_app.config.get("OFFICE_PHONE") or "").strip()


# ---------------------------------------------------------------- 附件3: members and income

@dataclass
class IncomeSources:
    """The income part of 附件3: the sources recorded at intake (CaseIncome, the latest) and
    the household's monthly income with its per-capita figure."""

    breakdown: CaseIncome | None = None
    total: Decimal | None = None
    per_capita: Decimal | None = None
    total_from: str = ""  # "visit" | "file" | "intake" | ""
    members: list[Member] = field(default_factory=list)  # current members with an income


def latest_case_income(household: Household) -> CaseIncome | None:
    return db.session.scalar(
        sa.select(CaseIncome).join(Case, Case.id == CaseIncome.case_id)
        .where(Case.household_id == household.id)
        .order_by(CaseIncome.recorded_at.desc(), CaseIncome.id.desc()).limit(1))


def income_sources(household: Household, visit_income: Any = None,
                   visit_per_capita: Any = None, from_visit: bool = False) -> IncomeSources:
    """From a visit: that visit's household income and per-capita. From the file: the latest
    accepted income (visits.services.accepted_income) over the current members."""
    out = IncomeSources(breakdown=latest_case_income(household),
                        members=[m for m in household.members
                                 if m.current and m.monthly_income is not None])
    if from_visit:
        if visit_income not in (None, ""):
            out.total = Decimal(str(visit_income)).quantize(Decimal("0.01"))
            out.per_capita = (visit_per_capita if visit_per_capita is not None
                              else per_capita(out.total, household.members_count))
            out.total_from = "visit"
        return out
    total = accepted_income(household)
    if total is not None:
        out.total = total
        out.per_capita = per_capita(total, household.members_count)
        out.total_from = "file"
    return out


# ---------------------------------------------------------------- 公示名单

def mask_name(name: str) -> str:
    """张三丰 → 张某某: the surname (first character) and 某某, as the notice board shows it."""
    name = (name or "").strip()
    return f"{name[0]}某某" if name else ""


@dataclass
class PublicityRow:
    case: Case
    household: Household
    starts_on: date | None
    ends_on: date
    community: str
    id_mask: str


def _parse_day(value: str | None, default: date, label: str) -> date:
    if value in (None, ""):
        return default
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(_("%(what)s不是有效日期，请按 年-月-日 填写（如 2026-03-01）",
                           what=label)) from exc


def publicity_period(args: Any, today: date) -> tuple[date, date]:
    """The period (from, to) of the query string; ValueError with the reader's message."""
    to = _parse_day(args.get("to"), today, _("截止日期"))
    start = _parse_day(args.get("from"), to - timedelta(days=DEFAULT_PUBLICITY_DAYS),
                       _("起始日期"))
    if start > to:
        raise ValueError(_("起始日期不能晚于截止日期"))
    if (to - start).days > MAX_PUBLICITY_DAYS:
        raise ValueError(_("公示名单的期间不能超过 %(n)d 天", n=MAX_PUBLICITY_DAYS))
    return start, to


def _place_households_clause(place: Place) -> sa.ColumnElement[bool]:
    if place.level == "county":
        return Household.county_id == place.id
    if place.level == "street":
        return Household.street_id == place.id
    if place.level == "community":
        return Household.place_id == place.id
    abort(404)


def publicity_rows(user: Any, place: Place, start: date, end: date) -> list[PublicityRow]:
    """Households of the place (and in the user's scope) whose publicity — enrolment or
    exit — ran on at least one day of [start, end]."""
    cases = list(db.session.scalars(
        sa.select(Case).join(Household, Household.id == Case.household_id)
        .where(_place_households_clause(place), household_clause(user),
               Case.publicity_ends_on.is_not(None), Case.publicity_ends_on >= start)
        .options(selectinload(Case.household).selectinload(Household.members),
                 selectinload(Case.decisions))
        .order_by(Case.publicity_ends_on, Case.id)))
    names = dict(db.session.execute(sa.select(Place.id, Place.name).where(
        Place.id.in_({c.household.place_id for c in cases}))).all()) if cases else {}
    rows = []
    for case in cases:
        started, ends = publicity_start(case), case.publicity_ends_on
        if ends is None or (started is not None and started > end):
            continue
        head = case.household.head
        rows.append(PublicityRow(case=case, household=case.household, starts_on=started,
                                 ends_on=ends,
                                 community=names.get(case.household.place_id, ""),
                                 id_mask=(head.id_mask or "") if head else ""))
    rows.sort(key=lambda r: (r.community, r.starts_on or r.ends_on, r.case.id))
    return rows


# ---------------------------------------------------------------- views


@bp.context_processor
def _print_helpers() -> dict[str, Any]:
    return {"age_on": age_on, "mask_name": mask_name, "today_on": today_local(),
            "exit_route_labels": EXIT_ROUTE_LABELS}


@bp.get("/visit-form")
@login_required
def blank_visit_form():
    return render_template("printing/visit_form.html", visit=None, household=None,
                           groups=_schema_groups(None), places=None, answers={},
                           members=[], blank_rows=BLANK_MEMBER_ROWS, on=today_local(),
                           income=IncomeSources())


@bp.get("/households/<int:household_id>/visit-form")
@login_required
def household_visit_form(household_id: int):
    """附件3 for the next visit: the household, its members and its income sources filled from
    the file; the visit's own answers left to write on."""
    household = get_household_or_404(current_user, household_id)
    today = today_local()
    options = [{"value": pm.measure_id, "label": pm.measure.name}
               for pm in measures_in_force(household, today)]
    return render_template("printing/visit_form.html", visit=None, household=household,
                           groups=_schema_groups(options), places=_place_line(household),
                           answers={}, members=household.members, blank_rows=2, on=today,
                           income=income_sources(household))


@bp.get("/visits/<visit_id>")
@login_required
def visit_form(visit_id: str):
    visit = get_visit_or_404(current_user, visit_id)
    household = visit.household
    answers = visit.answers or {}
    on = local(visit.visited_at).date()
    options = _visit_measure_options(household, on, answers.get("measures_delivered") or [])
    income = income_sources(household, answers.get("household_income"),
                            visit.per_capita_income, from_visit=True)
    return render_template("printing/visit_form.html", visit=visit, household=household,
                           groups=_schema_groups(options), places=_place_line(household),
                           answers=answers, members=household.members, blank_rows=0, on=on,
                           income=income)


@bp.get("/households/<int:household_id>/review-form")
@login_required
def review_form(household_id: int):
    """附件2 for the household's latest intake case (or ?case=<id>, one of its intake cases),
    with the exit section of its latest exit case."""
    household = get_household_or_404(current_user, household_id)
    cases = list(db.session.scalars(
        sa.select(Case).where(Case.household_id == household.id)
        .order_by(Case.opened_at, Case.id)))
    intakes = [c for c in cases if c.kind != "exit"]
    exits = [c for c in cases if c.kind == "exit"]
    wanted = request.args.get("case", type=int)
    intake: Case | None = intakes[-1] if intakes else None
    if wanted is not None:
        intake = next((c for c in intakes if c.id == wanted), None)
        if intake is None:
            abort(404)
    intake_sheet: CaseSheet | None = case_sheet(intake, INTAKE_BOXES) if intake else None
    exit_sheet: CaseSheet | None = case_sheet(exits[-1], EXIT_BOXES) if exits else None
    return render_template("printing/review_form.html", household=household,
                           places=_place_line(household), intake=intake_sheet,
                           exit=exit_sheet, intakes=intakes, intake_boxes=INTAKE_BOXES,
                           exit_boxes=EXIT_BOXES)


@bp.get("/households/<int:household_id>/card")
@login_required
def card(household_id: int):
    household = get_household_or_404(current_user, household_id)
    today = today_local()
    exited = household.status == "exited"
    # An exited household's card shows what it received up to its exit.
    on = min(today, household.exited_on) if exited and household.exited_on else today
    return render_template("printing/card.html", household=household,
                           places=_place_line(household),
                           measures=measures_in_force(household, on),
                           assignment=household.current_assignment(on),
                           office_phone=office_phone(household.county_id), today=today,
                           exited=exited)


@bp.get("/places/<int:place_id>/publicity")
@login_required
def publicity_list(place_id: int):
    """公示名单: to post on the community's notice board (A4). For the offices: a helper's
    scope holds households, not places."""
    if current_user.role == roles.HELPER:
        abort(404)
    place = get_place_or_404(current_user, place_id)
    if place.level not in ("community", "street", "county"):
        abort(404)
    today = today_local()
    county_id = place.id if place.level == "county" else place.county_id()
    county = db.session.get(Place, county_id) if county_id else None
    full_names = request.args.get("names") == "full"
    try:
        start, end = publicity_period(request.args, today)
    except ValueError as exc:
        return render_template("printing/publicity.html", place=place, county=county,
                               rows=[], error=str(exc), start=None, end=None,
                               office_phone=office_phone(county_id), today=today,
                               full_names=full_names, args=request.args), 400
    return render_template("printing/publicity.html", place=place, county=county,
                           rows=publicity_rows(current_user, place, start, end), error=None,
                           start=start, end=end, office_phone=office_phone(county_id),
                           today=today, full_names=full_names, args=request.args)


# ---------------------------------------------------------------- 帮扶人任务清单

TASK_READERS = (roles.STREET_REVIEWER, roles.COUNTY_OFFICER)


def _task_helper_or_404(helper_id: int) -> User:
    """The helper whose list it is: the helper themself, or a street or county officer whose
    place holds the helper's; anyone else (another helper, other offices) a 404."""
    helper = db.session.get(User, helper_id)
    if helper is None or helper.role != roles.HELPER:
        abort(404)
    if current_user.id == helper.id:
        return helper
    if current_user.role not in TASK_READERS or not helper.place.is_within(current_user.place):
        abort(404)
    return helper


@bp.get("/helpers/<int:helper_id>/tasks")
@login_required
def helper_tasks(helper_id: int):
    """帮扶人任务清单 (A4 portrait) of a month (?month=YYYY-MM, the current one by default)."""
    helper = _task_helper_or_404(helper_id)
    county_id = helper.place.id if helper.place.level == "county" else helper.place.county_id()
    county = db.session.get(Place, county_id) if county_id else None
    context: dict[str, Any] = {"helper": helper, "county": county, "today": today_local()}
    try:
        month = parse_month(request.args.get("month")) or current_month()
    except FormError as exc:
        return render_template("printing/helper_tasks.html", rows=[], month=None,
                               error=exc.message, **context), 400
    # An officer reads the households of their own place only (a helper's list is their own).
    scope = None if current_user.id == helper.id else household_clause(current_user)
    return render_template("printing/helper_tasks.html", month=month, error=None,
                           rows=tasks.task_list(helper, month, scope=scope), **context)

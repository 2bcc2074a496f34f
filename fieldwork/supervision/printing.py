"""Printable A4 forms of the policy's attachments (附件), laid out with print CSS (no PDF
library): the household visit survey form (入户调查表, blank or filled from a visit), the review
and approval form (审核审批表) and the assistance measures card (帮扶措施明白卡).

Every page goes through the scope rule: a household or visit out of the user's scope is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from fieldwork.access import roles
from fieldwork.access.scope import get_household_or_404, get_visit_or_404
from fieldwork.extensions import db
from fieldwork.households.models import Case, Household, Measure, PlanMeasure, ReviewDecision
from fieldwork.places.models import Place
from fieldwork.timeutil import local, today_local
from fieldwork.visits import form as visit_form_schema

bp = Blueprint("printing", __name__, url_prefix="/print")

# The three opinion boxes of the 审核审批表, in order.
BOXES = (
    ("community", _l("社区(村)初审意见")),
    ("street", _l("街道(乡镇)复核意见")),
    ("county", _l("县级解困办审核确认意见")),
)
# Where a decision goes when its step code does not name a level: by the reviewer's role.
ROLE_BOX = {
    roles.COMMUNITY_WORKER: "community",
    roles.DEPARTMENT_REVIEWER: "community",  # 部门/行业初审 stands where the community's would
    roles.STREET_REVIEWER: "street",
    roles.COUNTY_OFFICER: "county",
}
BLANK_MEMBER_ROWS = 5


def box_of(decision: ReviewDecision) -> str:
    step = (decision.step or "").lower()
    for key in ("community", "street", "county"):
        if key in step:
            return key
    if "department" in step or "sector" in step:
        return "community"
    return ROLE_BOX.get(decision.reviewer.role if decision.reviewer else "", "county")


@dataclass
class CaseBoxes:
    case: Case
    boxes: dict[str, list[ReviewDecision]] = field(default_factory=dict)


def review_boxes(household: Household) -> dict[str, list[CaseBoxes]]:
    """The household's cases by kind (intake, exit), each with its decisions sorted into the
    three boxes (empty lists where no one has decided yet)."""
    cases = list(db.session.scalars(
        sa.select(Case).where(Case.household_id == household.id)
        .order_by(Case.opened_at, Case.id)))
    decisions: dict[int | None, list[ReviewDecision]] = {}
    if cases:
        for d in db.session.scalars(
                sa.select(ReviewDecision).where(ReviewDecision.case_id.in_([c.id for c in cases]))
                .order_by(ReviewDecision.decided_at, ReviewDecision.id)):
            decisions.setdefault(d.case_id, []).append(d)
    out: dict[str, list[CaseBoxes]] = {"intake": [], "exit": []}
    for case in cases:
        entry = CaseBoxes(case, {key: [] for key, _label in BOXES})
        for d in decisions.get(case.id, []):
            entry.boxes[box_of(d)].append(d)
        out.setdefault(case.kind, []).append(entry)
    return out


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
    the six dimensions become rows of (status options, note)."""
    schema = visit_form_schema.definition()
    groups = []
    for g in schema["groups"]:
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


def office_phone() -> str:
    """The county office's contact line for the card (FIELDWORK_OFFICE_PHONE), or ''."""
    return str(current_app.config.get("OFFICE_PHONE") or "").strip()


# ---------------------------------------------------------------- views


@bp.get("/visit-form")
@login_required
def blank_visit_form():
    return render_template("printing/visit_form.html", visit=None, household=None,
                           groups=_schema_groups(None), places=None, answers={},
                           members=[], blank_rows=BLANK_MEMBER_ROWS)


@bp.get("/visits/<visit_id>")
@login_required
def visit_form(visit_id: str):
    visit = get_visit_or_404(current_user, visit_id)
    household = visit.household
    answers = visit.answers or {}
    on = local(visit.visited_at).date()
    options = _visit_measure_options(household, on, answers.get("measures_delivered") or [])
    return render_template("printing/visit_form.html", visit=visit, household=household,
                           groups=_schema_groups(options), places=_place_line(household),
                           answers=answers, members=household.members, blank_rows=0)


@bp.get("/households/<int:household_id>/review-form")
@login_required
def review_form(household_id: int):
    household = get_household_or_404(current_user, household_id)
    return render_template("printing/review_form.html", household=household,
                           places=_place_line(household), cases=review_boxes(household),
                           boxes=BOXES)


@bp.get("/households/<int:household_id>/card")
@login_required
def card(household_id: int):
    household = get_household_or_404(current_user, household_id)
    today = today_local()
    places = _place_line(household)
    return render_template("printing/card.html", household=household, places=places,
                           measures=measures_in_force(household, today),
                           assignment=household.current_assignment(today),
                           office_phone=office_phone(), today=today)

"""The visit form (入户调查表) and the recorded visit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from fieldwork.access import roles
from fieldwork.access.scope import get_household_or_404, get_visit_or_404
from fieldwork.extensions import db
from fieldwork.households.models import Household
from fieldwork.photos.models import Photo
from fieldwork.timeutil import today_local
from fieldwork.visits import form
from fieldwork.visits.services import decisions_for, flag_details, member_change_rows

bp = Blueprint("visits", __name__)

CAPTION_LABELS = {"household": _l("家庭成员"), "document": _l("证件材料"),
                  "living": _l("居住条件"), "other": _l("其他")}


def measure_options(household: Household) -> list[dict[str, Any]]:
    today = today_local()
    return [{"value": pm.measure_id, "label": pm.measure.name}
            for pm in household.plan if pm.in_force(today)]


def schema_for(household: Household) -> dict[str, Any]:
    schema = form.definition()
    for f in schema["fields"]:
        if f.get("options_from") == "household.measures":
            f["options"] = measure_options(household)
    return schema


@bp.get("/households/<int:household_id>/visits/new")
@login_required
def new(household_id: int):
    """The visit form's URL: the shell, after the scope and role checks. The form is drawn on
    the phone from the synced data (static/js/pages/visit.js) and saved through the outbox
    and the sync API, never posted here."""
    if current_user.role != roles.HELPER:
        abort(404)
    get_household_or_404(current_user, household_id)
    return render_template("offline.html", offline_shell=True), 200, \
        {"Cache-Control": "no-cache"}


@bp.get("/visits/<visit_id>")
@login_required
def show(visit_id: str):
    visit = get_visit_or_404(current_user, visit_id)
    schema = schema_for(visit.household)
    photos_ = db.session.scalars(
        db.select(Photo).where(Photo.visit_id == visit.id).order_by(Photo.created_at, Photo.id)
    ).all()
    return render_template("visits/show.html", visit=visit, schema=schema,
                           photos=photos_, flags=flag_details(visit),
                           caption_labels=CAPTION_LABELS, decisions=decisions_for(visit.id),
                           member_changes=member_change_rows(visit))

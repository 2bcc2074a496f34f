"""Household pages: the helper's list and the household file."""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from fieldwork.access import roles
from fieldwork.access.scope import get_household_or_404
from fieldwork.extensions import db
from fieldwork.households import members, services
from fieldwork.photos.models import Photo
from fieldwork.places.services import policy_for_county
from fieldwork.timeutil import add_months, current_month, today_local
from fieldwork.visits.models import Visit
from fieldwork.visits.services import confirm_reference as confirm

bp = Blueprint("households", __name__, url_prefix="/households")


def field_shell() -> tuple[str, int, dict[str, str]]:
    """A field page: the shell, drawn on the phone from the synced data (static/js/field-app.js).
    It carries nothing of the user: the page's data comes from the sync pull."""
    return render_template("offline.html", offline_shell=True), 200, {"Cache-Control": "no-cache"}


@bp.get("/mine")
@login_required
def mine():
    if current_user.role != roles.HELPER:
        abort(404)
    return field_shell()


@bp.get("/<int:household_id>")
@login_required
def detail(household_id: int):
    household = get_household_or_404(current_user, household_id)
    if current_user.role == roles.HELPER:
        return field_shell()
    today = today_local()
    visits = list(db.session.scalars(
        sa.select(Visit).where(Visit.household_id == household.id)
        .order_by(Visit.visited_at.desc()).limit(6)
    ))
    thumbs: dict[str | None, list[Photo]] = {}
    if visits:
        for p in db.session.scalars(
            sa.select(Photo).where(Photo.visit_id.in_([v.id for v in visits]),
                                   Photo.stored_at.is_not(None))
            .order_by(Photo.created_at, Photo.id)
        ):
            thumbs.setdefault(p.visit_id, []).append(p)
    month = current_month()
    required = policy_for_county(household.county_id).visits_per_month
    counts = services.visit_counts([household.id], [month, add_months(month, -1)])
    state = services.month_state(counts, household.id, month, required, household.enrolled_on)
    rows, left = members.roster(household, today)
    return render_template(
        "households/detail.html", household=household, visits=visits, thumbs=thumbs,
        measures=[pm for pm in household.plan if pm.in_force(today)],
        assignment=household.current_assignment(today), state=state,
        can_confirm=current_user.role == roles.COUNTY_OFFICER,
        roster=rows, left_members=left, head=members.head_of(household),
        pending_members=members.pending_members(household),
        can_edit_members=current_user.role in members.OFFICE_ROLES,
    )


@bp.post("/<int:household_id>/reference")
@login_required
def confirm_reference(household_id: int):
    """A county officer confirms the reference point proposed from a visit."""

    household = get_household_or_404(current_user, household_id)
    if current_user.role != roles.COUNTY_OFFICER:
        abort(403)
    if household.proposed_lat is None:
        flash(_("该户没有待确认的参考位置"), "warning")
    else:
        confirm(household, current_user, lat=household.proposed_lat,
                lon=cast(float, household.proposed_lon), source="visit")
        db.session.commit()
        flash(_("参考位置已确认"), "success")
    return redirect(url_for("households.detail", household_id=household.id))

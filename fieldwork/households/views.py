"""Household pages: the helper's list and the household file."""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from fieldwork.access import roles
from fieldwork.access.scope import get_household_or_404, visible_households
from fieldwork.extensions import db
from fieldwork.households import services
from fieldwork.households.constants import VISITED_STATUSES
from fieldwork.households.models import Household
from fieldwork.photos.models import Photo
from fieldwork.places.coords import distance_m
from fieldwork.places.services import policy_for_county
from fieldwork.records import parse_location
from fieldwork.timeutil import add_months, current_month, today_local
from fieldwork.visits.models import Visit
from fieldwork.visits.services import confirm_reference as confirm

bp = Blueprint("households", __name__, url_prefix="/households")

STATE_ORDER = {services.OVERDUE: 0, services.DUE: 1, services.VISITED: 2}


def _here() -> tuple[float, float] | None:
    """The phone's position when the page shares it (?lat=&lon=), else None."""
    errors: dict[str, str] = {}
    if not request.args.get("lat") or not request.args.get("lon"):
        return None
    fix = parse_location({"lat": request.args["lat"], "lon": request.args["lon"]}, errors)
    return (fix.lat, fix.lon) if fix else None


@bp.get("/mine")
@login_required
def mine():
    if current_user.role != roles.HELPER:
        abort(404)
    month = current_month()
    q = (request.args.get("q") or "").strip()[:50]
    here = _here()
    query = visible_households(current_user).where(Household.status.in_(VISITED_STATUSES))
    if q:
        query = query.where(sa.or_(Household.head_name.contains(q, autoescape=True),
                                   Household.address.contains(q, autoescape=True)))
    households = list(db.session.scalars(query.order_by(Household.id)))
    ids = [h.id for h in households]
    counts = services.visit_counts(ids, [month, add_months(month, -1)])
    last = services.latest_visits(ids)
    required: dict[int, int] = {}
    rows = []
    for h in households:
        if h.county_id not in required:
            required[h.county_id] = policy_for_county(h.county_id).visits_per_month
        state = services.month_state(counts, h.id, month, required[h.county_id], h.enrolled_on)
        distance = (distance_m(here[0], here[1], h.ref_lat, h.ref_lon)
                    if here and h.has_reference else None)
        visit = last.get(h.id)
        rows.append({"household": h, "state": state, "last_visit": visit,
                     "problems": services.open_problems(visit), "distance": distance})
    rows.sort(key=lambda r: (STATE_ORDER[r["state"].state],
                             r["distance"] if r["distance"] is not None else float("inf"),
                             r["household"].head_name))
    done = sum(r["state"].state == services.VISITED for r in rows)
    template = "households/_list.html" if request.headers.get("HX-Request") else \
        "households/mine.html"
    page = render_template(template, rows=rows, month=month, q=q, done=done, total=len(rows),
                           here=here)
    return page, 200, {"Vary": "HX-Request"}


@bp.get("/<int:household_id>")
@login_required
def detail(household_id: int):
    household = get_household_or_404(current_user, household_id)
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
    return render_template(
        "households/detail.html", household=household, visits=visits, thumbs=thumbs,
        measures=[pm for pm in household.plan if pm.in_force(today)],
        assignment=household.current_assignment(today), state=state,
        can_visit=current_user.role == roles.HELPER,
        can_confirm=current_user.role == roles.COUNTY_OFFICER,
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

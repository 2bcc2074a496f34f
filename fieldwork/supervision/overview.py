"""Officers' view of their place tree, with household and visit counts (辖区概览).

A roll-up of households and visits, so it sits with supervision, above the households
package; the blueprint keeps its name and URLs (`places.overview`, `places.place`, /places/).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from fieldwork.access import roles
from fieldwork.access.scope import get_place_or_404, household_clause
from fieldwork.extensions import db
from fieldwork.households.constants import VISITED_STATUSES
from fieldwork.households.models import Household
from fieldwork.households.services import counts_by_child
from fieldwork.places.services import breadcrumbs, children
from fieldwork.timeutil import current_month

bp = Blueprint("places", __name__, url_prefix="/places")


@bp.get("/")
@login_required
def overview():
    return place(current_user.place_id)


@bp.get("/<int:place_id>")
@login_required
def place(place_id: int):
    if current_user.role == roles.HELPER:
        abort(404)
    here = get_place_or_404(current_user, place_id)
    month = current_month()
    scope = household_clause(current_user)
    kids = children(here)
    counts = counts_by_child(here, VISITED_STATUSES, month, scope)
    rows: list[dict[str, Any]] = [
        {"place": k, **counts.get(k.id, {"households": 0, "visited": 0})} for k in kids]
    households = []
    if here.level == "community":
        households = list(db.session.scalars(
            sa.select(Household).where(Household.place_id == here.id, scope)
            .order_by(Household.head_name)
        ))
    total = sum(r["households"] for r in rows) if rows else len(
        [h for h in households if h.status in VISITED_STATUSES])
    visited = sum(r["visited"] for r in rows)
    trail = [p for p in breadcrumbs(here) if p.is_within(current_user.place)]
    return render_template("places/place.html", here=here, rows=rows, households=households,
                           trail=trail, month=month, total=total, visited=visited)

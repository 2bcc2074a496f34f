"""Reporting a household found in the field (主动发现)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from fieldwork.accounts import roles
from fieldwork.accounts.scope import place_clause
from fieldwork.extensions import db
from fieldwork.places.models import Place

bp = Blueprint("discovery", __name__, url_prefix="/discovery")

def communities_for(user) -> list[dict]:
    rows = db.session.scalars(
        sa.select(Place).where(Place.level == "community", place_clause(user))
        .order_by(Place.code).limit(500)
    )
    return [{"id": str(p.id), "name": p.name} for p in rows]


@bp.get("/new")
@login_required
def new():
    if current_user.role not in roles.REPORTERS:
        abort(404)
    # The form is drawn on the phone from the synced data (static/js/pages/discovery.js).
    return render_template("offline.html", offline_shell=True), 200, {"Cache-Control": "no-cache"}

"""Reporting a household found in the field (主动发现)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from fieldwork.access import roles

bp = Blueprint("discovery", __name__, url_prefix="/discovery")


@bp.get("/new")
@login_required
def new():
    if current_user.role not in roles.REPORTERS:
        abort(404)
    # The form is drawn on the phone from the synced data (static/js/pages/discovery.js).
    return render_template("offline.html", offline_shell=True), 200, {"Cache-Control": "no-cache"}

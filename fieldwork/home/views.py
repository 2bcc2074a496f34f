"""The role-aware home page."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required

from fieldwork.access import roles

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    if current_user.role == roles.HELPER:
        return redirect(url_for("households.mine"))
    return redirect(url_for("places.overview"))

"""The sync API (SYNC-PROTOCOL.md), version 1."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

bp = Blueprint("sync", __name__, url_prefix="/api/sync/v1")


def user_json(user) -> dict:
    return {
        "id": str(user.id),
        "username": user.username,
        "name": user.name,
        "role": user.role,
        "role_label": user.role_label,
        "place": {"id": str(user.place.id), "code": user.place.code, "name": user.place.name},
        "must_change_password": user.must_change_password,
        "locale": user.locale,
    }


@bp.get("/session")
@login_required
def session():
    """Who is logged in, and the CSRF token for state-changing requests."""
    response = jsonify({"user": user_json(current_user), "csrf_token": generate_csrf()})
    response.headers["Cache-Control"] = "no-store"
    return response

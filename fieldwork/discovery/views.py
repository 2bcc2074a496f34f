"""Reporting a household found in the field (主动发现)."""

from __future__ import annotations

import json

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from fieldwork.access import roles
from fieldwork.discovery import form
from fieldwork.discovery.services import communities_for

bp = Blueprint("discovery", __name__, url_prefix="/discovery")


@bp.get("/new")
@login_required
def new():
    if current_user.role not in roles.REPORTERS:
        abort(404)
    context = {"schema": form.definition(), "regions": communities_for(current_user)}
    return render_template("discovery/new.html",
                           context_json=json.dumps(context, ensure_ascii=False))

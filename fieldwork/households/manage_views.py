"""County office management: assignments, plans and measures, exit, policy settings."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("manage", __name__, url_prefix="/manage")

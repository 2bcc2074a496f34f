"""Supervision pages: compliance dashboard, charts, map, doubtful-visit review queue."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

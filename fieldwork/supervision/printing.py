"""Printable A4 forms: the visit survey form, the review and approval form, the 明白卡."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("printing", __name__, url_prefix="/print")

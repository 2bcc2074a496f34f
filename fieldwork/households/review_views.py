"""Review chains (辖区/部门/行业), publicity (公示) and enrolment."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reviews", __name__, url_prefix="/reviews")

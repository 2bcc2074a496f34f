"""Household pages: the helper's list and the household file."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from fieldwork.accounts import roles
from fieldwork.accounts.scope import get_household_or_404, visible_households
from fieldwork.extensions import db
from fieldwork.households import services
from fieldwork.households.constants import VISITED_STATUSES
from fieldwork.households.models import Household
from fieldwork.places.services import policy_for_county
from fieldwork.timeutil import add_months, current_month

bp = Blueprint("households", __name__, url_prefix="/households")

STATE_ORDER = {services.OVERDUE: 0, services.DUE: 1, services.VISITED: 2}


@bp.get("/mine")
@login_required
def mine():
    if current_user.role != roles.HELPER:
        abort(404)
    month = current_month()
    q = (request.args.get("q") or "").strip()
    query = visible_households(current_user).where(Household.status.in_(VISITED_STATUSES))
    if q:
        like = f"%{q}%"
        query = query.where(sa.or_(Household.head_name.like(like), Household.address.like(like)))
    households = list(db.session.scalars(query.order_by(Household.id)))
    ids = [h.id for h in households]
    counts = services.visit_counts(ids, [month, add_months(month, -1)])
    last = services.last_visits(ids)
    policies: dict[int, int] = {}
    rows = []
    for h in households:
        if h.county_id not in policies:
            policies[h.county_id] = policy_for_county(h.county_id).visits_per_month
        state = services.month_state(counts, h.id, month, policies[h.county_id])
        rows.append({"household": h, "state": state, "last_visit": last.get(h.id)})
    rows.sort(key=lambda r: (STATE_ORDER[r["state"].state], r["household"].head_name))
    done = sum(r["state"].state == services.VISITED for r in rows)
    template = "households/_list.html" if request.headers.get("HX-Request") else \
        "households/mine.html"
    response = render_template(
        template, rows=rows, month=month, q=q, done=done, total=len(rows)
    )
    return response, 200, {"Vary": "HX-Request"}


@bp.get("/<int:household_id>")
@login_required
def detail(household_id: int):
    household = get_household_or_404(current_user, household_id)
    return render_template("households/detail.html", household=household)

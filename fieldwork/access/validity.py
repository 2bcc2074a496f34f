"""The one definition of a valid visit: not rejected in review, not replaced by a correction.

Compliance, the ledger export, the household file, the plan page and the exit check all count
valid visits; each calls `valid_visit_clause()` (SQL) or `is_valid_visit()` (a visit in
memory), so the rule cannot drift. The SQL shape is guarded by
tests/supervision/test_query_work.py and bench/supervision.py: keep it a plain conjunction
of these two column tests (the covering index ix_visits_household_month serves it).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.visits.models import Visit


def valid_visit_clause() -> ColumnElement[bool]:
    """Visits that count, as a WHERE clause on Visit."""
    return sa.and_(Visit.review_status != "rejected", Visit.superseded.is_(False))


def is_valid_visit(visit: Visit) -> bool:
    """The same rule for one visit in memory."""
    return visit.review_status != "rejected" and not visit.superseded

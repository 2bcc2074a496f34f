"""Doubtful-visit review (疑点走访审核): the queue of flagged visits in a reviewer's scope, the
evidence for one visit, and the reviewer's decision.

Rules:
- the queue holds visits with at least one flag that are not superseded by a correction,
  within the reviewer's visit scope; by default those not yet reviewed, oldest first;
- street reviewers and county officers decide (accept or reject); city supervisors and
  administrators see the queue read-only;
- a rejection needs a reason; every decision is kept (ReviewDecision, step "visit_review")
  and audited ("visit.review"); the latest decision sets visit.review_status, and a rejected
  visit stops counting towards compliance;
- a decision names the review version its page showed (visit.review_version, raised by each
  decision); it is written by one conditional UPDATE ... WHERE review_version = that, so of
  two reviewers deciding the same visit at once only the first is recorded and the second
  is told who decided (FormError.conflict, 409) -- on SQLite and PostgreSQL alike;
- a flagged visit's answers (the income) enter the household file only once accepted
  (visits.services.in_file_clause); each decision brings the file back in line.
Functions add to the session; the caller commits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access import roles
from fieldwork.access.scope import visit_clause
from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.models import Household, ReviewDecision
from fieldwork.timeutil import add_months, now_utc
from fieldwork.visits.flags import FLAGS
from fieldwork.visits.models import Visit
from fieldwork.visits.services import REVIEW_STEP, refile_household

STEP = REVIEW_STEP
DECIDER_ROLES = (roles.STREET_REVIEWER, roles.COUNTY_OFFICER)
# form value -> (ReviewDecision.decision, Visit.review_status)
DECISIONS = {"accept": ("approve", "accepted"), "reject": ("reject", "rejected")}
# queue filter -> review_status values shown
STATUS_FILTERS = {
    "pending": ("none",),
    "accepted": ("accepted",),
    "rejected": ("rejected",),
    "all": ("none", "accepted", "rejected"),
}
MAX_OPINION = 500
HISTORY_MONTHS = 12


def _stale(visit: Visit) -> FormError:
    """Someone decided the visit after the reviewer's page was loaded (409)."""
    latest = db.session.scalar(
        sa.select(User).join(ReviewDecision, ReviewDecision.reviewer_id == User.id)
        .where(ReviewDecision.visit_id == visit.id, ReviewDecision.step == STEP)
        .order_by(ReviewDecision.decided_at.desc(), ReviewDecision.id.desc()).limit(1))
    who = latest.name if latest is not None else _("其他审核人")
    return FormError.conflict(_("该走访已由%(name)s审核，请刷新后查看", name=who), "decision")


def parse_version(raw: str | None) -> int | None:
    """The review version a form was rendered with; None when the form sent none, -1 when
    it is not a number (never matches)."""
    value = (raw or "").strip()
    if not value:
        return None
    return int(value) if value.isdigit() and len(value) < 10 else -1


@dataclass(frozen=True)
class QueueFilter:
    flag: str | None = None
    month: int | None = None
    status: str = "pending"
    scope: ColumnElement[bool] | None = None  # an extra household clause (a place)


def can_decide(user: User) -> bool:
    return user.role in DECIDER_ROLES


def has_flag(flag: str) -> ColumnElement[bool]:
    """Visits whose flags list holds the code (JSONB containment on PostgreSQL)."""
    if flag not in FLAGS:
        raise ValueError(flag)
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return sa.type_coerce(Visit.flags, JSONB).contains([flag])
    # Codes are fixed identifiers (no quotes or wildcards), so a text match is exact.
    return sa.cast(Visit.flags, sa.Text).like(f'%"{flag}"%')


def queue_clause(user: User, f: QueueFilter) -> ColumnElement[bool]:
    parts = [
        visit_clause(user),
        Visit.flag_count > 0,
        Visit.superseded.is_(False),
        Visit.review_status.in_(STATUS_FILTERS[f.status]),
    ]
    if f.flag:
        parts.append(has_flag(f.flag))
    if f.month:
        parts.append(Visit.month == f.month)
    if f.scope is not None:
        parts.append(Visit.household_id.in_(sa.select(Household.id).where(f.scope)))
    return sa.and_(*parts)


def queue(user: User, f: QueueFilter, *, page: int = 1,
          per_page: int = 30) -> tuple[list[Visit], int]:
    """One page of the queue, oldest first, and the number of visits in it."""
    where = queue_clause(user, f)
    total = db.session.scalar(sa.select(sa.func.count(Visit.id)).where(where)) or 0
    visits = db.session.scalars(
        sa.select(Visit).where(where).order_by(Visit.visited_at, Visit.id)
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(visits), total


def pending_count(user: User, *, month: int | None = None,
                  scope: ColumnElement[bool] | None = None) -> int:
    f = QueueFilter(month=month, scope=scope)
    return db.session.scalar(
        sa.select(sa.func.count(Visit.id)).where(queue_clause(user, f))) or 0


def next_pending(user: User, after: Visit) -> Visit | None:
    """The oldest visit still waiting for a decision, other than `after`."""
    return db.session.scalar(
        sa.select(Visit).where(queue_clause(user, QueueFilter()), Visit.id != after.id)
        .order_by(Visit.visited_at, Visit.id).limit(1))


def decide(user: User, visit: Visit, decision: str, opinion: str, *,
           expect_version: int | None = None) -> ReviewDecision:
    """Record a reviewer's decision on a flagged visit (the caller has checked scope).
    expect_version: the visit's review_version when the reviewer's page was rendered (None:
    as loaded now, which still refuses a decision that lands while this one is written)."""
    if not can_decide(user):
        raise PermissionError("read-only role")
    seen = visit.review_version if expect_version is None else expect_version
    if seen != visit.review_version:
        raise _stale(visit)
    opinion = (opinion or "").strip()
    if decision not in DECISIONS:
        raise FormError.of(_("请选择“确认有效”或“判定无效”"), "decision")
    if visit.flag_count <= 0:
        raise FormError.of(_("该走访没有疑点，无需审核"), "decision")
    if visit.superseded:
        raise FormError.of(_("该走访已被更正记录取代，请审核更正后的记录"), "decision")
    if decision == "reject" and not opinion:
        raise FormError.of(_("判定无效时必须填写理由"), "opinion")
    if len(opinion) > MAX_OPINION:
        raise FormError.of(_("审核意见不能超过 %(n)d 字", n=MAX_OPINION), "opinion")
    code, status = DECISIONS[decision]
    previous = visit.review_status
    # Compare and set in one statement: PostgreSQL makes a concurrent second UPDATE wait
    # for the first to commit and then finds the version moved on; SQLite runs writing
    # requests one at a time. (An UPDATE answers with a CursorResult: it has the rowcount.)
    done = cast(sa.CursorResult[Any], db.session.execute(
        sa.update(Visit).where(Visit.id == visit.id, Visit.review_version == seen)
        .values(review_status=status, review_version=Visit.review_version + 1)
        .execution_options(synchronize_session=False)))
    if done.rowcount != 1:
        raise _stale(visit)
    db.session.refresh(visit, ["review_status", "review_version"])
    record = ReviewDecision(visit_id=visit.id, step=STEP, decision=code, opinion=opinion,
                            reviewer_id=user.id, decided_at=now_utc())
    db.session.add(record)
    household = visit.household
    # The phone's "visited this month" state depends on which visits count.
    household.version += 1
    # Accepted, the visit's answers enter the file; rejected, they stay out of it.
    refile_household(household, accepted=visit if status == "accepted" else None)
    audit.record("visit.review", target_type="visit", target_id=visit.id,
                 place_id=household.county_id, user=user, decision=code, previous=previous,
                 opinion=opinion, flags=list(visit.flags), household_id=household.id)
    return record


@dataclass
class HelperHistory:
    recent: list[Visit]  # the helper's latest visits to this household
    visits: int  # the helper's visits in the window (not superseded)
    flagged: int
    rejected: int
    scope_visits: int  # every visit in the reviewer's scope in the same window
    scope_flagged: int
    first_month: int
    last_month: int

    @property
    def flag_rate(self) -> float | None:
        return round(100 * self.flagged / self.visits, 1) if self.visits else None

    @property
    def scope_flag_rate(self) -> float | None:
        return round(100 * self.scope_flagged / self.scope_visits, 1) if self.scope_visits \
            else None


def helper_history(user: User, visit: Visit, limit: int = 6) -> HelperHistory:
    """The helper's recent visits to the household and their flag rate over the last
    HISTORY_MONTHS months up to the visit's, beside the rate of the reviewer's whole scope."""
    scope = visit_clause(user)
    recent = db.session.scalars(
        sa.select(Visit).where(scope, Visit.household_id == visit.household_id,
                               Visit.helper_id == visit.helper_id)
        .order_by(Visit.visited_at.desc(), Visit.id).limit(limit)).all()
    first = add_months(visit.month, -(HISTORY_MONTHS - 1))
    window = sa.and_(scope, Visit.superseded.is_(False), Visit.month.between(first, visit.month))
    flagged = sa.func.sum(sa.case((Visit.flag_count > 0, 1), else_=0))
    mine = db.session.execute(sa.select(
        sa.func.count(Visit.id), flagged,
        sa.func.sum(sa.case((Visit.review_status == "rejected", 1), else_=0)),
    ).where(window, Visit.helper_id == visit.helper_id)).one()
    everyone = db.session.execute(sa.select(sa.func.count(Visit.id), flagged)
                                  .where(window)).one()
    return HelperHistory(recent=list(recent), visits=mine[0] or 0, flagged=int(mine[1] or 0),
                         rejected=int(mine[2] or 0), scope_visits=everyone[0] or 0,
                         scope_flagged=int(everyone[1] or 0), first_month=first,
                         last_month=visit.month)

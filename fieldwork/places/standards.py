"""A county's 城镇低保标准 (urban dibao standard): a dated history, set by the county officer.

The standard is the county's own (each 县/市/区 sets and raises it, usually once a year); it is
the line of the eligibility categories "below the dibao line" and "slightly above it" (policy
lines 43 and 45; 低保 itself, line 73) and of the exit rule (income stably above the local
standard, line 149). It is not the
programme's target of 630 元 per person and month (policy line 87), which is
`PolicySettings.income_target`.

The standard in force on a day is the value with the latest effective date on or before it;
before a county's first value there is none, and whatever needs one says so rather than
guessing. A value entered again for a date that already has one corrects it (audited with the
old amount).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.places.models import DibaoStandard, Place
from fieldwork.records import parse_money
from fieldwork.timeutil import now_utc, today_local

MINIMUM = Decimal("100")
MAXIMUM = Decimal("5000")
EARLIEST = date(2000, 1, 1)
# A new standard is announced before it takes effect; a year ahead is the most a county needs.
MAX_AHEAD = timedelta(days=366)


@dataclass
class Schedule:
    """One county's values, oldest first, answering "which standard on this day" in memory."""

    days: list[date] = field(default_factory=list)
    amounts: list[Decimal] = field(default_factory=list)

    def on(self, day: date) -> Decimal | None:
        i = bisect_right(self.days, day)
        return self.amounts[i - 1] if i else None


def dibao_standard(county_id: int, on: date) -> Decimal | None:
    """The county's 城镇低保标准 in force on a day (one query), or None before its first."""
    return db.session.scalar(
        sa.select(DibaoStandard.amount)
        .where(DibaoStandard.place_id == county_id, DibaoStandard.effective_from <= on)
        .order_by(DibaoStandard.effective_from.desc()).limit(1))


def schedules_from_rows(rows: Iterable[tuple[int, date | None, Decimal | None]],
                        county_ids: Iterable[int]) -> dict[int, Schedule]:
    """Schedules from (county id, effective_from, amount) rows in any order; rows with no date
    (an outer join that found none) are skipped. Every county asked for gets one."""
    out = {cid: Schedule() for cid in county_ids}
    dated = [(cid, day, amount) for cid, day, amount in rows if day is not None]
    for cid, day, amount in sorted(dated, key=lambda r: (r[0], r[1])):
        sched = out.setdefault(cid, Schedule())
        sched.days.append(day)
        sched.amounts.append(Decimal(str(amount)))
    return out


def schedules(county_ids: Iterable[int]) -> dict[int, Schedule]:
    """The whole history of several counties in one query (a county has a handful of rows)."""
    ids = set(county_ids)
    rows = db.session.execute(
        sa.select(DibaoStandard.place_id, DibaoStandard.effective_from, DibaoStandard.amount)
        .where(DibaoStandard.place_id.in_(ids or {0})))
    return schedules_from_rows(((c, d, a) for c, d, a in rows), ids)


def dibao_standards(county_ids: Iterable[int], on: date) -> dict[int, Decimal | None]:
    """The standard in force on one day for many counties (one query)."""
    return {cid: s.on(on) for cid, s in schedules(county_ids).items()}


def history(county: Place) -> list[DibaoStandard]:
    """The county's values, newest effective date first (with who set them)."""
    return list(db.session.scalars(
        sa.select(DibaoStandard).where(DibaoStandard.place_id == county.id)
        .order_by(DibaoStandard.effective_from.desc())))


def setters(rows: Iterable[DibaoStandard]) -> dict[int, User]:
    ids = {r.set_by_id for r in rows if r.set_by_id is not None}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids or {0})))}


def parse(form: Any, today: date | None = None) -> tuple[Decimal, date]:
    """The amount and effective date of the form; FormError with one message per bad field."""
    today = today or today_local()
    errors: dict[str, str] = {}
    raw_amount = str(form.get("amount", "") or "").strip()
    raw_day = str(form.get("effective_from", "") or "").strip()
    amount = parse_money(raw_amount) if raw_amount else None
    if not raw_amount:
        errors["amount"] = _("请填写城镇低保标准")
    elif amount is None:
        errors["amount"] = _("城镇低保标准应为金额，如 680 或 680.50")
    elif amount <= 0:
        errors["amount"] = _("城镇低保标准应大于 0")
    elif amount < MINIMUM or amount > MAXIMUM:
        errors["amount"] = _("城镇低保标准应在 %(lo)s 到 %(hi)s 元/人·月之间",
                             lo=MINIMUM, hi=MAXIMUM)
    day: date | None = None
    if not raw_day:
        errors["effective_from"] = _("请填写生效日期")
    else:
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            errors["effective_from"] = _("生效日期格式应为 2025-07-01")
        else:
            if day < EARLIEST:
                errors["effective_from"] = _("生效日期不能早于 %(d)s", d=EARLIEST.isoformat())
            elif day > today + MAX_AHEAD:
                errors["effective_from"] = _("生效日期不能晚于 %(d)s",
                                             d=(today + MAX_AHEAD).isoformat())
    if errors or amount is None or day is None:
        raise FormError(errors)
    return amount, day


def set_standard(county: Place, user: User, form: Any) -> DibaoStandard:
    """Record a value of the county's standard from a date (or correct the value already
    recorded for that date). Audited; the caller commits."""
    if county.level != "county":
        raise ValueError("the dibao standard belongs to a county")
    amount, day = parse(form)
    row = db.session.scalar(sa.select(DibaoStandard).where(
        DibaoStandard.place_id == county.id, DibaoStandard.effective_from == day))
    before = str(row.amount) if row is not None else None
    if row is not None and row.amount == amount:
        raise FormError({"amount": _("%(d)s 起的标准已是 %(v)s 元", d=day.isoformat(), v=amount)})
    if row is None:
        row = DibaoStandard(place_id=county.id, effective_from=day, amount=amount)
        db.session.add(row)
    row.amount = amount
    row.set_by_id = user.id
    row.set_at = now_utc()
    db.session.flush()
    audit.record("dibao_standard.set", target_type="place", target_id=county.id,
                 place_id=county.id, user=user, effective_from=day.isoformat(),
                 amount=str(amount), before=before)
    return row

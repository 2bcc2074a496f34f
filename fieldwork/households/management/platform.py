"""Entry into the province's 低收入人口动态监测信息平台 (policy line 67: after confirmation,
publicity and filing, the county office "及时录入低收入人口动态监测信息平台").

The platform is another system; this records that an enrolled household has been entered in
it, on which day and by which county officer (with the platform's reference number or a note
if the officer has one), and lists the enrolled households still waiting. One `PlatformEntry`
row per household, in its own table rather than columns on `households`: the entry has its own
author, note and time of recording, and "not yet entered" is one anti-join.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.models import Household, PlatformEntry
from fieldwork.records import parse_text
from fieldwork.timeutil import now_utc, today_local

MAX_REFERENCE = 64
MAX_NOTE = 500
MAX_BATCH = 200
RECENT = 30


def not_entered(scope: ColumnElement[bool]) -> list[Household]:
    """Enrolled households in scope with no entry yet, longest waiting first (one query)."""
    return list(db.session.scalars(
        sa.select(Household)
        .outerjoin(PlatformEntry, PlatformEntry.household_id == Household.id)
        .where(scope, Household.status == "enrolled", PlatformEntry.id.is_(None))
        .order_by(Household.enrolled_on, Household.id)))


def recent(scope: ColumnElement[bool], limit: int = RECENT) -> list[tuple[PlatformEntry,
                                                                           Household]]:
    """The latest entries recorded in scope, newest first (one query)."""
    rows = db.session.execute(
        sa.select(PlatformEntry, Household)
        .join(Household, Household.id == PlatformEntry.household_id)
        .where(scope)
        .order_by(PlatformEntry.recorded_at.desc(), PlatformEntry.id.desc()).limit(limit))
    return [(entry, household) for entry, household in rows]


def entered_count(scope: ColumnElement[bool]) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(PlatformEntry.id))
        .join(Household, Household.id == PlatformEntry.household_id)
        .where(scope, Household.status == "enrolled")) or 0


def entry_for(household: Household) -> PlatformEntry | None:
    return db.session.scalar(
        sa.select(PlatformEntry).where(PlatformEntry.household_id == household.id))


def household_ids(raw: Sequence[str]) -> list[int] | None:
    """The ticked household ids of a form, or None when one is not an id at all."""
    ids: list[int] = []
    for value in raw:
        if not value.isdigit():
            return None
        if int(value) not in ids:
            ids.append(int(value))
    return ids


def in_scope(scope: ColumnElement[bool], ids: list[int]) -> list[Household] | None:
    """The households with these ids if every one is in scope (one query), else None: the
    caller answers 404 as if they did not exist."""
    if not ids:
        return []
    found = {h.id: h for h in db.session.scalars(
        sa.select(Household).where(scope, Household.id.in_(ids)))}
    if len(found) != len(ids):
        return None
    return [found[i] for i in ids]


def _entered_on(raw: Any, households: list[Household], today: date,
                errors: dict[str, str]) -> date | None:
    text = str(raw or "").strip()
    if not text:
        errors["entered_on"] = _("请填写录入日期")
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors["entered_on"] = _("录入日期格式应为 2025-07-01")
        return None
    if day > today:
        errors["entered_on"] = _("录入日期不能晚于今天")
        return None
    early = [(h.head_name, h.enrolled_on) for h in households
             if h.enrolled_on is not None and day < h.enrolled_on]
    if early:
        errors["entered_on"] = _("录入日期不能早于纳入帮扶日期：%(who)s",
                                 who="、".join(f"{name}（{on.isoformat()}）"
                                              for name, on in early[:5]))
        return None
    return day


def record(households: list[Household], user: User, form: Any,
           today: date | None = None) -> list[PlatformEntry]:
    """Record the entry of one or several enrolled households on one date, all or none.
    Audited per household; the caller commits."""
    today = today or today_local()
    errors: dict[str, str] = {}
    if not households:
        errors["household_ids"] = _("请勾选已录入平台的住户")
    elif len(households) > MAX_BATCH:
        errors["household_ids"] = _("一次最多登记 %(n)d 户", n=MAX_BATCH)
    else:
        waiting = {h.id for h in households if h.status == "enrolled"}
        done = set(db.session.scalars(sa.select(PlatformEntry.household_id).where(
            PlatformEntry.household_id.in_([h.id for h in households]))))
        wrong = [h for h in households if h.id not in waiting or h.id in done]
        if wrong:
            errors["household_ids"] = _(
                "以下住户不在帮扶中或已登记录入：%(who)s",
                who="、".join(h.head_name for h in wrong[:5]))
    day = _entered_on(form.get("entered_on"), households, today, errors)
    reference = parse_text(form.get("reference"), "reference", _("平台编号"), MAX_REFERENCE,
                           errors)
    note = parse_text(form.get("note"), "note", _("备注"), MAX_NOTE, errors)
    if errors or day is None:
        raise FormError(errors)
    now = now_utc()
    entries = []
    for household in households:
        entry = PlatformEntry(household_id=household.id, entered_on=day, entered_by_id=user.id,
                              reference=reference, note=note, recorded_at=now)
        db.session.add(entry)
        entries.append(entry)
        audit.record("platform.entered", target_type="household", target_id=household.id,
                     place_id=household.county_id, user=user, entered_on=day.isoformat(),
                     reference=reference)
    db.session.flush()
    return entries

"""The watch list (加强监测, policy line 147): applicants not enrolled are monitored for changes
in their family situation and, once they qualify, their review starts again.

- A case that ends not enrolled leaves the household 未纳入 ("rejected"). The community, the
  street or the county office of the household's area may then put it on the watch list with a
  reason and a re-check date (three months ahead by default, never in the past, at most a
  year ahead): status "watch" (未纳入·监测中), one open `WatchEntry`.
- The community worker or the street reviewer records monitoring checks (监测记录: date, what
  changed, note, next re-check date). Helpers are not involved: a watched household is not
  visited monthly (VISITED_STATUSES stays "enrolled").
- "重新启动审核" opens a new intake case through `cases.open_case`, at the first step for the
  level of whoever restarts it (community → 社区初审; street or county → 街道复核/核查), ends the
  entry with the reason and the new case, and the household leaves the list. Entries and
  checks are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from fieldwork.access import roles
from fieldwork.access.scope import household_clause
from fieldwork.accounts.models import User
from fieldwork.audit.services import record as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.intake.cases import open_case
from fieldwork.households.intake.steps import MAX_TEXT, set_status
from fieldwork.households.models import Case, Household, WatchCheck, WatchEntry
from fieldwork.places.models import Place
from fieldwork.records import parse_note
from fieldwork.timeutil import date_plus_months, local, now_utc, today_local

RECHECK_MONTHS = 3  # the default re-check date, from today
MAX_RECHECK_MONTHS = 12  # a re-check date further away is not monitoring
# Who puts a household on the watch list and restarts its review: the offices of the
# territorial chain, each for its own area (the same people who reviewed it).
WATCHERS = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER, roles.COUNTY_OFFICER)
# Who records monitoring checks: those who see the household in their daily rounds.
CHECKERS = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER)
# Who reads the watch list.
WATCH_READERS = (*WATCHERS, roles.CITY_SUPERVISOR)
NOT_ENROLLED = ("rejected", "watch")


def default_recheck(today: date | None = None) -> date:
    return date_plus_months(today or today_local(), RECHECK_MONTHS)


# ---------------------------------------------------------------- who may act

def acts_for(user: User, hh: Household, allowed: tuple[str, ...] = WATCHERS) -> bool:
    """The user is one of the allowed roles, in the household's own community, street or
    county."""
    if not user.is_active or user.role not in allowed:
        return False
    if user.role == roles.COMMUNITY_WORKER:
        return user.place_id == hh.place_id
    if user.role == roles.STREET_REVIEWER:
        return user.place_id == hh.street_id
    return user.role == roles.COUNTY_OFFICER and user.place_id == hh.county_id


def open_entry(hh: Household) -> WatchEntry | None:
    return db.session.scalar(sa.select(WatchEntry).where(
        WatchEntry.household_id == hh.id, WatchEntry.ended_at.is_(None)).limit(1))


def may_watch(user: User, hh: Household) -> bool:
    return hh.status in NOT_ENROLLED and open_entry(hh) is None and acts_for(user, hh)


def may_check(user: User, hh: Household) -> bool:
    return hh.status == "watch" and open_entry(hh) is not None and acts_for(user, hh, CHECKERS)


def may_restart(user: User, hh: Household) -> bool:
    return hh.status == "watch" and acts_for(user, hh)


# ---------------------------------------------------------------- parsing

def _text(raw: Mapping[str, Any], name: str, label: str, errors: dict[str, str], *,
          required: bool) -> str:
    return parse_note(raw.get(name), name, errors, label=label, max_length=MAX_TEXT,
                      required=_("请填写“%(label)s”", label=label) if required else None)


def _date(raw: Mapping[str, Any], name: str, label: str, errors: dict[str, str]) -> date | None:
    value = raw.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        errors[name] = _("请填写“%(label)s”", label=label)
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        errors[name] = _("“%(label)s”应为日期，例如 2026-03-01", label=label)
        return None


def _recheck(raw: Mapping[str, Any], name: str, today: date, errors: dict[str, str]) -> date:
    day = _date(raw, name, _("复查日期"), errors)
    if day is None:
        return today
    if day < today:
        errors[name] = _("复查日期不能早于今天")
    elif day > date_plus_months(today, MAX_RECHECK_MONTHS):
        errors[name] = _("复查日期不能晚于 %(n)d 个月之后", n=MAX_RECHECK_MONTHS)
    return day


# ---------------------------------------------------------------- acts

def start_watch(user: User, hh: Household, raw: Mapping[str, Any], *,
                today: date | None = None) -> WatchEntry:
    """Put a household not enrolled on the watch list: reason and re-check date."""
    if not acts_for(user, hh):
        raise FormError.forbidden(_("只有该户所在社区、街道或县级解困办可以登记重点监测"))
    if hh.status not in NOT_ENROLLED:
        raise FormError.conflict(_("只有未纳入帮扶的家庭可以登记重点监测"))
    if open_entry(hh) is not None:
        raise FormError.conflict(_("这一户已在监测名单中"))
    today = today or today_local()
    errors: dict[str, str] = {}
    reason = _text(raw, "reason", _("监测原因"), errors, required=True)
    recheck_on = _recheck(raw, "recheck_on", today, errors)
    if errors:
        raise FormError(errors)
    case = db.session.scalar(sa.select(Case).where(
        Case.household_id == hh.id, Case.kind == "intake", Case.state == "rejected")
        .order_by(Case.closed_at.desc(), Case.id.desc()).limit(1))
    entry = WatchEntry(household_id=hh.id, case_id=case.id if case else None, reason=reason,
                       recheck_on=recheck_on, started_by_id=user.id, started_at=now_utc())
    try:
        # Two people at once: the unique index on open entries lets one through.
        with db.session.begin_nested():
            db.session.add(entry)
            db.session.flush()
    except IntegrityError as exc:
        raise FormError.conflict(_("这一户已在监测名单中")) from exc
    set_status(hh, "watch")
    db.session.flush()
    audit("watch.start", target_type="household", target_id=hh.id, place_id=hh.county_id,
          user=user, entry_id=entry.id, recheck_on=recheck_on.isoformat())
    return entry


def record_check(user: User, hh: Household, raw: Mapping[str, Any], *,
                 today: date | None = None) -> WatchCheck:
    """A monitoring check by the community or the street: what changed, the next re-check."""
    if not acts_for(user, hh, CHECKERS):
        raise FormError.forbidden(_("监测记录由该户所在社区或街道填写"))
    entry = open_entry(hh) if hh.status == "watch" else None
    if entry is None:
        raise FormError.conflict(_("这一户不在监测名单中"))
    today = today or today_local()
    errors: dict[str, str] = {}
    checked_on = _date(raw, "checked_on", _("监测日期"), errors)
    if checked_on is not None and checked_on > today:
        errors["checked_on"] = _("监测日期不能晚于今天")
    elif checked_on is not None and checked_on < local(entry.started_at).date():
        errors["checked_on"] = _("监测日期不能早于列入监测的日期")
    changes = _text(raw, "changes", _("家庭情况变化"), errors, required=True)
    note = _text(raw, "note", _("备注"), errors, required=False)
    next_on = _recheck(raw, "next_recheck_on", today, errors)
    if errors or checked_on is None:
        raise FormError(errors)
    check = WatchCheck(entry_id=entry.id, household_id=hh.id, checked_on=checked_on,
                       changes=changes, note=note, next_recheck_on=next_on,
                       recorded_by_id=user.id, recorded_at=now_utc())
    db.session.add(check)
    entry.recheck_on = next_on
    db.session.flush()
    audit("watch.check", target_type="household", target_id=hh.id, place_id=hh.county_id,
          user=user, entry_id=entry.id, check_id=check.id)
    return check


def restart_review(user: User, hh: Household, raw: Mapping[str, Any], *,
                   now: datetime | None = None) -> Case:
    """重新启动审核: a new intake case at the first step for the user's level; the household
    leaves the watch list, its entry is closed with the reason and the new case."""
    if not acts_for(user, hh):
        raise FormError.forbidden(_("只有该户所在社区、街道或县级解困办可以重新启动审核"))
    if hh.status != "watch":
        raise FormError.conflict(_("这一户不在监测名单中"))
    errors: dict[str, str] = {}
    reason = _text(raw, "reason", _("重新启动审核的原因"), errors, required=True)
    if errors:
        raise FormError(errors)
    now = now or now_utc()
    if user.role == roles.COMMUNITY_WORKER:
        source, organisation = "monitoring", ""
    else:
        source = "monitoring_lead"
        organisation = _("县级解困办") if user.role == roles.COUNTY_OFFICER else ""
    case = open_case(user, hh, channel="territorial", source=source,
                     organisation=organisation, now=now)
    entry = open_entry(hh)
    if entry is not None:
        # Compare and set: two people restarting at once open one case, not two.
        done = cast(sa.CursorResult[Any], db.session.execute(
            sa.update(WatchEntry).where(WatchEntry.id == entry.id, WatchEntry.ended_at.is_(None))
            .values(ended_at=now, ended_by_id=user.id, end_reason=reason,
                    restart_case_id=case.id)
            .execution_options(synchronize_session="fetch")))
        if done.rowcount != 1:
            raise FormError.conflict(_("该户已由他人处理，请刷新后查看"))
    else:
        # Watched before the list kept entries: record the restart as a closed entry.
        db.session.add(WatchEntry(household_id=hh.id, reason=_("（列入监测时未登记原因）"),
                                  recheck_on=local(now).date(), started_by_id=user.id,
                                  started_at=now, ended_at=now, ended_by_id=user.id,
                                  end_reason=reason, restart_case_id=case.id))
    set_status(hh, "reported")
    db.session.flush()
    audit("watch.restart", target_type="household", target_id=hh.id, place_id=hh.county_id,
          user=user, case_id=case.id, stage=case.stage)
    return case


# ---------------------------------------------------------------- reading

@dataclass
class WatchRow:
    household: Household
    entry: WatchEntry | None  # None: watched before the list kept reasons and dates
    last_contact: date | None
    today: date

    @property
    def overdue(self) -> bool:
        return self.entry is None or self.entry.recheck_on < self.today

    @property
    def due_today(self) -> bool:
        return self.entry is not None and self.entry.recheck_on == self.today


def area_clause(place: Place | None) -> sa.ColumnElement[bool]:
    """Households of one place (a community, street or county; the city: all)."""
    if place is None or place.level == "city":
        return sa.true()
    column = {"county": Household.county_id, "street": Household.street_id}.get(
        place.level, Household.place_id)
    return column == place.id


def watch_rows(user: User, place: Place | None = None, today: date | None = None,
               limit: int = 500) -> list[WatchRow]:
    """The watched households the user may see (in one place), the next re-check first;
    those without a re-check date (watched before the list kept them) lead."""
    today = today or today_local()
    last = (sa.select(WatchCheck.entry_id, sa.func.max(WatchCheck.checked_on).label("last"))
            .group_by(WatchCheck.entry_id).subquery())
    rows = db.session.execute(
        sa.select(Household, WatchEntry, last.c.last)
        .outerjoin(WatchEntry, sa.and_(WatchEntry.household_id == Household.id,
                                       WatchEntry.ended_at.is_(None)))
        .outerjoin(last, last.c.entry_id == WatchEntry.id)
        .where(Household.status == "watch", household_clause(user), area_clause(place))
        .order_by(WatchEntry.id.is_not(None), WatchEntry.recheck_on, Household.id)
        .limit(limit)).all()
    return [WatchRow(hh, entry, last_on, today) for hh, entry, last_on in rows]


def not_yet_watched(user: User, place: Place | None = None, limit: int = 200) -> list[Household]:
    """Households not enrolled (未纳入) and not on the list yet: the policy asks that every
    applicant not enrolled be monitored, so the list shows whom to decide on."""
    return list(db.session.scalars(
        sa.select(Household).where(Household.status == "rejected", household_clause(user),
                                   area_clause(place))
        .order_by(Household.updated_at.desc(), Household.id.desc()).limit(limit)))


def history(hh: Household) -> list[WatchEntry]:
    """Every watch of the household, the newest first, with its checks."""
    return list(db.session.scalars(sa.select(WatchEntry).where(
        WatchEntry.household_id == hh.id).order_by(WatchEntry.started_at.desc(),
                                                    WatchEntry.id.desc())))


def restarted_by(case: Case) -> WatchEntry | None:
    """The watch that this case restarted, if any (its reason shows on the case page)."""
    return db.session.scalar(sa.select(WatchEntry).where(
        WatchEntry.restart_case_id == case.id).limit(1))


def file_section(user: User, hh: Household) -> dict[str, Any]:
    """What the household file shows under 监测记录, and what the user may do there."""
    return {"entries": history(hh), "open": open_entry(hh), "can_watch": may_watch(user, hh),
            "can_check": may_check(user, hh), "can_restart": may_restart(user, hh),
            "default_recheck": default_recheck(), "today": today_local()}

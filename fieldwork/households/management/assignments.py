"""Helper assignment (结对帮扶): assign, reassign one household, hand over all of a departing
helper's households, with the history kept.

History. A household's Assignment rows never overlap. Reassigning from an effective date D
ends the assignment in force the day before at D − 1 and starts the new one on D; rows that
were only scheduled (starting after today) and would begin on or after D are withdrawn, as
is a row starting on D itself (a same-day correction). A row that has already started after
D is left alone and the change refused: that would rewrite days already served.

Effective dates. Future dates are allowed (a planned handover). Past dates are allowed back
to the first day of the current Asia/Shanghai month and no further: the current month is
still open, so an office that hears of a departure a few days late can record it as it
happened, but an ended month's compliance (督导考评) has been reported by helper and moving
responsibility into it would silently change whose record it was.

Phones. Every moved household's version is bumped, so the new helper's phone receives it at
its next pull and the old helper's phone lists it in `removed` once the assignment ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access import roles
from fieldwork.access.scope import current_assignment_clause
from fieldwork.accounts.models import User
from fieldwork.accounts.services import deactivate_user
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.models import Assignment, Household
from fieldwork.places.models import Place
from fieldwork.records import parse_note
from fieldwork.timeutil import month_first_day, month_of_date, today_local

MAX_REASON = 200
MAX_AHEAD = timedelta(days=366)
# Households that can be given a helper: enrolled ones (the list pages show only these).
ASSIGNABLE = ("enrolled",)




# ---------------------------------------------------------------- look-ups

def earliest_effective(today: date | None = None) -> date:
    return month_first_day(month_of_date(today or today_local()))


def latest_effective(today: date | None = None) -> date:
    return (today or today_local()) + MAX_AHEAD


def helpers_clause(county: Place) -> ColumnElement[bool]:
    """Helper accounts whose home place lies within the county."""
    return sa.and_(
        User.role == roles.HELPER,
        User.place_id.in_(sa.select(Place.id).where(
            Place.path.startswith(county.path, autoescape=True))),
    )


def county_helpers(county: Place, *, active_only: bool = True) -> list[User]:
    query = sa.select(User).where(helpers_clause(county))
    if active_only:
        query = query.where(User.active.is_(True))
    return list(db.session.scalars(query.order_by(User.display_name, User.username)))


def helper_in_county(county: Place, helper_id: Any, *, active_only: bool = True) -> User | None:
    try:
        uid = int(helper_id)
    except (TypeError, ValueError):
        return None
    query = sa.select(User).where(User.id == uid, helpers_clause(county))
    if active_only:
        query = query.where(User.active.is_(True))
    return db.session.scalar(query)


def unassigned(scope: ColumnElement[bool], today: date | None = None,
               limit: int = 500) -> list[Household]:
    """Enrolled households in scope with no helper now and none scheduled."""
    day = today or today_local()
    held = sa.select(Assignment.household_id).where(
        sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= day))
    return list(db.session.scalars(
        sa.select(Household).where(scope, Household.status.in_(ASSIGNABLE),
                                   Household.id.not_in(held))
        .order_by(Household.street_id, Household.place_id, Household.head_name).limit(limit)))


@dataclass
class HelperLoad:
    helper: User
    households: int


def helper_loads(scope: ColumnElement[bool], county: Place | None,
                 today: date | None = None) -> list[HelperLoad]:
    """Helpers with the number of households in scope they hold today (one grouped query),
    plus, for a county, its active helpers who hold none yet."""
    day = today or today_local()
    counts = dict(db.session.execute(
        sa.select(Assignment.helper_id, sa.func.count(sa.distinct(Assignment.household_id)))
        .join(Household, Household.id == Assignment.household_id)
        .where(scope, current_assignment_clause(day))
        .group_by(Assignment.helper_id)).all())
    query = sa.select(User).where(User.id.in_(list(counts) or [0]))
    if county is not None:
        query = sa.select(User).where(sa.or_(
            User.id.in_(list(counts) or [0]),
            sa.and_(helpers_clause(county), User.active.is_(True))))
    users = db.session.scalars(query).all()
    rows = [HelperLoad(u, counts.get(u.id, 0)) for u in users]
    rows.sort(key=lambda r: (r.helper.active, -r.households, r.helper.name))
    return rows


def held_by(helper: User, scope: ColumnElement[bool], on: date) -> list[tuple[Household,
                                                                               Assignment]]:
    """The helper's households in scope whose assignment runs on or after `on` (current or
    scheduled), with that assignment."""
    return list(db.session.execute(
        sa.select(Household, Assignment)
        .join(Assignment, Assignment.household_id == Household.id)
        .where(scope, Assignment.helper_id == helper.id,
               sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= on))
        .order_by(Household.head_name, Household.id)).unique().all())


def overlapping(household_ids: list[int] | None = None) -> set[int]:
    """Households that have two assignments covering a common day (should be none)."""
    a, b = aliased(Assignment), aliased(Assignment)
    query = sa.select(a.household_id).join(b, sa.and_(
        a.household_id == b.household_id, a.id < b.id,
        sa.or_(b.end_date.is_(None), a.start_date <= b.end_date),
        sa.or_(a.end_date.is_(None), b.start_date <= a.end_date)))
    if household_ids is not None:
        query = query.where(a.household_id.in_(household_ids or [0]))
    return set(db.session.scalars(query.distinct()))


# ---------------------------------------------------------------- parsing

def parse_effective(raw: Any, errors: dict[str, str], today: date) -> date | None:
    text = str(raw or "").strip()
    if not text:
        errors["effective"] = _("请填写生效日期")
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        errors["effective"] = _("生效日期格式不正确，应为 年-月-日")
        return None
    first = earliest_effective(today)
    if value < first:
        errors["effective"] = _(
            "生效日期最早只能是本月 1 日（%(first)s）：以前月份的走访考核已按原帮扶责任人统计",
            first=first.isoformat())
        return None
    if value > latest_effective(today):
        errors["effective"] = _("生效日期不能晚于一年以后")
        return None
    return value


def parse_reason(raw: Any, errors: dict[str, str], *, required: bool) -> str:
    return parse_note(raw, "reason", errors, label=_("原因"), max_length=MAX_REASON,
                      required=_("请填写调整原因，如：原帮扶责任人工作调动") if required else None)


# ---------------------------------------------------------------- changes

@dataclass
class Move:
    household: Household
    old_helper_id: int | None
    withdrawn: list[dict[str, Any]]


def _plan_move(household: Household, helper: User, effective: date, today: date
               ) -> tuple[list[tuple[Assignment, date]], list[Assignment], tuple[str, str] | None]:
    """What setting `helper` from `effective` does to the household's rows: (rows to end with
    their new end date, rows to withdraw, (field, Chinese message) when it cannot be done)."""
    to_end: list[tuple[Assignment, date]] = []
    withdraw: list[Assignment] = []
    on_day = None  # the row that would otherwise be in force on the effective date
    for a in household.assignments:
        if a.end_date is not None and a.end_date < effective:
            continue
        if a.start_date < effective:
            to_end.append((a, effective - timedelta(days=1)))
            on_day = a
        elif a.start_date == effective or a.start_date > today:
            withdraw.append(a)
            if a.start_date == effective:
                on_day = a
        else:
            return [], [], ("effective", _(
                "%(name)s 自 %(start)s 起已由 %(helper)s 帮扶，生效日期不能早于该日期",
                name=household.head_name, start=a.start_date.isoformat(), helper=a.helper.name))
    if on_day is not None and on_day.helper_id == helper.id:
        return [], [], ("helper_id", _("%(name)s 在该日期已由 %(helper)s 帮扶，无需调整",
                                       name=household.head_name, helper=helper.name))
    return to_end, withdraw, None


def _apply_move(household: Household, helper: User, effective: date, reason: str, user: User,
                to_end: list[tuple[Assignment, date]], withdraw: list[Assignment]) -> Move:
    if to_end:
        old_helper_id: int | None = to_end[-1][0].helper_id
    else:
        old_helper_id = next((a.helper_id for a in withdraw if a.start_date == effective), None)
    withdrawn = [{"household": household.id, "helper": a.helper_id,
                  "start": a.start_date.isoformat()} for a in withdraw]
    for a, end in to_end:
        a.end_date = end
    for a in withdraw:
        household.assignments.remove(a)
        db.session.delete(a)
    household.assignments.append(Assignment(
        helper_id=helper.id, start_date=effective, end_date=None, reason=reason,
        assigned_by_id=user.id))
    household.version += 1
    return Move(household, old_helper_id, withdrawn)


def _check_target(county: Place, helper_id: Any, errors: dict[str, str],
                  key: str = "helper_id") -> User | None:
    helper = helper_in_county(county, helper_id)
    if helper is None:
        errors[key] = _("请选择本区在岗的帮扶责任人")
    return helper


def _verify(household_ids: list[int]) -> None:
    db.session.flush()
    bad = overlapping(household_ids)
    if bad:  # the rules above make this impossible; refuse rather than store it
        raise RuntimeError(f"overlapping assignments for households {sorted(bad)}")


def set_helper(household: Household, county: Place, user: User, form: dict[str, Any], *,
               today: date | None = None) -> Move:
    """Assign (no helper yet) or reassign one household from an effective date. The caller
    commits."""
    today = today or today_local()
    if household.county_id != county.id:
        raise PermissionError("household of another county")
    errors: dict[str, str] = {}
    if household.status not in ASSIGNABLE:
        raise FormError({"household": _("只有帮扶中的住户可以指定帮扶责任人")})
    helper = _check_target(county, form.get("helper_id"), errors)
    effective = parse_effective(form.get("effective") or today.isoformat(), errors, today)
    has_helper = any(a.end_date is None or a.end_date >= today for a in household.assignments)
    reason = parse_reason(form.get("reason"), errors, required=has_helper)
    if errors:
        raise FormError(errors)
    if helper is None or effective is None:  # for the type checker: errors were raised
        raise FormError(errors)
    to_end, withdraw, problem = _plan_move(household, helper, effective, today)
    if problem:
        raise FormError({problem[0]: problem[1]})
    move = _apply_move(household, helper, effective, reason or _("首次结对"), user,
                       to_end, withdraw)
    _verify([household.id])
    audit.record("assignment.change", target_type="household", target_id=household.id,
                 place_id=county.id, user=user,
                 op="reassign" if move.old_helper_id else "assign",
                 household_ids=[household.id], from_helper=move.old_helper_id,
                 to_helper=helper.id, effective=effective.isoformat(), reason=reason,
                 withdrawn=move.withdrawn)
    return move


@dataclass
class Transfer:
    moves: list[Move]
    deactivated: bool


def transfer_all(departing: User, county: Place, user: User, form: dict[str, Any], *,
                 today: date | None = None) -> Transfer:
    """Hand all of a departing helper's households in the county (current and scheduled) to
    another helper from one effective date, in one transaction; optionally deactivate the
    departing account. The caller commits."""
    today = today or today_local()
    if helper_in_county(county, departing.id, active_only=False) is None:
        raise PermissionError("helper of another county")
    errors: dict[str, str] = {}
    helper = _check_target(county, form.get("helper_id"), errors)
    if helper is not None and helper.id == departing.id:
        errors["helper_id"] = _("接任的帮扶责任人不能是原帮扶责任人本人")
    effective = parse_effective(form.get("effective"), errors, today)
    reason = parse_reason(form.get("reason"), errors, required=True)
    deactivate = str(form.get("deactivate", "")).lower() in ("1", "on", "true", "y", "yes")
    if deactivate and effective is not None and effective > today:
        errors["deactivate"] = _("生效日期在今后时不能立即停用账号：原帮扶责任人在此之前仍负责走访")
    if errors:
        raise FormError(errors)
    if helper is None or effective is None:  # for the type checker: errors were raised
        raise FormError(errors)
    scope = Household.county_id == county.id
    held = held_by(departing, scope, effective)
    if deactivate:
        elsewhere = db.session.scalar(
            sa.select(sa.func.count(Assignment.id))
            .join(Household, Household.id == Assignment.household_id)
            .where(Assignment.helper_id == departing.id, Household.county_id != county.id,
                   sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= effective)))
        if elsewhere:
            raise FormError({"deactivate": _(
                "该帮扶责任人在其他县区还有 %(n)d 户，不能在此停用账号", n=elsewhere)})
    if not held and not deactivate:
        raise FormError({"helper_id": _("%(name)s 名下没有需要移交的帮扶户",
                                              name=departing.name)})
    plans: list[tuple[Household, list[tuple[Assignment, date]], list[Assignment]]] = []
    households = {h.id: h for h, _a in held}
    problems = []
    for household in households.values():
        to_end, withdraw, problem = _plan_move(household, helper, effective, today)
        if problem:
            problems.append(problem[1])
        else:
            plans.append((household, to_end, withdraw))
    if problems:
        raise FormError({"effective": "；".join(problems[:5]) + (
            _("（等 %(n)d 户）", n=len(problems)) if len(problems) > 5 else "")})
    moves = [_apply_move(h, helper, effective, reason, user, to_end, withdraw)
             for h, to_end, withdraw in plans]
    _verify(list(households))
    audit.record("assignment.change", target_type="user", target_id=departing.id,
                 place_id=county.id, user=user, op="transfer",
                 household_ids=sorted(households), from_helper=departing.id,
                 to_helper=helper.id, effective=effective.isoformat(), reason=reason,
                 withdrawn=[w for m in moves for w in m.withdrawn], deactivate=deactivate)
    if deactivate and departing.active:

        deactivate_user(departing)
    return Transfer(moves, deactivate)


def end_assignments(household: Household, last_day: date) -> list[dict[str, Any]]:
    """End the household's helper responsibility on last_day (inclusive), e.g. at exit; rows
    scheduled to start after it are withdrawn. Returns what changed, for the audit. The caller
    bumps the version and commits."""
    changed: list[dict[str, Any]] = []
    for a in list(household.assignments):
        if a.end_date is not None and a.end_date <= last_day:
            continue
        if a.start_date > last_day:
            changed.append({"withdrawn": a.helper_id, "start": a.start_date.isoformat()})
            household.assignments.remove(a)
            db.session.delete(a)
        else:
            changed.append({"ended": a.helper_id, "end": last_day.isoformat()})
            a.end_date = last_day
    return changed

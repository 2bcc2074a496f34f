"""Each household's plan (一户一计划、一户一措施).

A plan entry (PlanMeasure) has an amount, a start and an optional end (inclusive). An amount
change is recorded as ending the entry and adding a new one from the new date, so the plan
shows what was granted when. Every change bumps household.version so the helper's phone
re-pulls the household with its measures. The measures offered come from the catalogue
(`management.measures`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.access.validity import valid_visit_clause
from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.management.measures import (
    EARLIEST,
    LIMITS,
    check_amount,
    default_amount,
    get_visible_measure,
    parse_amount,
)
from fieldwork.households.models import Household, PlanMeasure
from fieldwork.timeutil import local, today_local
from fieldwork.visits.models import Visit

# Households whose plan can still change: drafted during review, kept while assisted.
PLAN_EDITABLE = ("reviewing", "publicity", "enrolled")


# ---------------------------------------------------------------- household plan

def parse_date(raw: Any, label: str, key: str, errors: dict[str, str], *,
               required: bool) -> date | None:
    text = str(raw or "").strip()
    if not text:
        if required:
            errors[key] = _("请填写“%(label)s”", label=label)
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        errors[key] = _("“%(label)s”格式不正确，应为 年-月-日", label=label)
        return None
    if value < EARLIEST or value.year > 2099:
        errors[key] = _("“%(label)s”超出合理范围，请核对", label=label)
        return None
    return value


def can_edit_plan(household: Household) -> bool:
    return household.status in PLAN_EDITABLE


def _overlaps(a_start: date, a_end: date | None, b_start: date, b_end: date | None) -> bool:
    return (b_end is None or a_start <= b_end) and (a_end is None or b_start <= a_end)


def _plan_entry(pm: PlanMeasure) -> dict[str, Any]:
    return {"plan_measure": pm.id, "measure": pm.measure_id, "name": pm.measure.name,
            "amount": str(pm.amount) if pm.amount is not None else None,
            "start": pm.start_date.isoformat(),
            "end": pm.end_date.isoformat() if pm.end_date else None}


def add_to_plan(household: Household, user: User, form: dict[str, Any], *,
                today: date | None = None, suggestion: dict[str, Any] | None = None
                ) -> PlanMeasure:
    """Add a catalogue measure to the household's plan; an amount outside the measure's
    standard (below its minimum, above its cap) is refused. `suggestion` (the accepted
    suggestion, plans_suggest) goes into the audit entry. The caller commits."""
    today = today or today_local()
    errors: dict[str, str] = {}
    if not can_edit_plan(household):
        raise FormError({"household": _("该户当前状态下不能调整帮扶计划")})
    measure = get_visible_measure(household.county_id, form.get("measure_id"))
    if measure is None or not measure.active:
        errors["measure_id"] = _("请从本区措施目录中选择一项在用的措施")
    amount = parse_amount(form.get("amount"), errors)
    if measure is not None and "amount" not in errors:
        problem = check_amount(measure, amount)
        if problem:
            errors["amount"] = problem
    start = parse_date(form.get("start_date"), _("开始日期"), "start_date", errors,
                       required=True)
    end = parse_date(form.get("end_date"), _("结束日期"), "end_date", errors, required=False)
    note = str(form.get("note", "") or "").strip()
    if len(note) > LIMITS["note"]:
        errors["note"] = _("“%(label)s”不能超过 %(n)d 个字", label=_("备注"), n=LIMITS["note"])
    if start and start > today + timedelta(days=366):
        errors["start_date"] = _("开始日期不能晚于一年以后")
    if start and end and end < start:
        errors["end_date"] = _("结束日期不能早于开始日期")
    if measure is not None and start and "end_date" not in errors:
        for pm in household.plan:
            if pm.measure_id == measure.id and _overlaps(start, end, pm.start_date, pm.end_date):
                errors["measure_id"] = _(
                    "该措施在这段时间已在计划中（%(start)s 起），如需调整金额请先结束原措施",
                    start=pm.start_date.isoformat())
                break
    if errors:
        raise FormError(errors)
    if measure is None or start is None:  # for the type checker: errors were raised
        raise FormError(errors)
    pm = PlanMeasure(household=household, measure=measure, start_date=start, end_date=end,
                     amount=amount if amount is not None else default_amount(measure),
                     note=note)
    db.session.add(pm)
    db.session.flush()
    household.version += 1
    extra: dict[str, Any] = {"suggestion": suggestion} if suggestion else {}
    audit.record("plan.change", target_type="household", target_id=household.id,
                 place_id=household.county_id, user=user, op="add", entry=_plan_entry(pm),
                 **extra)
    return pm


def end_plan_measure(household: Household, pm: PlanMeasure, user: User,
                     form: dict[str, Any]) -> PlanMeasure:
    """Set (or move) the last day a measure is in force. The caller commits."""
    if pm.household_id != household.id:
        raise PermissionError("plan entry of another household")
    if not can_edit_plan(household):
        raise FormError({"household": _("该户当前状态下不能调整帮扶计划")})
    errors: dict[str, str] = {}
    end = parse_date(form.get("end_date"), _("结束日期"), "end_date", errors, required=True)
    if end and end < pm.start_date:
        errors["end_date"] = _("结束日期不能早于开始日期（%(start)s）",
                               start=pm.start_date.isoformat())
    if errors:
        raise FormError(errors)
    before = pm.end_date
    if before == end:
        return pm
    pm.end_date = end
    household.version += 1
    audit.record("plan.change", target_type="household", target_id=household.id,
                 place_id=household.county_id, user=user, op="end", entry=_plan_entry(pm),
                 previous_end=before.isoformat() if before else None)
    return pm


@dataclass
class PlanRow:
    entry: PlanMeasure
    in_force: bool
    last_delivery: Visit | None = None
    deliveries: int = 0


@dataclass
class PlanView:
    current: list[PlanRow] = field(default_factory=list)
    ended: list[PlanRow] = field(default_factory=list)  # ended or not yet started


def deliveries(household: Household) -> dict[int, list[Visit]]:
    """{measure id: valid visits that recorded it delivered, latest first}: one query over
    the household's valid visits (answers["measures_delivered"] holds measure ids)."""
    out: dict[int, list[Visit]] = {}
    visits = db.session.scalars(
        sa.select(Visit).where(Visit.household_id == household.id, valid_visit_clause())
        .order_by(Visit.visited_at.desc(), Visit.id.desc()))
    for visit in visits:
        seen: set[int] = set()
        for raw in (visit.answers or {}).get("measures_delivered") or []:
            try:
                mid = int(raw)
            except (TypeError, ValueError):
                continue
            if mid not in seen:
                seen.add(mid)
                out.setdefault(mid, []).append(visit)
    return out


def plan_view(household: Household, today: date | None = None) -> PlanView:
    """The plan's entries, in force first, each with the visits that recorded the measure
    delivered while the entry ran (Asia/Shanghai dates)."""
    today = today or today_local()
    delivered = deliveries(household)
    view = PlanView()
    for pm in sorted(household.plan, key=lambda p: (p.start_date, p.id), reverse=True):
        during = [v for v in delivered.get(pm.measure_id, [])
                  if pm.start_date <= local(v.visited_at).date()
                  and (pm.end_date is None or local(v.visited_at).date() <= pm.end_date)]
        row = PlanRow(pm, pm.in_force(today), during[0] if during else None, len(during))
        (view.current if row.in_force else view.ended).append(row)
    return view

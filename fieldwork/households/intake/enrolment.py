"""Enrolment (建档): the file number, the helper and the first plan measures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.audit.services import record as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.intake.publicity import enrol_blockers
from fieldwork.households.intake.steps import ENROLLED, PUBLICITY, may_handle_publicity, move_case
from fieldwork.households.management.measures import check_amount, default_amount, parse_amount
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Measure,
    PlanMeasure,
    ReviewDecision,
)
from fieldwork.places.models import Place
from fieldwork.timeutil import now_utc, today_local

FILE_NO_DIGITS = 5
FILE_NO_ATTEMPTS = 5


# ---------------------------------------------------------------- enrolment

@dataclass(frozen=True)
class PlanItem:
    measure_id: int
    amount: Decimal | None
    start_date: date
    note: str = ""


def measures_for(county_id: int) -> list[Measure]:
    """The measures a county may put in a plan: its own and the city-wide ones, active."""
    return list(db.session.scalars(
        sa.select(Measure).where(Measure.active.is_(True),
                                 sa.or_(Measure.county_id.is_(None),
                                        Measure.county_id == county_id))
        .order_by(Measure.area, Measure.id)))


def parse_plan(form: Mapping[str, Any], measure_ids: Sequence[str], *,
               today: date | None = None) -> list[PlanItem]:
    """Plan items from a form: measure ids chosen, amount_<id>, start_<id>, note_<id>."""
    today = today or today_local()
    items, errors = [], {}
    for raw_id in measure_ids:
        if not str(raw_id).isdigit() or len(str(raw_id)) > 9:
            errors["measures"] = _("所选帮扶措施无效")
            continue
        mid = int(raw_id)
        # The one amount rule of every plan form (the catalogue's and the plan page's too).
        amount = parse_amount(form.get(f"amount_{mid}"), errors, key=f"amount_{mid}")
        if f"amount_{mid}" in errors:
            continue
        start_raw = str(form.get(f"start_{mid}") or "").strip()
        start = today
        if start_raw:
            try:
                start = date.fromisoformat(start_raw)
            except ValueError:
                errors[f"start_{mid}"] = _("开始日期格式不正确")
                continue
        note = str(form.get(f"note_{mid}") or "").strip()[:300]
        items.append(PlanItem(mid, amount, start, note))
    if errors:
        raise FormError(errors)
    return items


def next_file_no(county: Place, year: int) -> str:
    """The next 一户一档 file number of a county and year: <county code>-<year>-<00001>."""
    prefix = f"{county.code}-{year}-"
    numbers = db.session.scalars(
        sa.select(Household.file_no).where(Household.file_no.startswith(prefix, autoescape=True))
        .order_by(sa.func.length(Household.file_no).desc(), Household.file_no.desc()).limit(1))
    last = next(iter(numbers), None)
    suffix = last[len(prefix):] if last else ""
    if last and not suffix.isdigit():
        # A hand-made number sorted first: fall back to reading them all.
        suffixes = [cast(str, f)[len(prefix):] for f in db.session.scalars(
            sa.select(Household.file_no).where(
                Household.file_no.startswith(prefix, autoescape=True)))]
        suffix = str(max((int(s) for s in suffixes if s.isdigit()), default=0))
    n = int(suffix) + 1 if suffix else 1
    return f"{prefix}{n:0{FILE_NO_DIGITS}d}"


def _assign_file_no(hh: Household, county: Place, year: int) -> str:
    """max+1 under a unique constraint: a concurrent enrolment that took the same number
    makes the flush fail; the savepoint is rolled back and the next number tried."""
    for _attempt in range(FILE_NO_ATTEMPTS):
        candidate = next_file_no(county, year)
        try:
            with db.session.begin_nested():
                hh.file_no = candidate
                db.session.flush()
            return candidate
        except IntegrityError:
            continue
    raise FormError.conflict(_("档案编号分配冲突，请稍后重试"))


def enrol(user: User, case: Case, *, helper_id: int | None, items: Sequence[PlanItem],
          today: date | None = None) -> Household:
    """File the household (一户一档): file number, helper (结对帮扶), plan measures."""
    today = today or today_local()
    if not may_handle_publicity(user, case):
        if case.state != "open" or case.stage != PUBLICITY:
            raise FormError.conflict(_("只有公示中的案件可以建档"))
        raise FormError.forbidden(_("建档由本县（市、区）解困办办理"))
    blockers = enrol_blockers(case, today)
    if blockers:
        raise FormError.of(blockers[0])
    hh = case.household
    helper = db.session.get(User, helper_id) if helper_id else None
    county = db.session.get(Place, hh.county_id)
    if county is None:
        raise FormError.of(_("该户所在县（市、区）不存在"))
    if (helper is None or helper.role != roles.HELPER or not helper.active
            or not helper.place.is_within(county)):
        raise FormError.of(_("请选择本县（市、区）的帮扶责任人"), "helper_id")
    if not items:
        raise FormError.of(_("请至少选择一项帮扶措施"), "measures")
    allowed = {m.id: m for m in measures_for(hh.county_id)}
    seen: set[int] = set()
    for item in items:
        if item.measure_id not in allowed or item.measure_id in seen:
            raise FormError.of(_("所选帮扶措施无效"), "measures")
        seen.add(item.measure_id)
        problem = check_amount(allowed[item.measure_id], item.amount)
        if problem:
            raise FormError.of(_("“%(name)s”：%(problem)s", name=allowed[item.measure_id].name,
                                 problem=problem), "measures")
    now = now_utc()
    move_case(case, stage=ENROLLED, state="approved", closed_at=now, stage_since=now)
    for a in hh.assignments:
        if a.end_date is None:
            a.end_date = max(a.start_date, today - timedelta(days=1))
    db.session.add(Assignment(household=hh, helper_id=helper.id, start_date=today,
                              reason=_("县级解困办建档时结对帮扶"), assigned_by_id=user.id))
    for item in items:
        measure = allowed[item.measure_id]
        db.session.add(PlanMeasure(
            household=hh, measure_id=measure.id,
            amount=item.amount if item.amount is not None else default_amount(measure),
            start_date=item.start_date, note=item.note))
    hh.status = "enrolled"
    hh.enrolled_on = today
    hh.exited_on = None
    hh.version += 1
    db.session.add(ReviewDecision(case_id=case.id, step=PUBLICITY, decision="approve",
                                  opinion=_("公示期满无异议，建档"), reviewer_id=user.id,
                                  decided_at=now))
    file_no = _assign_file_no(hh, county, today.year)
    audit("household.enrol", target_type="household", target_id=hh.id, place_id=hh.county_id,
          user=user, case_id=case.id, file_no=file_no, helper_id=helper.id,
          measures=sorted(seen))
    db.session.flush()
    return hh

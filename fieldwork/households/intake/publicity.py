"""Publicity (公示): objections recorded and resolved, and what still blocks enrolment.

A stable exit is publicised the same way (stage "exit_publicity", management/exit_chain.py):
an upheld objection sends it back to the county's decision ("return") or ends it with the
household still enrolled ("reject").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.accounts.models import User
from fieldwork.audit.services import record as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.intake.steps import (
    COUNTY_CONFIRM,
    MAX_TEXT,
    OBJECTION_OUTCOMES,
    PUBLICITY,
    may_handle_publicity,
    move_case,
    publicity_stage,
    set_status,
)
from fieldwork.households.models import (
    Case,
    Objection,
    ReviewDecision,
)
from fieldwork.timeutil import now_utc, today_local

EXIT_COUNTY = "exit_county"  # the exit chain's county decision, which starts its publicity

# ---------------------------------------------------------------- publicity

def publicity_started(case: Case) -> datetime | None:
    """When the current publicity began: the county office's last approval."""
    step = EXIT_COUNTY if case.kind == "exit" else COUNTY_CONFIRM
    times = [d.decided_at for d in case.decisions
             if d.step == step and d.decision == "approve"]
    return max(times) if times else None


def record_objection(user: User, case: Case, text: str, raised_by: str = "") -> Objection:
    if not may_handle_publicity(user, case):
        if case.state != "open" or case.stage != publicity_stage(case):
            raise FormError.conflict(_("该案件不在公示期"))
        raise FormError.forbidden(_("异议由县级解困办登记"))
    text, raised_by = (text or "").strip(), (raised_by or "").strip()
    if not text:
        raise FormError.of(_("请填写异议内容"), "text")
    if len(text) > MAX_TEXT:
        raise FormError.of(_("异议内容不能超过 %(n)d 个字", n=MAX_TEXT), "text")
    if len(raised_by) > 64:
        raise FormError.of(_("提出人不能超过 64 个字"), "raised_by")
    objection = Objection(case_id=case.id, text=text, raised_by=raised_by,
                          recorded_by_id=user.id, recorded_at=now_utc())
    db.session.add(objection)
    db.session.flush()
    audit("case.objection", target_type="case", target_id=case.id,
          place_id=case.household.county_id, user=user, objection_id=objection.id)
    return objection




def resolve_objection(user: User, objection: Objection, outcome: str, resolution: str) -> None:
    """Dismissed: publicity goes on. Upheld: the case goes back to the county office's
    review, or is rejected; either way it is recorded as a decision at the publicity step."""
    case = db.session.get(Case, objection.case_id)
    if case is None:
        raise FormError.conflict(_("该异议所属的案件不存在"))
    if objection.upheld is not None:
        raise FormError.conflict(_("该异议已处理"))
    if not may_handle_publicity(user, case):
        if case.state != "open" or case.stage != publicity_stage(case):
            raise FormError.conflict(_("该案件不在公示期"))
        raise FormError.forbidden(_("异议由县级解困办处理"))
    if outcome not in OBJECTION_OUTCOMES:
        raise FormError.of(_("请选择处理结果"), "outcome")
    resolution = (resolution or "").strip()
    if not resolution:
        raise FormError.of(_("请填写核实情况和处理意见"), "resolution")
    if len(resolution) > MAX_TEXT:
        raise FormError.of(_("处理意见不能超过 %(n)d 个字", n=MAX_TEXT), "resolution")
    now = now_utc()
    done = cast(sa.CursorResult[Any], db.session.execute(
        sa.update(Objection).where(Objection.id == objection.id, Objection.upheld.is_(None))
        .values(upheld=outcome != "dismiss", resolution=resolution, resolved_at=now,
                ).execution_options(synchronize_session="fetch")))
    if done.rowcount != 1:
        raise FormError.conflict(_("该异议已处理"))
    hh = case.household
    audit("case.objection_resolved", target_type="case", target_id=case.id,
          place_id=hh.county_id, user=user, objection_id=objection.id, outcome=outcome)
    if outcome == "dismiss":
        db.session.flush()
        return
    exit_case = case.kind == "exit"  # the household stays enrolled whatever the outcome
    if outcome == "return":
        move_case(case, stage=EXIT_COUNTY if exit_case else COUNTY_CONFIRM, stage_since=now,
                  publicity_ends_on=None)
        if not exit_case:
            set_status(hh, "reviewing")
    else:
        move_case(case, state="rejected", closed_at=now)
        if not exit_case:
            set_status(hh, "rejected")
    db.session.add(ReviewDecision(case_id=case.id, step=publicity_stage(case), decision=outcome,
                                  opinion=resolution, reviewer_id=user.id, decided_at=now))
    audit("case.decision", target_type="case", target_id=case.id, place_id=hh.county_id,
          user=user, household_id=hh.id, step=publicity_stage(case), decision=outcome,
          stage=case.stage)
    db.session.flush()
    db.session.refresh(case, ["decisions"])


def enrol_blockers(case: Case, today: date | None = None) -> list[str]:
    """Why the case cannot be enrolled yet (empty: it can)."""
    if case.kind != "intake" or case.state != "open" or case.stage != PUBLICITY:
        return [_("只有公示中的案件可以建档")]
    return publicity_blockers(case, today)


def publicity_blockers(case: Case, today: date | None = None) -> list[str]:
    """What still holds a publicised case (enrolment or exit): the period not over, objections
    pending, or one upheld during this publicity."""
    today = today or today_local()
    if case.state != "open" or case.stage != publicity_stage(case):
        return [_("该案件不在公示期")]
    out = []
    if case.publicity_ends_on is None or today <= case.publicity_ends_on:
        ends = case.publicity_ends_on.isoformat() if case.publicity_ends_on else "—"
        out.append(_("公示期至 %(d)s，期满后才能建档", d=ends) if case.kind == "intake"
                   else _("公示期至 %(d)s，期满后退出才能生效", d=ends))
    started = publicity_started(case)
    objections = db.session.scalars(sa.select(Objection).where(Objection.case_id == case.id))
    pending = upheld = 0
    for o in objections:
        if o.upheld is None:
            pending += 1
        elif o.upheld and (started is None or o.recorded_at >= started):
            upheld += 1
    if pending:
        out.append(_("还有 %(n)d 条异议未处理", n=pending))
    if upheld:
        out.append(_("公示期内有成立的异议"))
    return out

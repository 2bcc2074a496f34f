"""Review decisions: approve to the next step, return one step back, reject."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _

from fieldwork.accounts.models import User
from fieldwork.audit.services import record as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import DECISIONS
from fieldwork.households.intake.steps import (
    COUNTY_CONFIRM,
    MAX_PLAN,
    MAX_TEXT,
    PUBLICITY,
    STEP_LABELS,
    STREET_REVIEW,
    awaiting_correction,
    holds_step,
    move_case,
    path_of,
    set_status,
)
from fieldwork.households.models import (
    Case,
    ReviewDecision,
)
from fieldwork.places.services import policy_for_county
from fieldwork.timeutil import now_utc, today_local


def decide(user: User, case: Case, decision: str, opinion: str = "", *,
           draft_plan: str | None = None, expect_stage: str | None = None,
           now: datetime | None = None) -> ReviewDecision:
    """Record one review decision and move the case: approve → next step (after the county
    office: publicity), return → one step back (from the first step: to whoever entered it),
    reject → closed, the household not enrolled (未纳入); whether it is then monitored, with a
    reason and a re-check date, is the reviewer's next act (intake/watch.py)."""
    if case.state != "open" or (expect_stage is not None and expect_stage != case.stage):
        raise FormError.conflict(_("该案件已由他人处理，请刷新后查看"))
    if case.kind != "intake" or case.stage not in path_of(case):
        raise FormError.forbidden(_("该案件当前不在审核环节"))
    if not holds_step(user, case, case.stage):
        raise FormError.forbidden(_("“%(step)s”应由其他人员办理", step=STEP_LABELS[case.stage]))
    if awaiting_correction(case):
        raise FormError.of(_("该案件已退回补正，需补正后重新提交"))
    if decision not in DECISIONS:
        raise FormError.of(_("请选择审核结论"), "decision")
    opinion = (opinion or "").strip()
    if len(opinion) > MAX_TEXT:
        raise FormError.of(_("意见不能超过 %(n)d 个字", n=MAX_TEXT), "opinion")
    if decision != "approve" and not opinion:
        raise FormError.of(_("退回或不同意时请填写意见和理由"), "opinion")
    step = case.stage
    values: dict[str, Any] = {}
    if step == STREET_REVIEW and draft_plan is not None:
        draft_plan = draft_plan.strip()
        if len(draft_plan) > MAX_PLAN:
            raise FormError.of(_("初步救助方案不能超过 %(n)d 个字", n=MAX_PLAN), "draft_plan")
        values["draft_plan"] = draft_plan
    if step == STREET_REVIEW and decision == "approve" and not values.get(
            "draft_plan", case.draft_plan).strip():
        raise FormError.of(_("街道复核同意时须拟订初步救助方案"), "draft_plan")

    now = now or now_utc()
    hh = case.household
    path = path_of(case)
    i = path.index(step)
    status = hh.status
    if decision == "approve":
        values["stage_since"] = now
        if step == COUNTY_CONFIRM:
            days = policy_for_county(hh.county_id).publicity_days
            values.update(stage=PUBLICITY, publicity_ends_on=today_local() + timedelta(days=days))
            status = "publicity"
        else:
            values["stage"] = path[i + 1]
            status = "reviewing"
    elif decision == "return":
        # From the first step the stage stays: the case waits for a correction.
        values.update(stage=path[max(i - 1, 0)], stage_since=now)
    else:
        values.update(state="rejected", closed_at=now)
        status = "rejected"
    move_case(case, **values)
    set_status(hh, status)
    d = ReviewDecision(case_id=case.id, step=step, decision=decision, opinion=opinion,
                       reviewer_id=user.id, decided_at=now)
    db.session.add(d)
    audit("case.decision", target_type="case", target_id=case.id, place_id=hh.county_id,
          user=user, household_id=hh.id, step=step, decision=decision, stage=case.stage)
    db.session.flush()
    db.session.refresh(case, ["decisions"])
    return d

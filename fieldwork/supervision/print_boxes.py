"""Which box of the printed 审核审批表 (附件2) each review decision goes in.

The intake part has one box per identification channel (policy lines 61–65: 辖区筛选认定 —
the community's 初审 and the street's 复核 with its 初步救助方案; 部门筛选认定; 行业筛选认定)
and the county office's 综合审核确认 (line 67), then the publicity (公示) with its objections.
The exit part has the three opinions of an exit (社区意见, 街道(乡镇)解困办意见, 县级解困办审批).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from fieldwork.access import roles
from fieldwork.extensions import db
from fieldwork.households.intake.publicity import publicity_started
from fieldwork.households.models import Case, Objection, ReviewDecision
from fieldwork.timeutil import local

# Step codes (households.intake.steps and the exit contract) → box.
INTAKE_BOXES = (
    ("community", _l("社区(村)初审意见")),
    ("street", _l("街道(乡镇)复核意见")),
    ("department", _l("部门初审意见")),
    ("sector", _l("行业认定结果")),
    ("county", _l("县级解困办综合审核确认意见")),
)
EXIT_BOXES = (
    ("community", _l("社区(村)意见")),
    ("street", _l("街道(乡镇)解困办意见")),
    ("county", _l("县级解困办审批意见")),
)
STEP_BOX = {
    "community_review": "community",
    "street_review": "street",
    "department_review": "department",
    "sector_certify": "sector",
    "county_confirm": "county",
    "exit_community": "community",
    "exit_street": "street",
    "exit_county": "county",
    "exit_review": "county",  # decisions of the older one-step exit
}
# The older exit proposal (step exit_proposal), and any step code not above: by the role of
# whoever decided.
ROLE_BOX = {
    roles.COMMUNITY_WORKER: "community",
    roles.STREET_REVIEWER: "street",
    roles.COUNTY_OFFICER: "county",
    roles.CITY_SUPERVISOR: "county",
}
# Decisions at these steps are the publicity's (objections resolved), not an opinion box.
PUBLICITY_STEPS = ("publicity", "exit_publicity")


def box_of(decision: ReviewDecision, kind: str = "intake") -> str | None:
    """The box key of a decision, or None for a publicity decision."""
    step = decision.step or ""
    if step in PUBLICITY_STEPS:
        return None
    if step in STEP_BOX:
        return STEP_BOX[step]
    for key in ("community", "street", "county", "department", "sector"):
        if key in step:
            return key if kind != "exit" or key in ("community", "street", "county") \
                else "county"
    role = decision.reviewer.role if decision.reviewer else ""
    if role == roles.DEPARTMENT_REVIEWER:
        return "county" if kind == "exit" else "department"
    return ROLE_BOX.get(role, "county")


def publicity_start(case: Case) -> date | None:
    """The day the case's (current) publicity began: the county's last approval, as the
    publicity itself counts it (intake.publicity.publicity_started)."""
    started = publicity_started(case)
    return local(started).date() if started else None


@dataclass
class CaseSheet:
    """One case on the form: its decisions by box, and its publicity and objections."""

    case: Case
    boxes: dict[str, list[ReviewDecision]] = field(default_factory=dict)
    publicity_from: date | None = None
    objections: list[Objection] = field(default_factory=list)
    publicity_decisions: list[ReviewDecision] = field(default_factory=list)

    @property
    def publicised(self) -> bool:
        return self.case.publicity_ends_on is not None or bool(self.objections)

    def publicity_over(self, today: date) -> bool:
        ends = self.case.publicity_ends_on
        return ends is not None and ends < today


def case_sheet(case: Case, boxes: tuple[tuple[str, object], ...]) -> CaseSheet:
    sheet = CaseSheet(case, {key: [] for key, _label in boxes})
    for d in sorted(case.decisions, key=lambda d: (d.decided_at, d.id)):
        key = box_of(d, case.kind)
        if key is None:
            sheet.publicity_decisions.append(d)
        else:
            sheet.boxes.setdefault(key, []).append(d)
    sheet.publicity_from = publicity_start(case)
    sheet.objections = list(db.session.scalars(
        sa.select(Objection).where(Objection.case_id == case.id)
        .order_by(Objection.recorded_at, Objection.id)))
    return sheet

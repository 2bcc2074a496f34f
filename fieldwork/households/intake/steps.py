"""Steps, channels and who may act on a case (the review chains of DOMAIN.md "Lifecycle").

The labels and constants here are also what the review templates read (as `intake`).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.models import Case, Household, ReviewDecision

# ---------------------------------------------------------------- steps and channels

COMMUNITY_REVIEW = "community_review"
STREET_REVIEW = "street_review"
COUNTY_CONFIRM = "county_confirm"
DEPARTMENT_REVIEW = "department_review"
SECTOR_CERTIFY = "sector_certify"
PUBLICITY = "publicity"
# An exit case (management/exit_chain.py) is publicised like an enrolment: same objections.
EXIT_PUBLICITY = "exit_publicity"
ENROLLED = "enrolled"

CHAINS: dict[str, tuple[str, ...]] = {
    "territorial": (COMMUNITY_REVIEW, STREET_REVIEW, COUNTY_CONFIRM),
    "departmental": (DEPARTMENT_REVIEW, COUNTY_CONFIRM),
    "sector": (SECTOR_CERTIFY, COUNTY_CONFIRM),
}
STEP_LABELS = {
    COMMUNITY_REVIEW: _l("社区初审"),
    STREET_REVIEW: _l("街道复核"),
    COUNTY_CONFIRM: _l("县级综合审核确认"),
    DEPARTMENT_REVIEW: _l("部门初审"),
    SECTOR_CERTIFY: _l("行业认定"),
    PUBLICITY: _l("公示"),
    ENROLLED: _l("已建档"),
}
STEP_ROLES = {
    COMMUNITY_REVIEW: roles.COMMUNITY_WORKER,
    STREET_REVIEW: roles.STREET_REVIEWER,
    COUNTY_CONFIRM: roles.COUNTY_OFFICER,
    DEPARTMENT_REVIEW: roles.DEPARTMENT_REVIEWER,
    SECTOR_CERTIFY: roles.DEPARTMENT_REVIEWER,
    PUBLICITY: roles.COUNTY_OFFICER,
}
CASE_STATE_LABELS = {"open": _l("办理中"), "approved": _l("已纳入"), "rejected": _l("未纳入")}

# How the household came to the programme (Case.source).
SOURCE_LABELS = {
    "community": _l("社区主动发现"),
    "application": _l("本人申请"),
    "employer": _l("单位报送"),
    "data_comparison": _l("信息比对"),
    "department": _l("部门筛选认定"),
    "sector": _l("行业筛选认定"),
    "monitoring": _l("加强监测·社区发现变化"),
    "monitoring_lead": _l("加强监测·交街道核查"),
}
LEAD_SOURCES = ("employer", "data_comparison")
# 加强监测 (policy line 147): a watched household whose situation changed comes back into
# review. Restarted by its community it starts with 社区初审 ("monitoring"); restarted by the
# street or the county office it starts with the street's 核查 like a lead ("monitoring_lead").
MONITORING_SOURCES = ("monitoring", "monitoring_lead")
STREET_ENTRY_SOURCES = (*LEAD_SOURCES, "monitoring_lead")
# A formal application or a body's screening names the head by ID number; leads and field
# reports may not have it yet.
ID_REQUIRED_SOURCES = ("application", "department", "sector")

# 民政、残联、工会 certify their own beneficiaries (sector channel); any other body of a
# department reviewer (商务、工信、供销社…) screens its workers (departmental channel).
SECTOR_BODIES = ("民政", "残联", "残疾人联合会", "工会")

# Households with one of these statuses are in the programme or on their way into it.
ACTIVE_STATUSES = ("reported", "reviewing", "publicity", "enrolled")
# Statuses from which a household may be reported again (re-entry).
REENTRY_STATUSES = ("watch", "exited", "rejected")

# Why a registered household may be the same as a new report or entry (find_duplicates).
WHY_LABELS = {"same_id": _l("身份证号相同"), "similar_name_address": _l("姓名相同、地址相近"),
              "nearby": _l("位置相距不到50米")}
WHY_ORDER = ("same_id", "similar_name_address", "nearby")  # strongest evidence first

# Who may read discovery reports of their area (department reviewers screen their own people).
OBJECTION_OUTCOMES = ("dismiss", "return", "reject")
OBJECTION_OUTCOME_LABELS = {
    "dismiss": _l("异议不成立，继续公示"),
    "return": _l("异议成立，退回县级重新审核"),
    "reject": _l("异议成立，不予纳入"),
}
REPORT_OPENED, REPORT_SAME = "opened", "duplicate"
REPORT_STATUS_LABELS = {"new": _l("待处理"), REPORT_OPENED: _l("已立案"),
                        REPORT_SAME: _l("已核实为已登记家庭")}

MAX_NAME, MAX_ADDRESS, MAX_PHONE, MAX_TEXT, MAX_PLAN = 64, 200, 20, 2000, 4000


# ---------------------------------------------------------------- who may act

def is_sector_body(organisation: str) -> bool:
    return any(body in (organisation or "") for body in SECTOR_BODIES)


def department_channel(user: User) -> str | None:
    """The channel a department reviewer's body screens through, or None."""
    if user.role != roles.DEPARTMENT_REVIEWER or not (user.organisation or "").strip():
        return None
    return "sector" if is_sector_body(user.organisation) else "departmental"


def entry_step(case: Case) -> str:
    """The first step of this case's path through its chain."""
    if case.channel == "territorial" and case.source in STREET_ENTRY_SOURCES:
        return STREET_REVIEW
    return CHAINS[case.channel][0]


def path_of(case: Case) -> tuple[str, ...]:
    chain = CHAINS[case.channel]
    return chain[chain.index(entry_step(case)):]


def holds_step(user: User, case: Case, step: str) -> bool:
    """The user is the right role in the right place for this step of this case."""
    if not user.is_active:
        return False
    hh = case.household
    if step == COMMUNITY_REVIEW:
        return user.role == roles.COMMUNITY_WORKER and user.place_id == hh.place_id
    if step == STREET_REVIEW:
        return user.role == roles.STREET_REVIEWER and user.place_id == hh.street_id
    if step in (COUNTY_CONFIRM, PUBLICITY):
        return user.role == roles.COUNTY_OFFICER and user.place_id == hh.county_id
    if step in (DEPARTMENT_REVIEW, SECTOR_CERTIFY):
        return (user.role == roles.DEPARTMENT_REVIEWER and user.place_id == hh.county_id
                and user.organisation == case.organisation
                and department_channel(user) == case.channel)
    return False


def awaiting_correction(case: Case) -> bool:
    """Returned at its first step to whoever entered it, and not resubmitted since."""
    return case.state == "open" and any(
        d.step == case.stage and d.decision == "return" and d.decided_at >= case.stage_since
        for d in case.decisions)


def awaiting_clause() -> sa.ColumnElement[bool]:
    return sa.exists().where(
        ReviewDecision.case_id == Case.id, ReviewDecision.step == Case.stage,
        ReviewDecision.decision == "return", ReviewDecision.decided_at >= Case.stage_since)


def may_decide(user: User, case: Case) -> bool:
    return (case.kind == "intake" and case.state == "open" and case.stage in path_of(case)
            and not awaiting_correction(case) and holds_step(user, case, case.stage))


def may_correct(user: User, case: Case) -> bool:
    """Whoever entered a case corrects it after a return from its first step: the community
    for its own reports and applications, the county office for its leads, the department
    or sector body for its screenings."""
    if case.kind != "intake" or not awaiting_correction(case):
        return False
    if case.stage == STREET_REVIEW and case.source in LEAD_SOURCES:
        return holds_step(user, case, COUNTY_CONFIRM)
    return holds_step(user, case, case.stage)


def publicity_stage(case: Case) -> str:
    """The stage at which a case of this kind is publicised."""
    return EXIT_PUBLICITY if case.kind == "exit" else PUBLICITY


def may_handle_publicity(user: User, case: Case) -> bool:
    return (case.kind in ("intake", "exit") and case.state == "open"
            and case.stage == publicity_stage(case) and holds_step(user, case, PUBLICITY))


# ---------------------------------------------------------------- moving a case

def move_case(case: Case, **values: Any) -> None:
    """Move the case on, if nobody moved it since it was loaded (compare and set)."""
    done = cast(sa.CursorResult[Any], db.session.execute(
        sa.update(Case)
        .where(Case.id == case.id, Case.state == "open", Case.stage == case.stage,
               Case.stage_since == case.stage_since)
        .values(**values).execution_options(synchronize_session="fetch")))
    if done.rowcount != 1:
        raise FormError.conflict(_("该案件已由他人处理，请刷新后查看"))
    db.session.refresh(case)


def set_status(hh: Household, status: str) -> None:
    """Change a household's status; the version bump sends it to the phones again."""
    if hh.status != status:
        hh.status = status
        hh.version += 1  # phones of reviewers hold the status

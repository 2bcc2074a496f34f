"""The intake lifecycle (DOMAIN.md "Lifecycle"): a household found through a discovery report,
an application, a county lead or a department's screening goes through the review chain of
its channel, is publicised (公示) and enrolled (建档、结对帮扶).

Every rule of who may do what, and when, lives here; views parse and render, and a CLI or API
can call the same functions. Functions add to the session and flush; the caller commits once,
so each action is one transaction (with its audit events).

Channels and steps (政策文本 "筛选认定"):
- territorial (辖区): community_review 社区初审 → street_review 街道复核 (with a draft assistance
  plan) → county_confirm 县级综合审核确认. Employer reports (单位报送) and data-comparison leads
  (信息比对) are entered by the county office and handed to the street for checking (核查), so
  they join this chain at street_review.
- departmental (部门: 商务、工信、供销社…): department_review 部门初审 → county_confirm.
- sector (行业: 民政、残联、工会): sector_certify 行业认定 → county_confirm.
Then publicity (stage "publicity", objections may be recorded), then enrolment (stage
"enrolled", state "approved").

A return goes back one step. From the first step of the case's path it goes back to whoever
entered it: the stage stays, the case shows "退回补正" until the entry is corrected and
resubmitted. That state is not stored: it is "the last return at this stage is newer than the
stage itself" (a return decision at the current stage with decided_at >= stage_since).

Discovery reports are turned into cases by a person, not automatically: the report is a lead
from the field, often without an ID number, and may describe a household already in the
registry; someone who knows the community decides "new case" or "same as an existing
household" with the duplicate candidates in front of them. An automatic case per report would
put every repeated sighting into the registry as a new household.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from fieldwork.accounts import roles
from fieldwork.accounts.models import User
from fieldwork.accounts.scope import can_see_place, household_clause, place_clause
from fieldwork.audit.services import record as audit
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db
from fieldwork.households.constants import CATEGORIES, CAUSES, DECISIONS
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Measure,
    Member,
    Objection,
    PlanMeasure,
    ReviewDecision,
)
from fieldwork.photos.models import Photo
from fieldwork.places.models import Place
from fieldwork.places.services import policy_for_county
from fieldwork.privacy.idnumber import IdNumberError, validate_id_number
from fieldwork.privacy.service import protect_id, reveal_id
from fieldwork.timeutil import local, now_utc, today_local

# ---------------------------------------------------------------- steps and channels

COMMUNITY_REVIEW = "community_review"
STREET_REVIEW = "street_review"
COUNTY_CONFIRM = "county_confirm"
DEPARTMENT_REVIEW = "department_review"
SECTOR_CERTIFY = "sector_certify"
PUBLICITY = "publicity"
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
    "department": _l("部门筛选"),
    "sector": _l("行业认定"),
}
LEAD_SOURCES = ("employer", "data_comparison")
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
REPORT_VIEWERS = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER, roles.COUNTY_OFFICER,
                  roles.CITY_SUPERVISOR, roles.ADMIN)
REPORT_OPENED, REPORT_SAME = "opened", "duplicate"
REPORT_STATUS_LABELS = {"new": _l("待处理"), REPORT_OPENED: _l("已立案"),
                        REPORT_SAME: _l("已核实为已登记家庭")}

MAX_NAME, MAX_ADDRESS, MAX_PHONE, MAX_TEXT, MAX_PLAN = 64, 200, 20, 2000, 4000
PHONE_RE = re.compile(r"^[0-9+\-() ]{5,20}$")
FILE_NO_DIGITS = 5
FILE_NO_ATTEMPTS = 5


class WorkflowError(Exception):
    """A rule refused the action. `message` is for the user; `field` names the form field."""

    status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field

    @property
    def errors(self) -> dict[str, str]:
        return {self.field or "form": self.message}


class NotAllowed(WorkflowError):
    """The user sees the case but this step is not theirs (403)."""

    status = 403


class Conflict(WorkflowError):
    """Someone else moved the case on in the meantime (409)."""

    status = 409


class EntryError(WorkflowError):
    """Several fields of an entry are wrong; `errors` maps each to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())), next(iter(errors)))
        self._errors = errors

    @property
    def errors(self) -> dict[str, str]:
        return self._errors


class PossibleDuplicates(WorkflowError):
    """The registry may already hold this household: the user must look and confirm."""

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        super().__init__(_("系统中可能已有这一户，请核对下列家庭；确认不是同一户后勾选确认再提交"),
                         "confirm_new")
        self.candidates = candidates


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
    if case.channel == "territorial" and case.source in LEAD_SOURCES:
        return STREET_REVIEW
    return CHAINS[case.channel][0]


def path_of(case: Case) -> tuple[str, ...]:
    chain = CHAINS[case.channel]
    return chain[chain.index(entry_step(case)):]


def _holds_step(user: User, case: Case, step: str) -> bool:
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


def _awaiting_clause() -> sa.ColumnElement[bool]:
    return sa.exists().where(
        ReviewDecision.case_id == Case.id, ReviewDecision.step == Case.stage,
        ReviewDecision.decision == "return", ReviewDecision.decided_at >= Case.stage_since)


def may_decide(user: User, case: Case) -> bool:
    return (case.kind == "intake" and case.state == "open" and case.stage in path_of(case)
            and not awaiting_correction(case) and _holds_step(user, case, case.stage))


def may_correct(user: User, case: Case) -> bool:
    """Whoever entered a case corrects it after a return from its first step: the community
    for its own reports and applications, the county office for its leads, the department
    or sector body for its screenings."""
    if case.kind != "intake" or not awaiting_correction(case):
        return False
    if case.stage == STREET_REVIEW and case.source in LEAD_SOURCES:
        return _holds_step(user, case, COUNTY_CONFIRM)
    return _holds_step(user, case, case.stage)


def may_handle_publicity(user: User, case: Case) -> bool:
    return (case.kind == "intake" and case.state == "open" and case.stage == PUBLICITY
            and _holds_step(user, case, PUBLICITY))


def get_case_or_404(user: User, case_id: int) -> Case:
    """A case of a household in the user's scope, else 404."""
    from flask import abort

    case = db.session.scalar(
        sa.select(Case).join(Household, Case.household_id == Household.id)
        .where(Case.id == case_id, household_clause(user)))
    if case is None:
        abort(404)
    return case


def get_report_or_404(user: User, report_id: str) -> DiscoveryReport:
    """A discovery report from a place in the user's scope (helpers see none), else 404."""
    from flask import abort

    report = db.session.get(DiscoveryReport, report_id) if len(report_id) <= 36 else None
    if (report is None or user.role not in REPORT_VIEWERS
            or not can_see_place(user, report.place)):
        abort(404)
    return report


# ---------------------------------------------------------------- entries

@dataclass(frozen=True)
class HouseholdEntry:
    """What an application, a lead or a department screening says about a household."""

    head_name: str
    address: str
    place: Place
    members_count: int
    category: str
    causes: list[str]
    phone: str
    situation: str
    id_number: str | None = None  # validated plain text; None = not given (or keep current)


def entry_communities(user: User) -> list[Place]:
    """Communities the user may enter a household in."""
    return list(db.session.scalars(
        sa.select(Place).where(Place.level == "community", place_clause(user))
        .order_by(Place.code).limit(1000)))


def _text(raw: Mapping[str, Any], name: str, limit: int, errors: dict[str, str],
          label: str, *, required: bool) -> str:
    value = raw.get(name)
    value = value.strip() if isinstance(value, str) else ""
    if required and not value:
        errors[name] = _("请填写“%(label)s”", label=label)
    elif len(value) > limit:
        errors[name] = _("“%(label)s”不能超过 %(n)d 个字", label=label, n=limit)
    return value


def parse_entry(user: User, raw: Mapping[str, Any], *, id_required: bool,
                keep_id: bool = False) -> HouseholdEntry:
    """Check a household entry from a form (or any mapping); raise EntryError with a message
    per wrong field. keep_id: a blank ID number keeps the one already on file."""
    errors: dict[str, str] = {}
    head_name = _text(raw, "head_name", MAX_NAME, errors, _("户主姓名"), required=True)
    id_number = None
    id_raw = raw.get("id_number")
    if isinstance(id_raw, str) and id_raw.strip():
        try:
            id_number = validate_id_number(id_raw)
        except IdNumberError as exc:
            errors["id_number"] = exc.message
    elif id_required and not keep_id:
        errors["id_number"] = _("请填写户主身份证号")
    phone = _text(raw, "phone", MAX_PHONE, errors, _("联系电话"), required=False)
    if phone and "phone" not in errors and not PHONE_RE.match(phone):
        errors["phone"] = _("联系电话只能包含数字和“-”，例如 13800000000 或 0377-63100000")
    address = _text(raw, "address", MAX_ADDRESS, errors, _("住址"), required=True)
    place = None
    place_raw = str(raw.get("place_id") or "").strip()
    if place_raw.isdigit() and len(place_raw) < 12:
        place = db.session.get(Place, int(place_raw))
    if place is None or place.level != "community" or not can_see_place(user, place):
        errors["place_id"] = _("请选择您辖区内的社区（村）")
    members = str(raw.get("members_count") or "").strip()
    members_count = int(members) if members.isdigit() else 0
    if not 1 <= members_count <= 30:
        errors["members_count"] = _("家庭人口应为 1 到 30 之间的整数")
    category = str(raw.get("category") or "")
    if category not in CATEGORIES:
        errors["category"] = _("请选择困难类别")
    causes_raw = raw.get("causes") or []
    causes = [causes_raw] if isinstance(causes_raw, str) else list(causes_raw)
    if any(c not in CAUSES for c in causes):
        errors["causes"] = _("致困原因中有无效的选项")
    situation = _text(raw, "situation", MAX_TEXT, errors, _("家庭困难情况"), required=True)
    if errors or place is None:
        raise EntryError(errors or {"place_id": _("请选择您辖区内的社区（村）")})
    return HouseholdEntry(head_name=head_name, address=address, place=place,
                          members_count=members_count, category=category,
                          causes=sorted(set(causes)), phone=phone, situation=situation,
                          id_number=id_number)


def _candidates_for(entry: HouseholdEntry, *, exclude: int | None = None) -> list[dict[str, Any]]:
    from fieldwork.discovery.services import find_duplicates

    found = find_duplicates(head_name=entry.head_name, address=entry.address,
                            id_number=entry.id_number, lat=None, lon=None, place=entry.place)
    return [c for c in found if c["household_id"] != exclude]


def _refuse_active_same_id(user: User, id_index: str | None, *,
                           exclude: int | None = None) -> None:
    """One person heads one household in the programme: an ID already heading a household
    under review or in assistance cannot open another. Outside the user's scope the answer
    says only where the household is registered and whom to ask (as scoped_candidates)."""
    if not id_index:
        return
    q = sa.select(Household).where(Household.head_id_index == id_index,
                                   Household.status.in_(ACTIVE_STATUSES))
    if exclude is not None:
        q = q.where(Household.id != exclude)
    found = db.session.scalar(q.order_by(Household.id).limit(1))
    if found is None:
        return
    if db.session.scalar(sa.select(Household.id).where(Household.id == found.id,
                                                       household_clause(user))) is None:
        county = db.session.get(Place, found.county_id)
        name = county.name if county is not None else _("县级")
        raise WorkflowError(_("该身份证号的家庭已在审核或帮扶中，不能重复登记。"
                              "该家庭已在其他辖区登记，请联系%(county)s解困办核实", county=name),
                            "id_number")
    raise WorkflowError(_("该身份证号的家庭已在审核或帮扶中，不能重复登记"), "id_number")


def _new_household(entry: HouseholdEntry) -> Household:
    hh = Household(head_name=entry.head_name, address=entry.address, phone=entry.phone or None,
                   members_count=entry.members_count, category=entry.category,
                   causes=entry.causes, status="reported", notes=entry.situation)
    hh.set_place(entry.place)
    head = Member(name=entry.head_name, relation="self")
    if entry.id_number:
        p = protect_id(entry.id_number)
        hh.head_id_enc, hh.head_id_index, hh.head_id_mask = p.enc, p.index, p.mask
        head.id_enc, head.id_index, head.id_mask = p.enc, p.index, p.mask
    hh.members.append(head)
    db.session.add(hh)
    return hh


def _open_case(user: User, hh: Household, *, channel: str, source: str,
               organisation: str = "", discovery: DiscoveryReport | None = None,
               now: datetime | None = None) -> Case:
    if hh.id is not None and db.session.scalar(sa.select(Case.id).where(
            Case.household_id == hh.id, Case.kind == "intake", Case.state == "open")
            .limit(1)) is not None:
        raise WorkflowError(_("这一户已有正在办理的审核，请勿重复立案"))
    now = now or now_utc()
    case = Case(household=hh, kind="intake", channel=channel, source=source,
                organisation=organisation, state="open", opened_at=now, stage_since=now,
                opened_by_id=user.id, discovery_id=discovery.id if discovery else None)
    case.stage = entry_step(case)
    db.session.add(case)
    db.session.flush()
    audit("case.open", target_type="case", target_id=case.id, place_id=hh.county_id,
          user=user, household_id=hh.id, channel=channel, source=source, stage=case.stage,
          discovery_id=discovery.id if discovery else None)
    return case


def enter_application(user: User, entry: HouseholdEntry, *, confirm_new: bool = False) -> Case:
    """A community worker enters an application (本人申请): territorial, at 社区初审."""
    if user.role != roles.COMMUNITY_WORKER:
        raise NotAllowed(_("只有社区(村)工作人员可以录入申请"))
    return _enter(user, entry, channel="territorial", source="application",
                  confirm_new=confirm_new)


def enter_lead(user: User, entry: HouseholdEntry, *, source: str, organisation: str,
               confirm_new: bool = False) -> Case:
    """The county office enters an employer report or a data-comparison lead; it goes to the
    street of the household's community for checking (核查), i.e. to 街道复核."""
    if user.role != roles.COUNTY_OFFICER:
        raise NotAllowed(_("只有县级解困办可以录入单位报送和信息比对线索"))
    if source not in LEAD_SOURCES:
        raise WorkflowError(_("请选择线索来源"), "source")
    organisation = (organisation or "").strip()
    if not organisation:
        raise WorkflowError(_("请填写报送单位或比对部门"), "organisation")
    if len(organisation) > 64:
        raise WorkflowError(_("报送单位名称不能超过 64 个字"), "organisation")
    return _enter(user, entry, channel="territorial", source=source, organisation=organisation,
                  confirm_new=confirm_new)


def enter_screening(user: User, entry: HouseholdEntry, *, opinion: str,
                    confirm_new: bool = False) -> Case:
    """A department (部门初审) or sector body (行业认定) enters a household with its result;
    the case goes straight on to the county office."""
    channel = department_channel(user)
    if channel is None:
        raise NotAllowed(_("您的账号没有登记所属部门，请联系系统管理员"))
    opinion = (opinion or "").strip()
    if not opinion:
        raise WorkflowError(_("请填写初审意见或认定结果"), "opinion")
    if len(opinion) > MAX_TEXT:
        raise WorkflowError(_("意见不能超过 %(n)d 个字", n=MAX_TEXT), "opinion")
    case = _enter(user, entry, channel=channel,
                  source="sector" if channel == "sector" else "department",
                  organisation=user.organisation, confirm_new=confirm_new)
    decide(user, case, "approve", opinion)
    return case


def _enter(user: User, entry: HouseholdEntry, *, channel: str, source: str,
           organisation: str = "", confirm_new: bool) -> Case:
    if not can_see_place(user, entry.place):
        raise WorkflowError(_("请选择您辖区内的社区（村）"), "place_id")
    if entry.id_number:
        _refuse_active_same_id(user, protect_id(entry.id_number).index)
    candidates = _candidates_for(entry)
    if candidates and not confirm_new:
        raise PossibleDuplicates(candidates)
    hh = _new_household(entry)
    db.session.flush()
    return _open_case(user, hh, channel=channel, source=source, organisation=organisation)


# ---------------------------------------------------------------- discovery reports

def may_open_report(user: User, report: DiscoveryReport) -> bool:
    return (report.status == "new" and user.is_active
            and user.role in (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER,
                              roles.COUNTY_OFFICER)
            and can_see_place(user, report.place))


def report_candidates(report: DiscoveryReport) -> list[dict[str, Any]]:
    """The candidates found when the report arrived, plus any registered since (another
    report of the same household may have become a case in the meantime)."""
    from fieldwork.discovery.services import find_duplicates

    found = {c["household_id"]: dict(c) for c in report.duplicate_candidates or []}
    id_number = reveal_id(report.id_enc) if report.id_enc else None
    for c in find_duplicates(head_name=report.head_name, address=report.address,
                             id_number=id_number, lat=report.lat, lon=report.lon,
                             place=report.place):
        if c["household_id"] in found:
            found[c["household_id"]]["why"] = sorted(
                set(found[c["household_id"]]["why"]) | set(c["why"]))
        else:
            found[c["household_id"]] = c
    if report.household_id is not None:
        found.pop(report.household_id, None)
    return list(found.values())


def _strength(why: str) -> int:
    return WHY_ORDER.index(why) if why in WHY_ORDER else len(WHY_ORDER)


def scoped_candidates(user: User, candidates: Sequence[Mapping[str, Any]], *,
                      outside_reasons: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Duplicate candidates as the user may see them: the one rule for every page and API.

    Inside the user's scope (accounts/scope.py): the household as it is now (id, name,
    address, status, file number) and why it matched. Outside: only that a match exists,
    why, in which county, and whom to ask -- one entry per county, with no id, name,
    address, status or masked ID, so that trying ID numbers, names or a grid of locations
    cannot map another area's households. outside_reasons limits which reasons are reported
    for out-of-scope matches (None: all); a match for no listed reason is left out.
    """
    ids = [c["household_id"] for c in candidates]
    inside = {h.id: h for h in db.session.scalars(sa.select(Household).where(
        Household.id.in_(ids), household_clause(user)))} if ids else {}
    out: list[dict[str, Any]] = []
    elsewhere: dict[int, set[str]] = {}
    for c in candidates:
        why: Collection[str] = [str(w) for w in c.get("why", [])]
        hh = inside.get(c["household_id"])
        if hh is not None:
            out.append({"in_scope": True, "household_id": hh.id, "head_name": hh.head_name,
                        "address": hh.address, "status": hh.status, "file_no": hh.file_no,
                        "why": why})
            continue
        if outside_reasons is not None:
            why = [w for w in why if w in outside_reasons]
        if why:
            county_id = c.get("county_id")
            if county_id is None:  # stored before candidates carried their county
                county_id = db.session.scalar(sa.select(Household.county_id).where(
                    Household.id == c["household_id"]))
            if county_id is not None:
                elsewhere.setdefault(county_id, set()).update(why)
    names = dict(db.session.execute(sa.select(Place.id, Place.name).where(
        Place.id.in_(list(elsewhere)))).all()) if elsewhere else {}
    for county_id, why in sorted(elsewhere.items()):
        county = names.get(county_id, "")
        ordered = sorted(why, key=_strength)
        out.append({"in_scope": False, "reason": ordered[0], "why": ordered, "county": county,
                    "advice": _("该家庭已在其他辖区登记，请联系%(county)s解困办核实",
                                county=county or _("县级"))})
    return out


def visible_candidates(user: User, candidates: Sequence[Mapping[str, Any]]) -> list[dict]:
    """Candidates for the review pages (an entry or a report): every reason, scoped."""
    return scoped_candidates(user, candidates)


def open_case_from_report(user: User, report: DiscoveryReport, *, category: str,
                          causes: Sequence[str] | None = None,
                          confirm_new: bool = False) -> Case:
    """Register the reported household and open its intake case (the report stays linked)."""
    if not may_open_report(user, report):
        if report.status != "new":
            raise Conflict(_("该上报已处理"))
        raise NotAllowed(_("您不能处理这条上报"))
    if category not in CATEGORIES:
        raise WorkflowError(_("请选择困难类别"), "category")
    answers = report.answers or {}
    causes = list(causes if causes is not None else answers.get("causes") or [])
    if any(c not in CAUSES for c in causes):
        raise WorkflowError(_("致困原因中有无效的选项"), "causes")
    _refuse_active_same_id(user, report.id_index)
    candidates = report_candidates(report)
    if candidates and not confirm_new:
        raise PossibleDuplicates(candidates)
    now = now_utc()
    members = answers.get("members_count")
    hh = Household(
        head_name=report.head_name or _("（未填姓名）"), address=report.address,
        phone=report.contact_phone, category=category, causes=sorted(set(causes)),
        status="reported", members_count=members if isinstance(members, int) and members > 0
        else 1, notes=report.reason,
        head_id_enc=report.id_enc, head_id_index=report.id_index, head_id_mask=report.id_mask)
    hh.set_place(report.place)
    if report.lat is not None and report.lon is not None:
        hh.ref_lat, hh.ref_lon = report.lat, report.lon
        hh.ref_source, hh.ref_source_crs = "discovery", "wgs84"
        hh.ref_confirmed, hh.ref_updated_at = False, now
    hh.members.append(Member(name=hh.head_name, relation="self", id_enc=report.id_enc,
                             id_index=report.id_index, id_mask=report.id_mask))
    db.session.add(hh)
    db.session.flush()
    source = _report_source(report)
    case = _open_case(user, hh, channel="territorial", source=source,
                      organisation=_("县级解困办") if source in LEAD_SOURCES else "",
                      discovery=report, now=now)
    _claim_report(user, report, hh, REPORT_OPENED)
    return case


def _report_source(report: DiscoveryReport) -> str:
    """A report by the county office is a lead for the street to check; anything else found
    in a community starts with that community's 初审."""
    if report.source in LEAD_SOURCES and report.reporter.role == roles.COUNTY_OFFICER:
        return report.source
    return "community"


def mark_report_same(user: User, report: DiscoveryReport, household_id: int, *,
                     reopen: bool = False) -> Case | None:
    """The report is about a household already registered: close it without a new
    household. reopen: that household had left or was not enrolled (watch, exited,
    rejected) and now asks again, so a new intake case opens on it."""
    if not may_open_report(user, report):
        if report.status != "new":
            raise Conflict(_("该上报已处理"))
        raise NotAllowed(_("您不能处理这条上报"))
    hh = db.session.scalar(sa.select(Household).where(
        Household.id == household_id, household_clause(user)))
    if hh is None:
        raise WorkflowError(_("请选择您辖区内已登记的家庭"), "household_id")
    case = None
    if reopen:
        if hh.status not in REENTRY_STATUSES:
            raise WorkflowError(_("这一户正在审核或帮扶中，无需重新申请"), "reopen")
        source = _report_source(report)
        case = _open_case(user, hh, channel="territorial", source=source,
                          organisation=_("县级解困办") if source in LEAD_SOURCES else "",
                          discovery=report)
        _set_status(hh, "reported")
    _claim_report(user, report, hh, REPORT_OPENED if reopen else REPORT_SAME)
    return case


def _claim_report(user: User, report: DiscoveryReport, hh: Household, status: str) -> None:
    # Only a report still "new" may be claimed: two reviewers acting at once cannot both
    # turn it into a household.
    done = cast(sa.CursorResult[Any], db.session.execute(
        sa.update(DiscoveryReport)
        .where(DiscoveryReport.id == report.id, DiscoveryReport.status == "new")
        .values(status=status, household_id=hh.id)
        .execution_options(synchronize_session="fetch")))
    if done.rowcount != 1:
        raise Conflict(_("该上报已由他人处理，请刷新后查看"))
    # The report's photos become the household's, visible to whoever reviews it.
    db.session.execute(sa.update(Photo).where(Photo.discovery_id == report.id)
                       .values(household_id=hh.id).execution_options(synchronize_session=False))
    audit("discovery.opened" if status == REPORT_OPENED else "discovery.same_household",
          target_type="discovery", target_id=report.id, place_id=hh.county_id, user=user,
          household_id=hh.id)


# ---------------------------------------------------------------- decisions

def _move(case: Case, **values: Any) -> None:
    """Move the case on, if nobody moved it since it was loaded (compare and set)."""
    done = cast(sa.CursorResult[Any], db.session.execute(
        sa.update(Case)
        .where(Case.id == case.id, Case.state == "open", Case.stage == case.stage,
               Case.stage_since == case.stage_since)
        .values(**values).execution_options(synchronize_session="fetch")))
    if done.rowcount != 1:
        raise Conflict(_("该案件已由他人处理，请刷新后查看"))
    db.session.refresh(case)


def _set_status(hh: Household, status: str) -> None:
    if hh.status != status:
        hh.status = status
        hh.version += 1  # phones of reviewers hold the status


def decide(user: User, case: Case, decision: str, opinion: str = "", *,
           draft_plan: str | None = None, expect_stage: str | None = None,
           now: datetime | None = None) -> ReviewDecision:
    """Record one review decision and move the case: approve → next step (after the county
    office: publicity), return → one step back (from the first step: to whoever entered it),
    reject → closed, the household watched."""
    if case.state != "open" or (expect_stage is not None and expect_stage != case.stage):
        raise Conflict(_("该案件已由他人处理，请刷新后查看"))
    if case.kind != "intake" or case.stage not in path_of(case):
        raise NotAllowed(_("该案件当前不在审核环节"))
    if not _holds_step(user, case, case.stage):
        raise NotAllowed(_("“%(step)s”应由其他人员办理", step=STEP_LABELS[case.stage]))
    if awaiting_correction(case):
        raise WorkflowError(_("该案件已退回补正，需补正后重新提交"))
    if decision not in DECISIONS:
        raise WorkflowError(_("请选择审核结论"), "decision")
    opinion = (opinion or "").strip()
    if len(opinion) > MAX_TEXT:
        raise WorkflowError(_("意见不能超过 %(n)d 个字", n=MAX_TEXT), "opinion")
    if decision != "approve" and not opinion:
        raise WorkflowError(_("退回或不同意时请填写意见和理由"), "opinion")
    step = case.stage
    values: dict[str, Any] = {}
    if step == STREET_REVIEW and draft_plan is not None:
        draft_plan = draft_plan.strip()
        if len(draft_plan) > MAX_PLAN:
            raise WorkflowError(_("初步救助方案不能超过 %(n)d 个字", n=MAX_PLAN), "draft_plan")
        values["draft_plan"] = draft_plan
    if step == STREET_REVIEW and decision == "approve" and not values.get(
            "draft_plan", case.draft_plan).strip():
        raise WorkflowError(_("街道复核同意时须拟订初步救助方案"), "draft_plan")

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
        status = "watch"
    _move(case, **values)
    _set_status(hh, status)
    d = ReviewDecision(case_id=case.id, step=step, decision=decision, opinion=opinion,
                       reviewer_id=user.id, decided_at=now)
    db.session.add(d)
    audit("case.decision", target_type="case", target_id=case.id, place_id=hh.county_id,
          user=user, household_id=hh.id, step=step, decision=decision, stage=case.stage)
    db.session.flush()
    db.session.refresh(case, ["decisions"])
    return d


def correct_and_resubmit(user: User, case: Case, entry: HouseholdEntry) -> None:
    """Whoever entered a case corrects what the first step returned, and sends it again."""
    if not may_correct(user, case):
        if case.state != "open" or not awaiting_correction(case):
            raise Conflict(_("该案件没有待补正的内容"))
        raise NotAllowed(_("只有录入该案件的单位可以补正"))
    hh = case.household
    if not can_see_place(user, entry.place):
        raise WorkflowError(_("请选择您辖区内的社区（村）"), "place_id")
    if entry.id_number:
        p = protect_id(entry.id_number)
        _refuse_active_same_id(user, p.index, exclude=hh.id)
        hh.head_id_enc, hh.head_id_index, hh.head_id_mask = p.enc, p.index, p.mask
        head = next((m for m in hh.members if m.relation == "self"), None)
        if head is not None:
            head.id_enc, head.id_index, head.id_mask = p.enc, p.index, p.mask
    changed = [name for name in ("head_name", "address", "members_count", "category", "causes")
               if getattr(hh, name) != getattr(entry, name)]
    hh.head_name, hh.address, hh.members_count = entry.head_name, entry.address, \
        entry.members_count
    hh.category, hh.causes, hh.phone = entry.category, entry.causes, entry.phone or None
    hh.notes = entry.situation
    if entry.place.id != hh.place_id:
        changed.append("place")
        hh.set_place(entry.place)
    hh.version += 1
    _move(case, stage_since=now_utc())
    audit("case.resubmit", target_type="case", target_id=case.id, place_id=hh.county_id,
          user=user, household_id=hh.id, changed=changed, id_changed=bool(entry.id_number))
    db.session.flush()


# ---------------------------------------------------------------- publicity

def publicity_started(case: Case) -> datetime | None:
    """When the current publicity began: the county office's last approval."""
    times = [d.decided_at for d in case.decisions
             if d.step == COUNTY_CONFIRM and d.decision == "approve"]
    return max(times) if times else None


def record_objection(user: User, case: Case, text: str, raised_by: str = "") -> Objection:
    if not may_handle_publicity(user, case):
        if case.state != "open" or case.stage != PUBLICITY:
            raise Conflict(_("该案件不在公示期"))
        raise NotAllowed(_("异议由县级解困办登记"))
    text, raised_by = (text or "").strip(), (raised_by or "").strip()
    if not text:
        raise WorkflowError(_("请填写异议内容"), "text")
    if len(text) > MAX_TEXT:
        raise WorkflowError(_("异议内容不能超过 %(n)d 个字", n=MAX_TEXT), "text")
    if len(raised_by) > 64:
        raise WorkflowError(_("提出人不能超过 64 个字"), "raised_by")
    objection = Objection(case_id=case.id, text=text, raised_by=raised_by,
                          recorded_by_id=user.id, recorded_at=now_utc())
    db.session.add(objection)
    db.session.flush()
    audit("case.objection", target_type="case", target_id=case.id,
          place_id=case.household.county_id, user=user, objection_id=objection.id)
    return objection


OBJECTION_OUTCOMES = ("dismiss", "return", "reject")
OBJECTION_OUTCOME_LABELS = {
    "dismiss": _l("异议不成立，继续公示"),
    "return": _l("异议成立，退回县级重新审核"),
    "reject": _l("异议成立，不予纳入"),
}


def resolve_objection(user: User, objection: Objection, outcome: str, resolution: str) -> None:
    """Dismissed: publicity goes on. Upheld: the case goes back to the county office's
    review, or is rejected; either way it is recorded as a decision at the publicity step."""
    case = db.session.get(Case, objection.case_id)
    if case is None:
        raise Conflict(_("该异议所属的案件不存在"))
    if objection.upheld is not None:
        raise Conflict(_("该异议已处理"))
    if not may_handle_publicity(user, case):
        if case.state != "open" or case.stage != PUBLICITY:
            raise Conflict(_("该案件不在公示期"))
        raise NotAllowed(_("异议由县级解困办处理"))
    if outcome not in OBJECTION_OUTCOMES:
        raise WorkflowError(_("请选择处理结果"), "outcome")
    resolution = (resolution or "").strip()
    if not resolution:
        raise WorkflowError(_("请填写核实情况和处理意见"), "resolution")
    if len(resolution) > MAX_TEXT:
        raise WorkflowError(_("处理意见不能超过 %(n)d 个字", n=MAX_TEXT), "resolution")
    now = now_utc()
    done = cast(sa.CursorResult[Any], db.session.execute(
        sa.update(Objection).where(Objection.id == objection.id, Objection.upheld.is_(None))
        .values(upheld=outcome != "dismiss", resolution=resolution, resolved_at=now,
                ).execution_options(synchronize_session="fetch")))
    if done.rowcount != 1:
        raise Conflict(_("该异议已处理"))
    hh = case.household
    audit("case.objection_resolved", target_type="case", target_id=case.id,
          place_id=hh.county_id, user=user, objection_id=objection.id, outcome=outcome)
    if outcome == "dismiss":
        db.session.flush()
        return
    if outcome == "return":
        _move(case, stage=COUNTY_CONFIRM, stage_since=now, publicity_ends_on=None)
        _set_status(hh, "reviewing")
    else:
        _move(case, state="rejected", closed_at=now)
        _set_status(hh, "watch")
    db.session.add(ReviewDecision(case_id=case.id, step=PUBLICITY, decision=outcome,
                                  opinion=resolution, reviewer_id=user.id, decided_at=now))
    audit("case.decision", target_type="case", target_id=case.id, place_id=hh.county_id,
          user=user, household_id=hh.id, step=PUBLICITY, decision=outcome, stage=case.stage)
    db.session.flush()
    db.session.refresh(case, ["decisions"])


def enrol_blockers(case: Case, today: date | None = None) -> list[str]:
    """Why the case cannot be enrolled yet (empty: it can)."""
    today = today or today_local()
    if case.kind != "intake" or case.state != "open" or case.stage != PUBLICITY:
        return [_("只有公示中的案件可以建档")]
    out = []
    if case.publicity_ends_on is None or today <= case.publicity_ends_on:
        ends = case.publicity_ends_on.isoformat() if case.publicity_ends_on else "—"
        out.append(_("公示期至 %(d)s，期满后才能建档", d=ends))
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


# ---------------------------------------------------------------- enrolment

@dataclass(frozen=True)
class PlanItem:
    measure_id: int
    amount: Decimal | None
    start_date: date
    note: str = ""


def county_helpers(county_id: int) -> list[User]:
    """Active helpers whose home place lies within the county."""
    county = db.session.get(Place, county_id)
    if county is None:
        return []
    return list(db.session.scalars(
        sa.select(User).join(Place, User.place_id == Place.id)
        .where(User.role == roles.HELPER, User.active.is_(True),
               Place.path.startswith(county.path, autoescape=True))
        .order_by(User.display_name, User.username)))


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
        amount = None
        amount_raw = str(form.get(f"amount_{mid}") or "").strip()
        if amount_raw:
            try:
                amount = Decimal(amount_raw)
            except InvalidOperation:
                amount = None
            if amount is None or not amount.is_finite() or amount < 0 or amount >= 10**10:
                errors[f"amount_{mid}"] = _("金额应为不小于 0 的数字")
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
        raise EntryError(errors)
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
    raise Conflict(_("档案编号分配冲突，请稍后重试"))


def enrol(user: User, case: Case, *, helper_id: int | None, items: Sequence[PlanItem],
          today: date | None = None) -> Household:
    """File the household (一户一档): file number, helper (结对帮扶), plan measures."""
    today = today or today_local()
    if not may_handle_publicity(user, case):
        if case.state != "open" or case.stage != PUBLICITY:
            raise Conflict(_("只有公示中的案件可以建档"))
        raise NotAllowed(_("建档由本县（市、区）解困办办理"))
    blockers = enrol_blockers(case, today)
    if blockers:
        raise WorkflowError(blockers[0])
    hh = case.household
    helper = db.session.get(User, helper_id) if helper_id else None
    county = db.session.get(Place, hh.county_id)
    if county is None:
        raise WorkflowError(_("该户所在县（市、区）不存在"))
    if (helper is None or helper.role != roles.HELPER or not helper.active
            or not helper.place.is_within(county)):
        raise WorkflowError(_("请选择本县（市、区）的帮扶责任人"), "helper_id")
    if not items:
        raise WorkflowError(_("请至少选择一项帮扶措施"), "measures")
    allowed = {m.id: m for m in measures_for(hh.county_id)}
    seen: set[int] = set()
    for item in items:
        if item.measure_id not in allowed or item.measure_id in seen:
            raise WorkflowError(_("所选帮扶措施无效"), "measures")
        seen.add(item.measure_id)
    now = now_utc()
    _move(case, stage=ENROLLED, state="approved", closed_at=now, stage_since=now)
    for a in hh.assignments:
        if a.end_date is None:
            a.end_date = max(a.start_date, today - timedelta(days=1))
    db.session.add(Assignment(household=hh, helper_id=helper.id, start_date=today,
                              reason=_("县级解困办建档时结对帮扶"), assigned_by_id=user.id))
    for item in items:
        measure = allowed[item.measure_id]
        db.session.add(PlanMeasure(
            household=hh, measure_id=measure.id,
            amount=item.amount if item.amount is not None else measure.amount,
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


# ---------------------------------------------------------------- queues

@dataclass
class QueueRow:
    case: Case
    household: Household
    days_waiting: int
    open_objections: int = 0
    blockers: list[str] = field(default_factory=list)


def _days_since(when: datetime, today: date) -> int:
    return max(0, (today - local(when).date()).days)


def _decide_clause(user: User) -> sa.ColumnElement[bool] | None:
    """Cases at a step the user holds (SQL form of _holds_step for the case's stage)."""
    if user.role == roles.COMMUNITY_WORKER:
        return sa.and_(Case.stage == COMMUNITY_REVIEW, Household.place_id == user.place_id)
    if user.role == roles.STREET_REVIEWER:
        return sa.and_(Case.stage == STREET_REVIEW, Household.street_id == user.place_id)
    if user.role == roles.COUNTY_OFFICER:
        return sa.and_(Case.stage == COUNTY_CONFIRM, Household.county_id == user.place_id)
    channel = department_channel(user)
    if channel is not None:
        return sa.and_(Case.stage == CHAINS[channel][0], Case.channel == channel,
                       Case.organisation == user.organisation,
                       Household.county_id == user.place_id)
    return None


def _correct_clause(user: User) -> sa.ColumnElement[bool] | None:
    if user.role == roles.COUNTY_OFFICER:
        return sa.and_(Case.stage == STREET_REVIEW, Case.source.in_(LEAD_SOURCES),
                       Household.county_id == user.place_id)
    if user.role == roles.STREET_REVIEWER:
        return None
    return _decide_clause(user)


def _open_cases(user: User, clause: sa.ColumnElement[bool]) -> sa.Select[Case]:
    return (sa.select(Case).join(Household, Case.household_id == Household.id)
            .where(Case.kind == "intake", Case.state == "open", clause,
                   household_clause(user)))


def _rows(cases: Sequence[Case], today: date) -> list[QueueRow]:
    return [QueueRow(c, c.household, _days_since(c.stage_since, today)) for c in cases]


def queue(user: User, today: date | None = None) -> list[QueueRow]:
    """Cases waiting for the user's decision, oldest first."""
    clause = _decide_clause(user)
    if clause is None:
        return []
    cases = db.session.scalars(_open_cases(user, sa.and_(clause, ~_awaiting_clause()))
                               .order_by(Case.stage_since, Case.id))
    return _rows(list(cases), today or today_local())


def returned_for_correction(user: User, today: date | None = None) -> list[QueueRow]:
    """Cases returned to the user's office for correction (退回补正)."""
    clause = _correct_clause(user)
    if clause is None:
        return []
    cases = db.session.scalars(_open_cases(user, sa.and_(clause, _awaiting_clause()))
                               .order_by(Case.stage_since, Case.id))
    return _rows(list(cases), today or today_local())


def publicity_rows(user: User, today: date | None = None) -> tuple[list[QueueRow],
                                                                    list[QueueRow]]:
    """The county office's cases in publicity: (still running or blocked, ready to enrol)."""
    if user.role != roles.COUNTY_OFFICER:
        return [], []
    today = today or today_local()
    cases = list(db.session.scalars(_open_cases(user, sa.and_(
        Case.stage == PUBLICITY, Household.county_id == user.place_id))
        .order_by(Case.publicity_ends_on, Case.id)))
    counts = dict(db.session.execute(
        sa.select(Objection.case_id, sa.func.count()).where(
            Objection.case_id.in_([c.id for c in cases]), Objection.upheld.is_(None))
        .group_by(Objection.case_id)).all()) if cases else {}
    running: list[QueueRow] = []
    ready: list[QueueRow] = []
    for c in cases:
        row = QueueRow(c, c.household, _days_since(c.stage_since, today),
                       open_objections=counts.get(c.id, 0), blockers=enrol_blockers(c, today))
        (running if row.blockers else ready).append(row)
    return running, ready


def reports_waiting(user: User) -> list[DiscoveryReport]:
    """New discovery reports of the user's area, waiting to be turned into cases (oldest
    first). The county office sees the leads it entered itself; community reports are the
    community's and the street's to take up."""
    if user.role not in roles.REPORTERS:
        return []
    q = (sa.select(DiscoveryReport).join(Place, DiscoveryReport.place_id == Place.id)
         .where(DiscoveryReport.status == "new",
                Place.path.startswith(user.place.path, autoescape=True)))
    if user.role == roles.COUNTY_OFFICER:
        q = q.where(DiscoveryReport.source.in_(LEAD_SOURCES))
    return list(db.session.scalars(q.order_by(DiscoveryReport.reported_at)
                                   .limit(500)))


def report_photos(user: User, report: DiscoveryReport) -> list[Photo]:
    """The report's stored photos the user may open through the photos route."""
    from fieldwork.accounts.scope import photo_clause

    return list(db.session.scalars(
        sa.select(Photo).where(Photo.discovery_id == report.id, Photo.stored_at.is_not(None),
                               photo_clause(user)).order_by(Photo.created_at, Photo.id)))

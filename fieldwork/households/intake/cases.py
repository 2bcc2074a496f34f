"""Entering a household: an application, a county lead or a department screening (parse
the entry, refuse a second active household for one ID number, open the case), and
correcting an entry a first step returned."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.access import roles
from fieldwork.access.scope import can_see_place, household_clause, place_clause
from fieldwork.accounts.models import User
from fieldwork.audit.services import record as audit
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.discovery.services import find_duplicates
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import CATEGORIES, CAUSES
from fieldwork.households.intake.decisions import decide
from fieldwork.households.intake.steps import (
    ACTIVE_STATUSES,
    LEAD_SOURCES,
    MAX_ADDRESS,
    MAX_NAME,
    MAX_PHONE,
    MAX_TEXT,
    awaiting_correction,
    department_channel,
    entry_step,
    may_correct,
    move_case,
)
from fieldwork.households.members import refresh_household
from fieldwork.households.models import (
    Case,
    Household,
    Member,
    current_head_clause,
)
from fieldwork.places.models import Place
from fieldwork.privacy.idnumber import IdNumberError, birth_date_of, gender_of, validate_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.records import parse_money
from fieldwork.timeutil import now_utc, today_local

PHONE_RE = re.compile(r"^[0-9+\-() ]{5,20}$")
MAX_INCOME = Decimal("10000000")


class PossibleDuplicates(FormError):
    """The registry may already hold this household: the user must look and confirm. A form
    failure (422 on confirm_new) that also carries the candidates the page lists."""

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        message = _("系统中可能已有这一户，请核对下列家庭；确认不是同一户后勾选确认再提交")
        super().__init__({"confirm_new": message})
        self.candidates = candidates




# ---------------------------------------------------------------- entries

@dataclass(frozen=True)
class HouseholdEntry:
    """What an application, a lead or a department screening says about a household."""

    head_name: str
    address: str
    place: Place
    # 家庭月总收入 as stated at intake: the per-capita income until a visit gives a newer one.
    income: Decimal | None
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
    """Check a household entry from a form (or any mapping); raise FormError with a message
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
    income_raw = str(raw.get("household_income") or "").strip()
    income = parse_money(income_raw) if income_raw else None
    if income_raw and (income is None or income < 0 or income >= MAX_INCOME):
        errors["household_income"] = _("家庭月总收入应为 0 到 9999999.99 之间的金额（元）")
    category = str(raw.get("category") or "")
    if category not in CATEGORIES:
        errors["category"] = _("请选择困难类别")
    causes_raw = raw.get("causes") or []
    causes = [causes_raw] if isinstance(causes_raw, str) else list(causes_raw)
    if any(c not in CAUSES for c in causes):
        errors["causes"] = _("致困原因中有无效的选项")
    situation = _text(raw, "situation", MAX_TEXT, errors, _("家庭困难情况"), required=True)
    if errors or place is None:
        raise FormError(errors or {"place_id": _("请选择您辖区内的社区（村）")})
    return HouseholdEntry(head_name=head_name, address=address, place=place,
                          income=income, category=category,
                          causes=sorted(set(causes)), phone=phone, situation=situation,
                          id_number=id_number)


def candidates_for(entry: HouseholdEntry, *, exclude: int | None = None) -> list[dict[str, Any]]:

    found = find_duplicates(head_name=entry.head_name, address=entry.address,
                            id_number=entry.id_number, lat=None, lon=None, place=entry.place)
    return [c for c in found if c["household_id"] != exclude]


def refuse_active_same_id(user: User, id_index: str | None, *,
                           exclude: int | None = None) -> None:
    """One person heads one household in the programme: an ID already heading a household
    under review or in assistance cannot open another. Outside the user's scope the answer
    says only where the household is registered and whom to ask (as scoped_candidates)."""
    if not id_index:
        return
    q = (sa.select(Household).join(Member, Member.household_id == Household.id)
         .where(Member.id_index == id_index, current_head_clause(),
                Household.status.in_(ACTIVE_STATUSES)))
    if exclude is not None:
        q = q.where(Household.id != exclude)
    found = db.session.scalar(q.order_by(Household.id).limit(1))
    if found is None:
        return
    if db.session.scalar(sa.select(Household.id).where(Household.id == found.id,
                                                       household_clause(user))) is None:
        county = db.session.get(Place, found.county_id)
        name = county.name if county is not None else _("县级")
        raise FormError.of(_("该身份证号的家庭已在审核或帮扶中，不能重复登记。"
                              "该家庭已在其他辖区登记，请联系%(county)s解困办核实", county=name),
                            "id_number")
    raise FormError.of(_("该身份证号的家庭已在审核或帮扶中，不能重复登记"), "id_number")


def new_household(entry: HouseholdEntry) -> Household:
    """The household and its head, the first member (one person, one ID); the other
    members are added on the file during review (households.members)."""
    hh = Household(head_name=entry.head_name, address=entry.address, phone=entry.phone or None,
                   members_count=1, intake_income=entry.income, category=entry.category,
                   causes=entry.causes, status="reported", notes=entry.situation)
    hh.set_place(entry.place)
    head = Member(name=entry.head_name, relation="self", joined_on=today_local())
    if entry.id_number:
        p = protect_id(entry.id_number)
        head.id_enc, head.id_index, head.id_mask = p.enc, p.index, p.mask
        head.birth_date = birth_date_of(entry.id_number)
        head.gender = gender_of(entry.id_number)
    hh.members.append(head)
    db.session.add(hh)
    refresh_household(hh)
    return hh


def open_case(user: User, hh: Household, *, channel: str, source: str,
               organisation: str = "", discovery: DiscoveryReport | None = None,
               now: datetime | None = None) -> Case:
    if hh.id is not None and db.session.scalar(sa.select(Case.id).where(
            Case.household_id == hh.id, Case.kind == "intake", Case.state == "open")
            .limit(1)) is not None:
        raise FormError.of(_("这一户已有正在办理的审核，请勿重复立案"))
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
        raise FormError.forbidden(_("只有社区(村)工作人员可以录入申请"))
    return _enter(user, entry, channel="territorial", source="application",
                  confirm_new=confirm_new)


def enter_lead(user: User, entry: HouseholdEntry, *, source: str, organisation: str,
               confirm_new: bool = False) -> Case:
    """The county office enters an employer report or a data-comparison lead; it goes to the
    street of the household's community for checking (核查), i.e. to 街道复核."""
    if user.role != roles.COUNTY_OFFICER:
        raise FormError.forbidden(_("只有县级解困办可以录入单位报送和信息比对线索"))
    if source not in LEAD_SOURCES:
        raise FormError.of(_("请选择线索来源"), "source")
    organisation = (organisation or "").strip()
    if not organisation:
        raise FormError.of(_("请填写报送单位或比对部门"), "organisation")
    if len(organisation) > 64:
        raise FormError.of(_("报送单位名称不能超过 64 个字"), "organisation")
    return _enter(user, entry, channel="territorial", source=source, organisation=organisation,
                  confirm_new=confirm_new)


def enter_screening(user: User, entry: HouseholdEntry, *, opinion: str,
                    confirm_new: bool = False) -> Case:
    """A department (部门初审) or sector body (行业认定) enters a household with its result;
    the case goes straight on to the county office."""
    channel = department_channel(user)
    if channel is None:
        raise FormError.forbidden(_("您的账号没有登记所属部门，请联系系统管理员"))
    opinion = (opinion or "").strip()
    if not opinion:
        raise FormError.of(_("请填写初审意见或认定结果"), "opinion")
    if len(opinion) > MAX_TEXT:
        raise FormError.of(_("意见不能超过 %(n)d 个字", n=MAX_TEXT), "opinion")
    case = _enter(user, entry, channel=channel,
                  source="sector" if channel == "sector" else "department",
                  organisation=user.organisation, confirm_new=confirm_new)
    decide(user, case, "approve", opinion)
    return case


def _enter(user: User, entry: HouseholdEntry, *, channel: str, source: str,
           organisation: str = "", confirm_new: bool) -> Case:
    if not can_see_place(user, entry.place):
        raise FormError.of(_("请选择您辖区内的社区（村）"), "place_id")
    if entry.id_number:
        refuse_active_same_id(user, protect_id(entry.id_number).index)
    candidates = candidates_for(entry)
    if candidates and not confirm_new:
        raise PossibleDuplicates(candidates)
    hh = new_household(entry)
    db.session.flush()
    return open_case(user, hh, channel=channel, source=source, organisation=organisation)




def correct_and_resubmit(user: User, case: Case, entry: HouseholdEntry) -> None:
    """Whoever entered a case corrects what the first step returned, and sends it again."""
    if not may_correct(user, case):
        if case.state != "open" or not awaiting_correction(case):
            raise FormError.conflict(_("该案件没有待补正的内容"))
        raise FormError.forbidden(_("只有录入该案件的单位可以补正"))
    hh = case.household
    if not can_see_place(user, entry.place):
        raise FormError.of(_("请选择您辖区内的社区（村）"), "place_id")
    if entry.id_number:
        p = protect_id(entry.id_number)
        refuse_active_same_id(user, p.index, exclude=hh.id)
        head = hh.head
        if head is None:
            head = Member(name=entry.head_name, relation="self", joined_on=today_local())
            hh.members.append(head)
        head.id_enc, head.id_index, head.id_mask = p.enc, p.index, p.mask
        head.birth_date = birth_date_of(entry.id_number)
        head.gender = gender_of(entry.id_number)
    changed = [name for name in ("head_name", "address", "category", "causes")
               if getattr(hh, name) != getattr(entry, name)]
    if hh.intake_income != entry.income:
        changed.append("income")
    hh.head_name, hh.address, hh.intake_income = entry.head_name, entry.address, entry.income
    if hh.head is not None:
        hh.head.name = entry.head_name
    refresh_household(hh)
    hh.category, hh.causes, hh.phone = entry.category, entry.causes, entry.phone or None
    hh.notes = entry.situation
    if entry.place.id != hh.place_id:
        changed.append("place")
        hh.set_place(entry.place)
    hh.version += 1
    move_case(case, stage_since=now_utc())
    audit("case.resubmit", target_type="case", target_id=case.id, place_id=hh.county_id,
          user=user, household_id=hh.id, changed=changed, id_changed=bool(entry.id_number))
    db.session.flush()

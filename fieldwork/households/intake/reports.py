"""Discovery reports turned into cases by a person: open a case for the reported household,
or mark the report as a household already registered; the duplicate candidates shown."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.access import roles
from fieldwork.access.scope import can_see_place, household_clause, photo_clause
from fieldwork.accounts.models import User
from fieldwork.audit.services import record as audit
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.discovery.services import find_duplicates
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import CATEGORIES, CAUSES
from fieldwork.households.intake.cases import PossibleDuplicates, open_case, refuse_active_same_id
from fieldwork.households.intake.steps import (
    LEAD_SOURCES,
    REENTRY_STATUSES,
    REPORT_OPENED,
    REPORT_SAME,
    WHY_ORDER,
    set_status,
)
from fieldwork.households.models import (
    Case,
    Household,
    Member,
)
from fieldwork.photos.models import Photo
from fieldwork.places.models import Place
from fieldwork.privacy.service import reveal_id
from fieldwork.timeutil import now_utc, today_local

# ---------------------------------------------------------------- discovery reports

def may_open_report(user: User, report: DiscoveryReport) -> bool:
    return (report.status == "new" and user.is_active
            and user.role in (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER,
                              roles.COUNTY_OFFICER)
            and can_see_place(user, report.place))


def report_candidates(report: DiscoveryReport) -> list[dict[str, Any]]:
    """The candidates found when the report arrived, plus any registered since (another
    report of the same household may have become a case in the meantime)."""

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

    Inside the user's scope (access/scope.py): the household as it is now (id, name,
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
            raise FormError.conflict(_("该上报已处理"))
        raise FormError.forbidden(_("您不能处理这条上报"))
    if category not in CATEGORIES:
        raise FormError.of(_("请选择困难类别"), "category")
    answers = report.answers or {}
    causes = list(causes if causes is not None else answers.get("causes") or [])
    if any(c not in CAUSES for c in causes):
        raise FormError.of(_("致困原因中有无效的选项"), "causes")
    refuse_active_same_id(user, report.id_index)
    candidates = report_candidates(report)
    if candidates and not confirm_new:
        raise PossibleDuplicates(candidates)
    now = now_utc()
    # The reported household size is only what the reporter said: the file counts its
    # members, starting with the head (households.members), the others added in review.
    hh = Household(
        head_name=report.head_name or _("（未填姓名）"), address=report.address,
        phone=report.contact_phone, category=category, causes=sorted(set(causes)),
        status="reported", members_count=1, notes=report.reason)
    hh.set_place(report.place)
    if report.lat is not None and report.lon is not None:
        hh.ref_lat, hh.ref_lon = report.lat, report.lon
        hh.ref_source, hh.ref_source_crs = "discovery", "wgs84"
        hh.ref_confirmed, hh.ref_updated_at = False, now
    hh.members.append(Member(name=hh.head_name, relation="self", id_enc=report.id_enc,
                             id_index=report.id_index, id_mask=report.id_mask,
                             joined_on=today_local()))
    db.session.add(hh)
    db.session.flush()
    source = _report_source(report)
    case = open_case(user, hh, channel="territorial", source=source,
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
            raise FormError.conflict(_("该上报已处理"))
        raise FormError.forbidden(_("您不能处理这条上报"))
    hh = db.session.scalar(sa.select(Household).where(
        Household.id == household_id, household_clause(user)))
    if hh is None:
        raise FormError.of(_("请选择您辖区内已登记的家庭"), "household_id")
    case = None
    if reopen:
        if hh.status not in REENTRY_STATUSES:
            raise FormError.of(_("这一户正在审核或帮扶中，无需重新申请"), "reopen")
        source = _report_source(report)
        case = open_case(user, hh, channel="territorial", source=source,
                          organisation=_("县级解困办") if source in LEAD_SOURCES else "",
                          discovery=report)
        set_status(hh, "reported")
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
        raise FormError.conflict(_("该上报已由他人处理，请刷新后查看"))
    # The report's photos become the household's, visible to whoever reviews it.
    db.session.execute(sa.update(Photo).where(Photo.discovery_id == report.id)
                       .values(household_id=hh.id).execution_options(synchronize_session=False))
    audit("discovery.opened" if status == REPORT_OPENED else "discovery.same_household",
          target_type="discovery", target_id=report.id, place_id=hh.county_id, user=user,
          household_id=hh.id)






def report_photos(user: User, report: DiscoveryReport) -> list[Photo]:
    """The report's stored photos the user may open through the photos route."""

    return list(db.session.scalars(
        sa.select(Photo).where(Photo.discovery_id == report.id, Photo.stored_at.is_not(None),
                               photo_clause(user)).order_by(Photo.created_at, Photo.id)))

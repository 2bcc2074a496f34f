"""Proactive discovery: reports from the field, checked against the registry for duplicates."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from fieldwork.access import roles
from fieldwork.access.scope import can_see_place, place_clause
from fieldwork.accounts.models import User
from fieldwork.discovery import form
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db
from fieldwork.households.models import Household, Member
from fieldwork.photos.models import Photo
from fieldwork.places.coords import distance_m
from fieldwork.places.models import Place
from fieldwork.privacy.idnumber import mask_id_number
from fieldwork.privacy.service import cipher
from fieldwork.records import (
    LocationFix,
    PhotoDecl,
    RecordError,
    RecordResult,
    content_hash,
    parse_location,
    parse_photos,
    parse_row_id,
    parse_text,
    parse_time_field,
    parse_uuid,
    value_errors,
)
from fieldwork.timeutil import now_utc

NEARBY_M = 50
ADDRESS_SIMILARITY = 0.8
MAX_ADDRESS = 200
MAX_REASON = 2000


@dataclass(frozen=True)
class DiscoveryRecord:
    id: str
    region_id: int
    address: str
    location: LocationFix | None
    reason: str
    answers: dict[str, Any]
    photos: list[PhotoDecl]
    reported_at: datetime | None
    device_id: str | None
    raw_hash: str


def parse_discovery_record(raw: Any, *, device_id: str | None = None) -> DiscoveryRecord:
    if not isinstance(raw, dict):
        raise RecordError({"record": _("记录格式不正确")})
    errors = value_errors(raw)  # hostile values anywhere, before any field is read
    if errors:
        raise RecordError(errors)
    rid = parse_uuid(raw.get("id"))
    if rid is None:
        errors["id"] = _("记录编号应为 UUID")
    region_id = parse_row_id(raw.get("region_id"))
    if region_id is None:
        errors["region_id"] = _("请选择所在社区")
    address = parse_text(raw.get("address"), "address", _("住址"), MAX_ADDRESS, errors)
    if not address and "address" not in errors:
        errors["address"] = _("请填写住址")
    reason = parse_text(raw.get("reason"), "reason", _("发现的情况"), MAX_REASON, errors)
    if not reason and "reason" not in errors:
        errors["reason"] = _("请说明发现的困难情况")
    location = parse_location(raw.get("location"), errors)
    photos = parse_photos(raw.get("photos"), errors)
    answers = raw.get("answers")
    if not isinstance(answers, dict):
        errors["answers"] = _("缺少上报内容")
        answers = {}
    reported_at = None
    if raw.get("reported_at") is not None:
        reported_at = parse_time_field(raw.get("reported_at"), "reported_at", errors,
                                       _("上报时间格式不正确，应为带时区的 ISO 8601 时间"))
    if errors:
        raise RecordError(errors)
    # errors is empty, so neither is None
    return DiscoveryRecord(cast(str, rid), cast(int, region_id), address, location, reason,
                           answers, photos, reported_at, device_id, content_hash(raw))


def _normalise_address(text: str) -> str:
    return re.sub(r"[\s\-－—_,，。.（）()#号]", "", text or "")


def find_duplicates(*, head_name: str, address: str, id_number: str | None,
                    lat: float | None, lon: float | None,
                    place: Place | None) -> list[dict[str, Any]]:
    """Likely existing households: same ID number (blind index), similar name and address,
    or a reference point within 50 m. Each candidate says why and in which county it lies.

    No name, address or status: this answer is stored on the report and reaches users of any
    scope, so what a user may learn about each candidate is decided by the caller through
    households.intake.reports.scoped_candidates (the one rule for showing candidates)."""
    found: dict[int, set[str]] = {}

    def add(hid: int, why: str) -> None:
        found.setdefault(hid, set()).add(why)

    if id_number:
        index = cipher().blind_index(id_number)
        for hid in db.session.scalars(sa.select(Member.household_id).where(
                Member.id_index == index)):
            add(hid, "same_id")
    if head_name and place is not None:
        street_id = place.street_id() if place.level == "community" else None
        scope = Household.street_id == street_id if street_id else Household.place_id == place.id
        target = _normalise_address(address)
        for hid, addr in db.session.execute(sa.select(Household.id, Household.address).where(
                Household.head_name == head_name.strip(), scope)):
            ratio = difflib.SequenceMatcher(None, target, _normalise_address(addr)).ratio()
            if ratio >= ADDRESS_SIMILARITY or (target and target in _normalise_address(addr)):
                add(hid, "similar_name_address")
    if lat is not None and lon is not None:
        dlat, dlon = NEARBY_M / 111_000 * 1.5, NEARBY_M / 90_000 * 1.5
        for hid, hlat, hlon in db.session.execute(sa.select(
                Household.id, Household.ref_lat, Household.ref_lon).where(
                Household.ref_lat.between(lat - dlat, lat + dlat),
                Household.ref_lon.between(lon - dlon, lon + dlon))):
            if distance_m(lat, lon, cast(float, hlat), cast(float, hlon)) <= NEARBY_M:
                add(hid, "nearby")
    if not found:
        return []
    rows = db.session.execute(sa.select(Household.id, Household.county_id).where(
        Household.id.in_(found)).order_by(Household.id))
    return [{"household_id": hid, "county_id": county_id, "why": sorted(found[hid])}
            for hid, county_id in rows]


def record_discovery(user: User, rec: DiscoveryRecord, *,
                     now: datetime | None = None) -> RecordResult:
    """Store one discovery report with its photo declarations (savepoint; caller commits)."""
    received = now or now_utc()
    existing = db.session.get(DiscoveryReport, rec.id)
    if existing is not None:
        if existing.content_hash != rec.raw_hash:
            return RecordResult(rec.id, "rejected", errors={"id": "conflict"})
        return RecordResult(rec.id, "duplicate", missing_photos=_missing(existing))

    def reject(errors: dict[str, str]) -> RecordResult:
        return RecordResult(rec.id, "rejected", errors=errors)

    if user.role not in roles.REPORTERS:
        return reject({"type": _("您的角色不能上报新发现的困难家庭")})
    place = db.session.get(Place, rec.region_id)
    if place is None or place.level != "community" or not can_see_place(user, place):
        return reject({"region_id": _("所选社区不在您的辖区内")})
    answers, errors = form.validate_answers(rec.answers)
    if errors:
        return reject({f"answers.{k}": v for k, v in errors.items()})
    if rec.reported_at is not None and rec.reported_at > received + timedelta(minutes=10):
        return reject({"reported_at": _("上报时间晚于当前时间，请检查手机的日期和时间")})
    declared = [p.id for p in rec.photos]
    if declared and db.session.scalar(
            sa.select(sa.func.count(Photo.id)).where(Photo.id.in_(declared))):
        return reject({"photos": _("照片编号已被其他记录使用")})

    id_number = answers.pop("id_number", "") or None
    report = DiscoveryReport(
        id=rec.id, source="employer" if user.role == roles.COUNTY_OFFICER else "community",
        reporter_id=user.id, place_id=place.id, address=rec.address,
        head_name=answers.get("head_name", ""), contact_phone=answers.get("contact_phone") or None,
        reason=rec.reason, answers=answers, reported_at=rec.reported_at or received,
        recorded_at=received, device_id=rec.device_id, content_hash=rec.raw_hash,
        photos_declared=len(rec.photos),
    )
    if id_number:
        c = cipher()
        report.id_enc, report.id_index = c.encrypt(id_number), c.blind_index(id_number)
        report.id_mask = mask_id_number(id_number)
    if rec.location is not None:
        report.lat, report.lon = rec.location.lat, rec.location.lon
        report.accuracy_m = rec.location.accuracy_m
    report.duplicate_candidates = find_duplicates(
        head_name=report.head_name, address=rec.address, id_number=id_number,
        lat=report.lat, lon=report.lon, place=place)
    try:
        with db.session.begin_nested():
            db.session.add(report)
            db.session.flush()  # the report row first: photos refer to it
            for p in rec.photos:
                db.session.add(Photo(id=p.id, discovery_id=rec.id, uploader_id=user.id,
                                     declared_sha256=p.sha256, declared_bytes=p.bytes,
                                     taken_at=p.taken_at, caption=p.caption))
            db.session.flush()
    except IntegrityError:
        existing = db.session.get(DiscoveryReport, rec.id)
        if existing is not None:
            if existing.content_hash != rec.raw_hash:
                return RecordResult(rec.id, "rejected", errors={"id": "conflict"})
            return RecordResult(rec.id, "duplicate", missing_photos=_missing(existing))
        if declared and db.session.scalar(
                sa.select(sa.func.count(Photo.id)).where(Photo.id.in_(declared))):
            return reject({"photos": _("照片编号已被其他记录使用")})
        raise
    flags = ["possible_duplicate"] if report.duplicate_candidates else []
    return RecordResult(rec.id, "created", missing_photos=declared, flags=flags)


def _missing(report: DiscoveryReport) -> list[str]:
    return list(db.session.scalars(sa.select(Photo.id).where(
        Photo.discovery_id == report.id, Photo.stored_at.is_(None)).order_by(Photo.id)))


def communities_for(user: User) -> list[dict[str, str]]:
    """The communities a reporter may file a report in (the form's and the sync API's list)."""
    rows = db.session.scalars(
        sa.select(Place).where(Place.level == "community", place_clause(user))
        .order_by(Place.code).limit(500)
    )
    return [{"id": str(p.id), "name": p.name} for p in rows]

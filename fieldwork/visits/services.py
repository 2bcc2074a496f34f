"""Recording a visit: one service for the visit page and the sync API's push."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from fieldwork.access import roles
from fieldwork.access.scope import current_assignment_clause
from fieldwork.access.validity import is_valid_visit, valid_visit_clause
from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import CHANGE_STATE_LABELS, RELATION_LABELS
from fieldwork.households.models import Assignment, Household, HouseholdChange, ReviewDecision
from fieldwork.photos import signals as photo_signals
from fieldwork.photos.models import Photo
from fieldwork.photos.services import reused_elsewhere
from fieldwork.places.coords import distance_m, normalize_crs, to_wgs84
from fieldwork.places.services import Policy, policy_for_county
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
from fieldwork.timeutil import local, month_key, now_utc
from fieldwork.visits import form
from fieldwork.visits.flags import FLAG_LABELS, explain
from fieldwork.visits.models import Visit

MAX_NOTES = 2000
# The review step of a flagged visit (ReviewDecision.step); supervision.review decides it.
REVIEW_STEP = "visit_review"
# A fix this good may become the household's proposed reference point.
PROPOSAL_ACCURACY_M = 50
# How far in the future visited_at may be before the record is refused outright.
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_AGE = timedelta(days=400)


@dataclass(frozen=True)
class VisitRecord:
    id: str
    household_id: int
    visited_at: datetime
    location: LocationFix | None
    answers: dict[str, Any]
    notes: str
    photos: list[PhotoDecl]
    supersedes: str | None
    device_id: str | None
    device_time: datetime | None
    raw_hash: str


def parse_visit_record(raw: Any, *, device_id: str | None = None,
                       device_time: datetime | None = None) -> VisitRecord:
    """Check the shape of a visit record; raises RecordError({field: message})."""
    if not isinstance(raw, dict):
        raise RecordError({"record": _("记录格式不正确")})
    errors = value_errors(raw)  # hostile values anywhere, before any field is read
    if errors:
        raise RecordError(errors)
    rid = parse_uuid(raw.get("id"))
    if rid is None:
        errors["id"] = _("记录编号应为 UUID")
    household_id = parse_row_id(raw.get("household_id"))
    if household_id is None:
        errors["household_id"] = _("缺少住户编号")
    visited_at = parse_time_field(raw.get("visited_at"), "visited_at", errors,
                                  _("走访时间格式不正确，应为带时区的 ISO 8601 时间"))
    location = parse_location(raw.get("location"), errors)
    answers = raw.get("answers")
    if not isinstance(answers, dict):
        errors["answers"] = _("缺少调查内容")
        answers = {}
    notes = parse_text(raw.get("notes"), "notes", _("备注"), MAX_NOTES, errors)
    photos = parse_photos(raw.get("photos"), errors)
    supersedes = None
    if raw.get("supersedes") is not None:
        supersedes = parse_uuid(raw.get("supersedes"))
        if supersedes is None:
            errors["supersedes"] = _("被更正记录的编号应为 UUID")
    if errors:
        raise RecordError(errors)
    return VisitRecord(
        # errors is empty, so none of these is None
        id=cast(str, rid), household_id=cast(int, household_id),
        visited_at=cast(datetime, visited_at), location=location,
        answers=answers, notes=notes, photos=photos, supersedes=supersedes,
        device_id=device_id, device_time=device_time, raw_hash=content_hash(raw),
    )


class VisitBatch:
    """What recording a batch of visits needs from the database, read once for the whole
    push (a handful of queries) instead of once per record."""

    def __init__(self, user: User, records: list[VisitRecord]) -> None:
        ids = {r.id for r in records} | {r.supersedes for r in records if r.supersedes}
        household_ids = {r.household_id for r in records}
        self.visits: dict[str, Visit] = {v.id: v for v in db.session.scalars(
            sa.select(Visit).where(Visit.id.in_(ids)))} if ids else {}
        self.households: dict[int, Household] = {h.id: h for h in db.session.scalars(
            sa.select(Household).where(Household.id.in_(household_ids))
            .options(selectinload(Household.plan), selectinload(Household.members)))}
        # 'current' if the helper is assigned now, 'former' if they were once, else 'never'.
        self.assignment: dict[int, str] = {}
        for hid, now in db.session.execute(
            sa.select(Assignment.household_id, current_assignment_clause().label("now"))
            .where(Assignment.helper_id == user.id, Assignment.household_id.in_(household_ids))
        ):
            if now or self.assignment.get(hid) != "current":
                self.assignment[hid] = "current" if now else "former"
        declared = [p.id for r in records for p in r.photos]
        self.taken_photos: set[str] = set(db.session.scalars(
            sa.select(Photo.id).where(Photo.id.in_(declared)))) if declared else set()
        # The latest visit whose answers are in each household's file.
        self.latest: dict[int, datetime] = dict(db.session.execute(
            sa.select(Visit.household_id, sa.func.max(Visit.visited_at))
            .where(Visit.household_id.in_(household_ids), in_file_clause())
            .group_by(Visit.household_id)).all())
        self._policies: dict[int, Policy] = {}

    def policy(self, county_id: int) -> Policy:
        if county_id not in self._policies:
            self._policies[county_id] = policy_for_county(county_id)
        return self._policies[county_id]


def _existing_result(visit: Visit, raw_hash: str) -> RecordResult:
    if visit.content_hash != raw_hash:
        return RecordResult(visit.id, "rejected", errors={"id": "conflict"})
    return RecordResult(visit.id, "duplicate", missing_photos=missing_photos(visit),
                        flags=list(visit.flags))


def missing_photos(visit: Visit) -> list[str]:
    return list(db.session.scalars(
        sa.select(Photo.id).where(Photo.visit_id == visit.id, Photo.stored_at.is_(None))
        .order_by(Photo.created_at, Photo.id)
    ))


def compute_flags(visit: Visit, household: Household, policy: Policy, *,
                  received_at: datetime, device_time: datetime | None,
                  after_reassignment: bool, reused: bool = False) -> list[str]:
    flags: list[str] = []
    if visit.lat is None:
        flags.append("no_location")
    else:
        if visit.accuracy_m is not None and visit.accuracy_m > policy.poor_accuracy_m:
            flags.append("poor_accuracy")
        if visit.distance_m is not None and \
                visit.distance_m > policy.geofence_m + (visit.accuracy_m or 0):
            flags.append("far_from_household")
    if visit.photos_declared == 0:
        flags.append("no_photo")
    if reused:
        flags.append("photo_reused")
    if received_at - visit.visited_at > timedelta(hours=policy.late_entry_hours):
        flags.append("late_entry")
    if device_time is not None and \
            abs(device_time - received_at) > timedelta(minutes=policy.clock_skew_minutes):
        flags.append("clock_skew")
    if after_reassignment:
        flags.append("after_reassignment")
    return flags


def set_flags(visit: Visit, flags: list[str]) -> None:
    visit.flags = flags
    visit.flag_count = len(flags)


# What an upper layer does with a visit just stored, in the same savepoint (the sync API
# proposes the member changes it reports: households.visit_changes). A FormError it raises
# rejects the record with its messages and stores nothing.
OnCreated = Callable[[Visit, Household], object]


def record_visit(user: User, rec: VisitRecord, *, now: datetime | None = None,
                 batch: VisitBatch | None = None,
                 on_created: OnCreated | None = None) -> RecordResult:
    """Validate and store one visit with its photo declarations, inside a savepoint.

    Safe to repeat: the same id and content answers `duplicate`; the same id with other
    content is `rejected` with errors {"id": "conflict"}. `on_created` runs only for a
    visit stored now, never for a repeat: what it does happens exactly once. The caller
    commits.
    """
    received = now or now_utc()
    batch = batch or VisitBatch(user, [rec])
    existing = batch.visits.get(rec.id)
    if existing is not None:
        return _existing_result(existing, rec.raw_hash)

    def reject(errors: dict[str, str]) -> RecordResult:
        return RecordResult(rec.id, "rejected", errors=errors)

    if user.role != roles.HELPER:
        return reject({"type": _("只有帮扶责任人可以登记走访")})
    household = batch.households.get(rec.household_id)
    state = batch.assignment.get(rec.household_id, "never") if household else "never"
    if household is None or state == "never":
        return reject({"household_id": _("该户不在您的帮扶名单中")})
    if rec.visited_at > received + FUTURE_TOLERANCE:
        return reject({"visited_at": _("走访时间晚于当前时间，请检查手机的日期和时间")})
    if rec.visited_at < received - MAX_AGE:
        return reject({"visited_at": _("走访时间过早，无法登记一年以前的走访")})

    measure_ids = {pm.measure_id for pm in household.plan}
    answers, errors = form.validate_answers(
        rec.answers, measure_ids, members={m.id: m for m in household.members},
        on=local(rec.visited_at).date())
    if errors:
        return reject({f"answers.{k}": v for k, v in errors.items()})

    declared_ids = [p.id for p in rec.photos]
    if batch.taken_photos.intersection(declared_ids):
        return reject({"photos": _("照片编号已被其他记录使用")})

    old = None
    if rec.supersedes:
        old = batch.visits.get(rec.supersedes)
        if old is not None and (old.helper_id != user.id or old.household_id != household.id):
            return reject({"supersedes": _("只能更正本人对同一户的走访记录")})

    policy = batch.policy(household.county_id)
    income = Decimal(str(answers["household_income"]))
    visit = Visit(
        id=rec.id, household_id=household.id, helper_id=user.id, visited_at=rec.visited_at,
        month=month_key(rec.visited_at), recorded_at=received, device_id=rec.device_id,
        device_time=rec.device_time, form_version=form.VERSION, answers=answers,
        notes=rec.notes, household_income=income,
        per_capita_income=per_capita(income, max(household.members_count, 1)),
        supersedes_id=rec.supersedes, content_hash=rec.raw_hash,
        photos_declared=len(rec.photos), photos_stored=0,
    )
    if rec.location is not None:
        loc = rec.location
        visit.lat, visit.lon, visit.accuracy_m = loc.lat, loc.lon, loc.accuracy_m
        visit.location_captured_at, visit.location_source = loc.captured_at, loc.source
        if household.has_reference:
            visit.distance_m = round(distance_m(loc.lat, loc.lon, cast(float, household.ref_lat),
                                                cast(float, household.ref_lon)), 1)
    set_flags(visit, compute_flags(
        visit, household, policy, received_at=received, device_time=rec.device_time,
        after_reassignment=state == "former",
    ))
    try:
        with db.session.begin_nested():
            db.session.add(visit)
            # Photo has no relationship() to Visit, so the unit of work does not know to
            # insert the visit first; PostgreSQL checks the foreign key at once.
            db.session.flush()
            for p in rec.photos:
                db.session.add(Photo(
                    id=p.id, visit_id=visit.id, household_id=household.id, uploader_id=user.id,
                    declared_sha256=p.sha256, declared_bytes=p.bytes, taken_at=p.taken_at,
                    caption=p.caption,
                ))
            db.session.flush()
            if on_created is not None:
                on_created(visit, household)
                db.session.flush()
    except FormError as exc:
        return reject({f"answers.{k}" if k.startswith("member_changes") else k: str(v)
                       for k, v in exc.errors.items()})
    except IntegrityError:
        # Another request stored this id between our look-up and insert.
        existing = db.session.get(Visit, rec.id)
        if existing is not None:
            return _existing_result(existing, rec.raw_hash)
        if declared_ids and db.session.scalar(
            sa.select(sa.func.count(Photo.id)).where(Photo.id.in_(declared_ids))
        ):
            return reject({"photos": _("照片编号已被其他记录使用")})
        raise

    if old is not None:
        old.superseded = True
    latest = _update_household(household, visit, batch.latest.get(household.id))
    batch.visits[visit.id] = visit
    batch.taken_photos.update(declared_ids)
    if in_file(visit):
        latest = max(visit.visited_at, latest or visit.visited_at)
    if latest is not None:
        batch.latest[household.id] = latest
    else:
        batch.latest.pop(household.id, None)
    return RecordResult(visit.id, "created", missing_photos=declared_ids,
                        flags=list(visit.flags))


def in_file_clause() -> sa.ColumnElement[bool]:
    """Visits whose answers the household's file takes (income, a proposed reference point):
    valid (not rejected, not superseded) and, if flagged, accepted in review. A doubtful
    visit -- say, from a helper who no longer holds the household -- changes nothing in the
    file until a reviewer accepts it."""
    return sa.and_(valid_visit_clause(),
                   sa.or_(Visit.flag_count == 0, Visit.review_status == "accepted"))


def in_file(visit: Visit) -> bool:
    """The same rule for one visit in memory."""
    return is_valid_visit(visit) and (not visit.flag_count or visit.review_status == "accepted")


def _update_household(household: Household, visit: Visit,
                      latest: datetime | None) -> datetime | None:
    """Keep the file current: latest income, and a proposed reference point if none.
    `latest`: the latest visit in the file before this one (in_file_clause).
    Returns the latest visit time in the file other than this visit."""
    if visit.supersedes_id:
        # The superseded visit may have been the one the file showed.
        refile_household(household)
        latest = db.session.scalar(
            sa.select(sa.func.max(Visit.visited_at)).where(
                Visit.household_id == household.id, Visit.id != visit.id, in_file_clause()))
    if in_file(visit):
        if latest is None or visit.visited_at >= latest:
            household.per_capita_income = per_capita(visit.household_income,
                                                     household.members_count)
        _propose_reference(household, visit)
    # Bumped even for a flagged visit: it still counts as this month's visit on the phone.
    household.version += 1
    return latest


def _propose_reference(household: Household, visit: Visit) -> bool:
    if (not household.has_reference and household.proposed_lat is None
            and visit.lat is not None and visit.accuracy_m is not None
            and visit.accuracy_m <= PROPOSAL_ACCURACY_M):
        household.proposed_lat, household.proposed_lon = visit.lat, visit.lon
        household.proposed_visit_id = visit.id
        return True
    return False


def refile_household(household: Household, accepted: Visit | None = None) -> None:
    """Bring the file back in line with its visits after one entered or left it (a review
    decision, a late flag, a correction): the income of the latest visit in the file (kept
    as it is when no visit is in the file), and a reference point proposed only by a visit
    in the file. `accepted`: a visit just accepted in review, which may now propose one."""
    changed = refresh_per_capita(household)
    if household.proposed_visit_id is not None and not household.has_reference:
        source = db.session.get(Visit, household.proposed_visit_id)
        if source is None or not in_file(source):
            household.proposed_lat = household.proposed_lon = None
            household.proposed_visit_id = None
            changed = True
    if accepted is not None and in_file(accepted):
        changed = _propose_reference(household, accepted) or changed
    if changed:
        household.version += 1


def per_capita(income: Decimal | None, members: int) -> Decimal | None:
    """家庭人均月收入: the household's monthly income over its current members, rounded
    四舍五入 to the fen as a civil servant computes it (not banker's rounding). The one
    computation: a visit, the file and every member change use it."""
    if income is None or members < 1:
        return None
    return (income / members).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def accepted_income(household: Household) -> Decimal | None:
    """The latest accepted household income: that of the latest visit in the file, or
    before any, the one recorded at intake (None when neither is known)."""
    income = db.session.scalar(
        sa.select(Visit.household_income).where(Visit.household_id == household.id,
                                                in_file_clause())
        .order_by(Visit.visited_at.desc(), Visit.recorded_at.desc(), Visit.id.desc())
        .limit(1))
    return income if income is not None else household.intake_income


def refresh_per_capita(household: Household) -> bool:
    """Recompute the file's per-capita income from the accepted income and the current
    members (after a visit entered or left the file, or a member joined or left). Kept as
    it is when no income is known. Returns whether it changed."""
    value = per_capita(accepted_income(household), household.members_count)
    if value is None or value == household.per_capita_income:
        return False
    household.per_capita_income = value
    return True


def photo_stored(photo: Photo, **_: Any) -> None:
    """A declared photo's bytes arrived: count it, mark its household changed for the pull and
    look for re-use elsewhere. The receiver of photos' `photo_stored` signal, sent for every
    upload (the sync API)."""
    if photo.visit_id is None:
        if photo.discovery_id is not None:
            report = db.session.get(DiscoveryReport, photo.discovery_id)
            if report is not None:
                report.photos_stored += 1
        return
    visit = db.session.get(Visit, photo.visit_id)
    if visit is None:
        return
    visit.photos_stored = (visit.photos_stored or 0) + 1
    # The household page on the phone shows the visit's stored photos (the pull's
    # recent_visits): a photo that arrives after the phone's last pull is a change of the
    # household for the next one (offline_sync/services.py: pull compares updated_at).
    visit.household.version += 1
    if "photo_reused" not in visit.flags and reused_elsewhere(photo):
        was_in_file = in_file(visit)
        set_flags(visit, [*visit.flags, "photo_reused"])
        if was_in_file and not in_file(visit):
            # Now doubtful: its answers leave the file until a reviewer accepts it.
            refile_household(visit.household)


# The photo store lies below visits: it announces a stored photo, visits reacts.
photo_signals.photo_stored.connect(photo_stored)


def flag_details(visit: Visit) -> list[dict[str, str]]:
    policy = policy_for_county(visit.household.county_id)
    return [{"code": f, "label": str(FLAG_LABELS.get(f, f)), "reason": explain(f, visit, policy)}
            for f in visit.flags]


def confirm_reference(household: Household, officer: User, *, lat: float, lon: float,
                      source: str, crs: str = "wgs84") -> None:
    """Set the household's reference point (stored in WGS-84) and audit it."""
    crs = normalize_crs(crs)  # "GCJ-02", "gcj" -> "gcj02": the page compares the code
    wlat, wlon = to_wgs84(lat, lon, crs)
    household.ref_lat, household.ref_lon = round(wlat, 7), round(wlon, 7)
    household.ref_source, household.ref_source_crs = source, crs
    household.ref_confirmed = True
    household.ref_updated_at = now_utc()
    household.proposed_lat = household.proposed_lon = None
    household.proposed_visit_id = None
    household.version += 1
    audit.record("household.reference", target_type="household", target_id=household.id,
                 place_id=household.county_id, user=officer, source=source, crs=crs)


def record_complete(photo: Photo | None) -> bool:
    """True when every photo declared by the photo's record is stored."""
    if photo is None:
        return False
    owner = Photo.visit_id == photo.visit_id if photo.visit_id else \
        Photo.discovery_id == photo.discovery_id
    return not db.session.scalar(
        sa.select(sa.func.count(Photo.id)).where(owner, Photo.stored_at.is_(None)))


def decisions_for(visit_id: str) -> list[ReviewDecision]:
    """Every review decision on the visit, oldest first (for the visit and review pages)."""
    return list(db.session.scalars(
        sa.select(ReviewDecision)
        .where(ReviewDecision.visit_id == visit_id, ReviewDecision.step == REVIEW_STEP)
        .order_by(ReviewDecision.decided_at, ReviewDecision.id)))


def member_change_rows(visit: Visit) -> list[dict[str, str]]:
    """The member changes the visit reported, as the visit page lists them: what (出生 / 死亡
    / 迁出 / 迁入), who, when, and the state of the change it proposed to the file (待确认,
    已生效, 未通过; none when the office had recorded it first)."""
    entries = (visit.answers or {}).get("member_changes") or []
    if not entries:
        return []
    states: dict[tuple[Any, ...], str] = {}
    for c in db.session.scalars(sa.select(HouseholdChange).where(
            HouseholdChange.visit_id == visit.id)):
        done = ("leave", c.member_id) if c.member_id is not None and c.kind != "member_add" \
            else ("add", c.after.get("name"), c.after.get("birth_date"))
        states[done] = str(CHANGE_STATE_LABELS.get(c.state, c.state))
    rows = []
    for e in entries:
        if "member_id" in e:
            key: tuple[Any, ...] = ("leave", e["member_id"])
            who, day = e.get("member_name", ""), e.get("date", "")
        else:
            key = ("add", e.get("name"), e.get("birth_date"))
            relation = str(RELATION_LABELS.get(e.get("relation", ""), e.get("relation", "")))
            who = f"{e.get('name', '')}（{relation}）"
            day = e.get("date") or e.get("birth_date") or ""
        rows.append({"kind": str(form.MEMBER_CHANGE_LABELS.get(e.get("kind"), "")), "who": who,
                     "date": day, "note": e.get("note", ""), "state": states.get(key, "")})
    return rows

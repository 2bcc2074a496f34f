"""Pull, push and status (SYNC-PROTOCOL.md), on top of the same services as the pages."""

from __future__ import annotations

import secrets
from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from fieldwork.access.roles import REPORTERS
from fieldwork.access.scope import household_clause
from fieldwork.accounts.models import User
from fieldwork.discovery import form as discovery_form
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.discovery.services import (
    DiscoveryRecord,
    communities_for,
    parse_discovery_record,
    record_discovery,
)
from fieldwork.extensions import db
from fieldwork.households import services as registry
from fieldwork.households.changes import kind_label, pending_for
from fieldwork.households.constants import (
    CATEGORY_LABELS,
    CAUSE_LABELS,
    DISABILITY_LABELS,
    EMPLOYMENT_LABELS,
    ILLNESS_LABELS,
    LEAVE_REASON_LABELS,
    LOCATION_SOURCE_LABELS,
    RELATION_LABELS,
    SCHOOLING_LABELS,
    STATUS_LABELS,
    VISITED_STATUSES,
)
from fieldwork.households.members import ADD_KIND, LEAVE_KIND, Row, roster
from fieldwork.households.models import Household, HouseholdChange, PlanMeasure
from fieldwork.households.visit_changes import propose_from_visit
from fieldwork.photos.models import Photo
from fieldwork.places.models import PolicySettings
from fieldwork.places.services import policy_for_county
from fieldwork.places.standards import dibao_standard
from fieldwork.privacy.idnumber import mask_phone
from fieldwork.records import RecordError, RecordResult, text_problem, time_problem
from fieldwork.timeutil import add_months, current_month, now_utc, today_local
from fieldwork.visits import form as visit_form
from fieldwork.visits.flags import FLAG_LABELS
from fieldwork.visits.models import Visit
from fieldwork.visits.services import (
    VisitBatch,
    VisitRecord,
    parse_visit_record,
    record_visit,
)
from offline_sync.models import Device, SyncCursor

MAX_RECORDS = 100
# Transactions commit out of order: re-send what changed shortly before the last cursor.
CURSOR_OVERLAP = timedelta(minutes=5)
CURSOR_TTL = timedelta(days=45)
KEEP_CURSORS = 5


def settings_json(user: User) -> dict[str, Any]:
    county_id = user.place.county_id() if user.place.level not in ("city", "county") else (
        user.place_id if user.place.level == "county" else None)
    policy = policy_for_county(county_id)
    standard = dibao_standard(county_id, today_local()) if county_id else None
    return {
        "geofence_m": policy.geofence_m,
        "max_photo_px": policy.max_photo_px,
        "visits_per_month": policy.visits_per_month,
        "poor_accuracy_m": policy.poor_accuracy_m,
        "gps_timeout_s": 20,
        "max_records_per_push": MAX_RECORDS,
        "max_photo_bytes": current_app.config.get("PHOTO_MAX_BYTES", 15 * 1024 * 1024),
        "income_target": policy.income_target,
        "dibao_standard": float(standard) if standard is not None else None,
        "timezone": "Asia/Shanghai",
    }


def _scope_ids(user: User) -> list[int]:
    return sorted(db.session.scalars(
        sa.select(Household.id).where(household_clause(user),
                                      Household.status.in_(_pulled_statuses(user)))
    ))


def _pulled_statuses(user: User) -> tuple[str, ...]:
    # A helper's phone holds the households it visits; others also see those under review.
    if user.role == "helper":
        return VISITED_STATUSES
    return ("reported", "reviewing", "publicity", "enrolled", "watch")


RECENT_VISITS = 6


def _recent_visits(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The last RECENT_VISITS visits of each household, as the household page lists them."""
    rank = sa.func.row_number().over(partition_by=Visit.household_id,
                                     order_by=(Visit.visited_at.desc(), Visit.id)).label("rank")
    ranked = sa.select(Visit.id, rank).where(Visit.household_id.in_(ids)).subquery()
    visits = list(db.session.scalars(
        sa.select(Visit).join(ranked, ranked.c.id == Visit.id)
        .where(ranked.c.rank <= RECENT_VISITS).order_by(Visit.visited_at.desc(), Visit.id)
    ))
    thumbs: dict[str, list[str]] = defaultdict(list)
    if visits:
        for photo_id, visit_id in db.session.execute(
            sa.select(Photo.id, Photo.visit_id).where(
                Photo.visit_id.in_([v.id for v in visits]), Photo.stored_at.is_not(None))
            .order_by(Photo.created_at, Photo.id)
        ):
            thumbs[str(visit_id)].append(str(photo_id))
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for v in visits:
        out[v.household_id].append({
            "id": v.id,
            "visited_at": v.visited_at.isoformat(),
            "helper_name": v.helper.name,
            "distance_m": round(v.distance_m) if v.distance_m is not None else None,
            "review_status": v.review_status,
            "superseded": v.superseded,
            "flags": [{"code": f, "label": str(FLAG_LABELS.get(f, f))} for f in v.flags],
            "photo_ids": thumbs.get(v.id, [])[:4],
        })
    return out


GENDER_LABELS = {"male": _l("男"), "female": _l("女")}


def _member_json(row: Row) -> dict[str, Any]:
    """A current member as the phone's household page and visit form show it: labels in the
    user's language, age instead of the birth date, and no ID digits at all (not even masked:
    the security audit of issue 11 took them off the phones)."""
    m = row.member
    disability = ""
    if m.disability_kind:
        grade = _("%(n)d级", n=m.disability_grade) if m.disability_grade else ""
        disability = f"{DISABILITY_LABELS.get(m.disability_kind, m.disability_kind)}{grade}"
    schooling = str(SCHOOLING_LABELS.get(m.schooling_stage, "")) if m.schooling_stage else ""
    flags = []
    if row.elderly:
        flags.append({"code": "elderly", "label": _("65岁以上")})
    if row.screening:
        flags.append({"code": "screening", "label": _("两癌筛查对象")})
    return {
        "id": m.id,
        "name": m.name,
        "relation": str(RELATION_LABELS.get(m.relation, m.relation)),
        "relation_code": m.relation,
        "gender": str(GENDER_LABELS[m.gender]) if m.gender in GENDER_LABELS else "",
        "age": row.age,
        "health": str(ILLNESS_LABELS.get(m.illness, "")) if m.illness else "",
        "disability": disability,
        "schooling": schooling,
        "boarding": bool(m.boarding and m.schooling_stage),
        "employment": str(EMPLOYMENT_LABELS.get(m.employment_status, ""))
        if m.employment_status else "",
        "flags": flags,
    }


def _pending_json(h: Household, pending: list[HouseholdChange]) -> list[dict[str, Any]]:
    """Member changes waiting for the street office (待确认), e.g. those a visit reported."""
    names = {m.id: m.name for m in h.members}
    out = []
    for c in pending:
        if c.kind == ADD_KIND:
            name, day = c.after.get("name", ""), c.after.get("joined_on")
        elif c.kind == LEAVE_KIND:
            name, day = names.get(c.member_id or 0, ""), c.after.get("left_on")
        else:
            continue
        out.append({"kind": c.kind, "label": kind_label(c.kind),
                    "reason": str(LEAVE_REASON_LABELS.get(c.after.get("left_reason", ""), ""))
                    if c.kind == LEAVE_KIND else "",
                    "name": name, "date": day, "visit_id": c.visit_id})
    return out


def _file_json(h: Household, today: date) -> dict[str, Any]:
    """What the household page shows beyond the list: current members, helpers, reference
    point. Not even the masked ID numbers (their last digits) go to the phone: a lost phone
    holds none."""
    return {
        "phone_mask": mask_phone(h.phone) if h.phone else None,
        "status_label": str(STATUS_LABELS.get(h.status, h.status)),
        "causes": [str(CAUSE_LABELS.get(c, c)) for c in h.causes or []],
        "members": [_member_json(row) for row in roster(h, today)[0]],
        "assignments": [{
            "helper_name": a.helper.name, "start_date": a.start_date.isoformat(),
            "end_date": a.end_date.isoformat() if a.end_date else None, "reason": a.reason,
        } for a in reversed(h.assignments)],
        "reference": {
            "lat": h.ref_lat, "lon": h.ref_lon,
            "source": str(LOCATION_SOURCE_LABELS.get(h.ref_source or "", h.ref_source or "")),
            "source_crs": h.ref_source_crs,
        } if h.has_reference else None,
        "proposed_location": {"lat": h.proposed_lat, "lon": h.proposed_lon}
        if h.proposed_lat is not None else None,
    }


def households_json(ids: list[int], *, file_pages: bool) -> list[dict[str, Any]]:
    """The pull shape of each household: everything the phone needs offline, no ID numbers.
    file_pages adds what the helper's household page shows (members, helpers, reference point,
    recent visits): only a helper's phone draws that page; a reporter's phone holds households
    for the duplicate check alone, so it gets the list fields."""
    if not ids:
        return []
    out: list[dict[str, Any]] = []
    month = current_month()
    today = today_local()
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start:chunk_start + 500]
        query = sa.select(Household).where(Household.id.in_(chunk)).order_by(Household.id)
        if file_pages:  # one query each for members and helpers, not two per household
            query = query.options(selectinload(Household.members),
                                  selectinload(Household.assignments))
        households = db.session.scalars(query).unique().all()
        counts = registry.visit_counts(chunk, [month, add_months(month, -1)])
        latest = registry.latest_visits(chunk)
        measures: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for pm in db.session.scalars(
            sa.select(PlanMeasure).where(PlanMeasure.household_id.in_(chunk))
        ):
            if pm.in_force(today):
                measures[pm.household_id].append({
                    "id": pm.measure_id, "name": pm.measure.name, "area": pm.measure.area,
                    "amount": float(pm.amount) if pm.amount is not None else None,
                    "unit": pm.measure.unit, "department": pm.measure.department,
                    "start_date": pm.start_date.isoformat(),
                    "end_date": pm.end_date.isoformat() if pm.end_date else None})
        recent = _recent_visits(chunk) if file_pages else {}
        waiting = pending_for(chunk) if file_pages else {}
        required: dict[int, int] = {}
        for h in households:
            if h.county_id not in required:
                required[h.county_id] = policy_for_county(h.county_id).visits_per_month
            state = registry.month_state(counts, h.id, month, required[h.county_id],
                                         h.enrolled_on)
            last = latest.get(h.id)
            out.append({
                "id": str(h.id),
                "version": h.version,
                "file_no": h.file_no,
                "head_name": h.head_name,
                "address": h.address,
                "region": {"id": str(h.place_id), "name": h.place.name},
                "location": {"lat": h.ref_lat, "lon": h.ref_lon} if h.has_reference else None,
                "status": h.status,
                "last_visit_at": last.visited_at.isoformat() if last else None,
                "due_this_month": state.state != registry.VISITED,
                "measures": measures.get(h.id, []),
                "members_count": h.members_count,
                # Extensions for the offline pages.
                "visit_state": state.state,
                # The task list's duty line: valid visits this month of those required.
                "visits_this_month": state.visits,
                "visits_required": state.required,
                "category": h.category,
                "category_label": str(CATEGORY_LABELS.get(h.category, h.category)),
                "open_problems": registry.open_problems(last),
                "per_capita_income": float(h.per_capita_income)
                if h.per_capita_income is not None else None,
            })
            if file_pages:  # the household page (one renderer, online and offline)
                out[-1].update(_file_json(h, today), recent_visits=recent.get(h.id, []),
                               pending_member_changes=_pending_json(h, waiting.get(h.id, [])))
    return out


def pull(user: User, since: str | None) -> dict[str, Any]:
    now = now_utc()
    month = current_month()
    ids = _scope_ids(user)
    cursor = db.session.get(SyncCursor, since) if since else None
    full = (
        cursor is None
        or cursor.user_id != user.id
        or cursor.month != month  # due_this_month changes with the month
        or now - cursor.issued_at > CURSOR_TTL
        or _policy_changed_since(ids, cursor.issued_at)
    )
    if full:
        changed, removed = ids, []
    else:
        cursor = cast(SyncCursor, cursor)  # not full, so there is one
        held = set(cursor.household_ids)
        current = set(ids)
        removed = sorted(held - current)
        fresh = current - held
        since_ = cursor.issued_at - CURSOR_OVERLAP
        recent = set(db.session.scalars(
            sa.select(Household.id).where(
                Household.id.in_(ids), Household.updated_at > since_)
        ))
        changed = sorted(fresh | recent)
    token = secrets.token_urlsafe(32)
    db.session.add(SyncCursor(token=token, user_id=user.id, issued_at=now, month=month,
                              household_ids=ids))
    _prune_cursors(user, now)
    return {
        "cursor": token,
        "server_time": now.isoformat(),
        "full": full,
        "households": households_json(changed, file_pages=user.role == "helper"),
        "removed": [str(i) for i in removed],
        "forms": {"visit": visit_form.definition(), "discovery": discovery_form.definition()},
        "settings": settings_json(user),
        # Extension: communities a reporter may file discoveries in.
        "regions": communities_for(user) if user.role in REPORTERS else [],
    }


def _policy_changed_since(household_ids: list[int], when: datetime) -> bool:
    """A county changed its policy (visits per month, geofence…) since the cursor."""
    counties = sa.select(Household.county_id).where(Household.id.in_(household_ids)).distinct()
    return bool(db.session.scalar(
        sa.select(sa.func.count(PolicySettings.id)).where(
            PolicySettings.updated_at > when, PolicySettings.place_id.in_(counties))
    ))


def _prune_cursors(user: User, now: datetime) -> None:
    keep = db.session.scalars(
        sa.select(SyncCursor.token).where(SyncCursor.user_id == user.id)
        .order_by(SyncCursor.issued_at.desc()).limit(KEEP_CURSORS)
    ).all()
    db.session.execute(sa.delete(SyncCursor).where(
        SyncCursor.user_id == user.id,
        sa.or_(SyncCursor.issued_at < now - CURSOR_TTL, SyncCursor.token.not_in(keep or [""])),
    ))


class PushError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def push(user: User, body: Any, *, user_agent: str = "") -> dict[str, Any]:
    """Store each record on its own (one bad record never fails the others); the caller
    commits once, after which the answer may be sent.

    Only the envelope (device_id, sent_at, records) can fail the request as a whole, with a
    400 naming the field, exactly as /api/openapi.json describes it; anything inside a record
    is answered for that record."""
    if not isinstance(body, dict):
        raise PushError(400, "bad_request", _("请求内容应为 JSON 对象"))
    fields: dict[str, str] = {}
    device_id: Any = body.get("device_id")
    if not isinstance(device_id, str) or not (1 <= len(device_id) <= 64):
        fields["device_id"] = _("缺少设备编号 device_id")
    elif text_problem(device_id):
        fields["device_id"] = text_problem(device_id) or ""
    records: Any = body.get("records")
    if not isinstance(records, list):
        fields["records"] = _("缺少记录列表 records")
    sent_at = None
    if "sent_at" in body:
        sent_at, problem = time_problem(body["sent_at"], strict=True)
        if problem == "format":
            fields["sent_at"] = _("发送时间格式不正确，应为带时区的 ISO 8601 时间")
        # "range": a valid date-time no clock can mean (year 9999); the records still count,
        # only the clock comparison (the clock_skew flag) is impossible.
    if fields:
        if isinstance(device_id, str) and text_problem(device_id):
            raise PushError(400, "bad_text",
                            _("提交的内容含有无法保存的字符（如空字符），请删除后重试"), fields)
        raise PushError(400, "bad_request", next(iter(fields.values())), fields)
    if len(records) > MAX_RECORDS:
        raise PushError(400, "too_many_records",
                        _("每次最多提交 %(n)d 条记录", n=MAX_RECORDS),
                        {"records": _("每次最多提交 %(n)d 条记录", n=MAX_RECORDS)})
    now = now_utc()
    parsed = [_parse_one(raw, device_id, sent_at) for raw in records]
    visits = [p for p in parsed if isinstance(p, VisitRecord)]
    batch = VisitBatch(user, visits) if visits else None
    results = [_record_one(user, raw, p, now, batch).as_json()
               for raw, p in zip(records, parsed, strict=True)]
    _touch_device(user, device_id, user_agent, push=True)
    return {"results": results, "server_time": now.isoformat()}


def _record_id(raw: Any) -> str:
    value = raw.get("id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else ""


def _parse_one(raw: Any, device_id: str,
               sent_at: datetime | None) -> VisitRecord | DiscoveryRecord | RecordResult:
    """A parsed record, or the RecordResult that rejects it."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    try:
        if kind == "visit":
            return parse_visit_record(raw, device_id=device_id, device_time=sent_at)
        if kind == "discovery":
            return parse_discovery_record(raw, device_id=device_id)
    except RecordError as exc:
        return RecordResult(_record_id(raw), "rejected", errors=exc.errors)
    return RecordResult(_record_id(raw), "rejected", errors={"type": _("未知的记录类型")})


def _record_one(user: User, raw: Any, parsed: Any, now: datetime,
                batch: VisitBatch | None) -> RecordResult:
    if isinstance(parsed, RecordResult):
        return parsed
    if isinstance(parsed, VisitRecord):
        return record_visit(user, parsed, now=now, batch=batch,
                            on_created=partial(propose_from_visit, user=user))
    return record_discovery(user, parsed, now=now)


def _touch_device(user: User, device_id: str, user_agent: str, *, push: bool) -> None:
    device = db.session.scalar(sa.select(Device).where(
        Device.device_id == device_id, Device.user_id == user.id))
    if device is None:
        device = Device(device_id=device_id, user_id=user.id, user_agent=user_agent[:200])
        db.session.add(device)
    if push:
        device.last_push_at = now_utc()
    else:
        device.last_pull_at = now_utc()


def status(user: User, device_id: str | None) -> dict[str, Any]:
    """What the server still waits for from this user (and device)."""
    visit_q = sa.select(Visit.id).where(Visit.helper_id == user.id)
    report_q = sa.select(DiscoveryReport.id).where(DiscoveryReport.reporter_id == user.id)
    if device_id:
        visit_q = visit_q.where(Visit.device_id == device_id)
        report_q = report_q.where(DiscoveryReport.device_id == device_id)
    missing = db.session.scalars(
        sa.select(Photo.id).where(
            Photo.uploader_id == user.id, Photo.stored_at.is_(None),
            sa.or_(Photo.visit_id.in_(visit_q), Photo.discovery_id.in_(report_q)),
        ).order_by(Photo.created_at, Photo.id)
    ).all()
    last_push = None
    if device_id:
        device = db.session.scalar(sa.select(Device).where(
            Device.device_id == device_id, Device.user_id == user.id))
        last_push = device.last_push_at if device else None
    else:
        last_push = db.session.scalar(
            sa.select(sa.func.max(Device.last_push_at)).where(Device.user_id == user.id))
    return {
        "missing_photos": list(missing),
        "last_push_at": last_push.isoformat() if last_push else None,
        "server_time": now_utc().isoformat(),
    }



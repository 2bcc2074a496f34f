"""The sync API (SYNC-PROTOCOL.md), version 1."""

from __future__ import annotations

import json
import re

from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf

from fieldwork.access import roles
from fieldwork.access.scope import can_see_place
from fieldwork.audit.services import record as audit
from fieldwork.dbsetup import writes
from fieldwork.discovery.services import find_duplicates
from fieldwork.errors import ApiError
from fieldwork.extensions import db, limiter
from fieldwork.households.intake.reports import scoped_candidates
from fieldwork.photos import services as photos
from fieldwork.places.models import Place
from fieldwork.privacy.idnumber import IdNumberError, mask_id_number, validate_id_number
from fieldwork.records import json_int, parse_location, parse_row_id, parse_uuid
from fieldwork.visits.services import record_complete
from offline_sync import services
from offline_sync.openapi import spec

bp = Blueprint("sync", __name__, url_prefix="/api/sync/v1")
openapi_bp = Blueprint("openapi", __name__)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def user_json(user) -> dict:
    return {
        "id": str(user.id),
        "username": user.username,
        "name": user.name,
        "role": user.role,
        "role_label": user.role_label,
        "place": {"id": str(user.place.id), "code": user.place.code, "name": user.place.name,
                  "level": user.place.level},
        "must_change_password": user.must_change_password,
        "locale": user.locale,
    }


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/session")
@login_required
def session():
    """Who is logged in, and the CSRF token for state-changing requests."""
    return _no_store(jsonify({"user": user_json(current_user), "csrf_token": generate_csrf()}))


@bp.get("/pull")
@login_required
@writes
def pull():
    since = request.args.get("since") or None
    if since is not None and len(since) > 100:
        since = None  # an unknown cursor answers with a full pull, not an error
    device_id = request.args.get("device_id")
    if device_id is not None and len(device_id) > 64:
        raise ApiError(400, "bad_request", _("设备编号过长"), {"device_id": _("设备编号过长")})
    payload = services.pull(current_user, since)
    if device_id:
        services._touch_device(current_user, device_id,
                               (request.user_agent.string or "").replace("\x00", ""),
                               push=False)
    db.session.commit()
    return _no_store(jsonify(payload))


def _json_body():
    limit = current_app.config.get("PUSH_MAX_BYTES", 4 * 1024 * 1024)
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", _("一次提交的内容太大（上限 %(mb)s MB），请分批同步",
                                           mb=limit // 2**20))
    data = request.get_data(cache=False)
    if len(data) > limit:
        raise ApiError(413, "too_large", _("一次提交的内容太大（上限 %(mb)s MB），请分批同步",
                                           mb=limit // 2**20))
    if not request.mimetype == "application/json":
        raise ApiError(400, "bad_request",
                       _("请以 JSON 格式提交（Content-Type: application/json）"))
    try:
        # A number too long for int() becomes a Decimal, refused in its own record.
        return json.loads(data, parse_int=json_int)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, "bad_json", _("提交的内容不是有效的 JSON")) from exc


@bp.post("/push")
@login_required
def push():
    body = _json_body()
    # A header may carry what no column stores (NUL): keep only what can be kept.
    user_agent = (request.user_agent.string or "").replace("\x00", "")
    try:
        result = services.push(current_user, body, user_agent=user_agent)
    except services.PushError as exc:
        db.session.rollback()
        raise ApiError(exc.status, exc.code, exc.message, exc.fields) from exc
    db.session.commit()
    return _no_store(jsonify(result))


@bp.put("/photos/<photo_id>")
@login_required
def put_photo(photo_id: str):
    pid = parse_uuid(photo_id)
    if pid is None:
        raise ApiError(404, "unknown_photo", _("照片编号无效"))
    if request.mimetype not in IMAGE_TYPES:
        raise ApiError(400, "not_image", _("照片格式应为 JPEG、PNG、WEBP 或 HEIC"))
    claimed = request.headers.get("X-Content-SHA256")
    if claimed is None:
        raise ApiError(400, "missing_hash", _("缺少 X-Content-SHA256 校验值"),
                       {"X-Content-SHA256": _("缺少 X-Content-SHA256 校验值")})
    if not SHA256.fullmatch(claimed):
        raise ApiError(400, "bad_hash", _("X-Content-SHA256 应为 64 位十六进制 SHA-256"),
                       {"X-Content-SHA256": _("X-Content-SHA256 应为 64 位十六进制 SHA-256")})
    data = request.get_data(cache=False)
    outcome = photos.upload(pid, data, claimed, current_user.id)
    if outcome.status >= 400:
        db.session.rollback()
        raise ApiError(outcome.status, outcome.code, _(outcome.message))
    db.session.commit()
    response = jsonify({"id": pid, "status": "stored" if outcome.status == 201 else
                        "already_stored", "record_complete": record_complete(outcome.photo)})
    response.status_code = outcome.status
    return _no_store(response)


@bp.get("/status")
@login_required
def status():
    device_id = request.args.get("device_id")
    if device_id is not None and len(device_id) > 64:
        raise ApiError(400, "bad_request", _("设备编号过长"))
    return _no_store(jsonify(services.status(current_user, device_id)))


# Enough for a community worker typing a form, too few to sweep ID numbers or a location grid.
DISCOVERY_CHECK_LIMIT = "30/minute"


def _check_key() -> str:
    user_id = getattr(current_user, "id", None)
    return f"discovery-check:{user_id}" if user_id is not None else \
        f"discovery-check:{request.remote_addr}"


@bp.post("/discovery/check")
@login_required
@limiter.limit(DISCOVERY_CHECK_LIMIT, key_func=_check_key)
def discovery_check():
    """Likely duplicates of a household about to be reported (before it is submitted).

    Only reporting roles may ask. Candidates in the caller's scope come with their details;
    outside it only a same-ID match is told, one entry per county, as "a match exists, ask
    that county's office" (households.intake.reports.scoped_candidates). Every call is audited,
    without the ID number."""
    county_id = current_user.place.county_id() if current_user.place else None

    def audited(outcome: str, **detail) -> None:
        audit("discovery.check", target_type="discovery", place_id=county_id,
              outcome=outcome, **detail)
        db.session.commit()

    if current_user.role not in roles.REPORTERS:
        audited("forbidden")
        raise ApiError(403, "forbidden",
                       _("只有社区(村)工作人员、街道(乡镇)审核人和县级解困办可以核对重复登记"))
    body = _json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", _("请求内容应为 JSON 对象"))
    errors: dict[str, str] = {}
    id_number = None
    if body.get("id_number"):
        try:
            id_number = validate_id_number(str(body["id_number"]))
        except IdNumberError as exc:
            errors["id_number"] = exc.message
    loc = parse_location(body.get("location"), errors)
    place = None
    if body.get("region_id") is not None:
        region_id = parse_row_id(body["region_id"])
        place = db.session.get(Place, region_id) if region_id else None
        if place is None or not can_see_place(current_user, place):
            errors["region_id"] = _("所选社区不在您的辖区内")
    if errors:
        audited("invalid", fields=sorted(errors))
        raise ApiError(422, "invalid", _("提交的内容有误"), errors)
    head_name = str(body.get("head_name") or "")[:64]
    found = find_duplicates(
        head_name=head_name, address=str(body.get("address") or "")[:200],
        id_number=id_number, lat=loc.lat if loc else None, lon=loc.lon if loc else None,
        place=place)
    # Outside the caller's scope a name or a location says nothing the caller needs; an ID
    # number already registered elsewhere must be told, so the family is not entered twice.
    shown = scoped_candidates(current_user, found, outside_reasons=("same_id",))
    inside = [c for c in shown if c["in_scope"]]
    outside = [c for c in shown if not c["in_scope"]]
    audited("ok", id_mask=mask_id_number(id_number) if id_number else None,
            head_name=bool(head_name.strip()), location=loc is not None,
            region_id=place.id if place is not None else None, candidates=len(shown),
            in_scope=len(inside), out_of_scope=len(outside),
            households=[c["household_id"] for c in inside][:50],
            counties=sorted({c["county"] for c in outside}))
    keys = ("household_id", "head_name", "address", "status", "why")
    candidates = [{"in_scope": True, **{k: c[k] for k in keys}} for c in inside] + [
        {"in_scope": False, "reason": c["reason"], "county": c["county"],
         "advice": c["advice"]} for c in outside]
    return _no_store(jsonify({"candidates": candidates}))


@openapi_bp.get("/api/openapi.json")
def openapi():
    return jsonify(spec())

"""The visit form (入户调查表) and the recorded visit."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from fieldwork.access import roles
from fieldwork.access.scope import get_household_or_404, get_visit_or_404
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.formflow import submit
from fieldwork.households.models import Household
from fieldwork.photos import services as photos
from fieldwork.photos.models import CAPTIONS, Photo
from fieldwork.photos.pipeline import PhotoError
from fieldwork.records import RecordError, parse_time, parse_uuid
from fieldwork.timeutil import CST, now_utc, today_local
from fieldwork.visits import form
from fieldwork.visits.services import (
    decisions_for,
    flag_details,
    parse_visit_record,
    photo_stored,
    record_visit,
)

bp = Blueprint("visits", __name__)

CAPTION_LABELS = {"household": _l("家庭成员"), "document": _l("证件材料"),
                  "living": _l("居住条件"), "other": _l("其他")}


def measure_options(household: Household) -> list[dict[str, Any]]:
    today = today_local()
    return [{"value": pm.measure_id, "label": pm.measure.name}
            for pm in household.plan if pm.in_force(today)]


def schema_for(household: Household) -> dict[str, Any]:
    schema = form.definition()
    for f in schema["fields"]:
        if f.get("options_from") == "household.measures":
            f["options"] = measure_options(household)
    return schema


def _answers_from_form(schema: dict[str, Any]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for f in schema["fields"]:
        if f["type"] == "multichoice":
            answers[f["name"]] = request.form.getlist(f["name"])
        elif f["name"] in request.form:
            answers[f["name"]] = request.form.get(f["name"])
    return answers


def _location_from_form() -> dict[str, Any] | None:
    lat, lon = request.form.get("lat", "").strip(), request.form.get("lon", "").strip()
    if not lat or not lon:
        return None
    loc: dict[str, Any] = {"lat": lat, "lon": lon, "source": "gps"}
    if request.form.get("accuracy_m", "").strip():
        loc["accuracy_m"] = request.form["accuracy_m"]
    if request.form.get("location_captured_at", "").strip():
        loc["captured_at"] = request.form["location_captured_at"]
    return loc


def _visited_at_from_form() -> str:
    """The page sends an ISO time with offset; without script, the local field is read as
    Nanyang time; with neither, now."""
    if request.form.get("visited_at", "").strip():
        return request.form["visited_at"].strip()
    local_value = request.form.get("visited_at_local", "").strip()
    if local_value:
        try:
            return datetime.fromisoformat(local_value).replace(tzinfo=CST).isoformat()
        except ValueError:
            return local_value  # parse_visit_record reports it
    return now_utc().isoformat()


def _number_or_text(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


@bp.route("/households/<int:household_id>/visits/new", methods=["GET", "POST"])
@login_required
def new(household_id: int):
    if current_user.role != roles.HELPER:
        abort(404)
    household = get_household_or_404(current_user, household_id)
    if request.method == "GET":
        # The form is drawn on the phone from the synced data (static/js/pages/visit.js).
        return render_template("offline.html", offline_shell=True), 200, \
            {"Cache-Control": "no-cache"}
    schema = schema_for(household)
    # The photo ids derive from the record id, so a garbled one (an old page, a hand-made post)
    # is replaced rather than allowed to break the save.
    record_id = parse_uuid(request.form.get("record_id")) or str(uuid.uuid4())

    def page(errors: dict[str, str], values: dict[str, Any]):
        return render_template(
            "visits/form.html", household=household, schema=schema, errors=errors,
            values=values, record_id=record_id, captions=CAPTIONS,
            caption_labels=CAPTION_LABELS)

    if request.method == "GET":
        return page({}, {})
    values = _answers_from_form(schema)

    def save():
        files = [f for f in request.files.getlist("photo") if f and f.filename]
        captions = request.form.getlist("photo_caption")
        processed = []
        for i, upload in enumerate(files):
            data = upload.read()
            try:
                processed.append((data, photos.process(data)))
            except PhotoError as exc:
                raise FormError.of(_("第 %(n)d 张照片：%(msg)s", n=i + 1, msg=exc.message),
                                   "photo") from exc
        loc = _location_from_form()
        raw: dict[str, Any] = {
            "type": "visit", "id": record_id, "household_id": household.id,
            "visited_at": _visited_at_from_form(),
            "location": {k: _number_or_text(v) if k in ("lat", "lon", "accuracy_m") else v
                         for k, v in loc.items()} if loc else None,
            "answers": values, "notes": request.form.get("notes", ""),
            "photos": [
                {"id": str(uuid.uuid5(uuid.UUID(record_id), str(i))),
                 "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                 "caption": captions[i] if i < len(captions) and captions[i] in CAPTIONS
                 else "household"}
                for i, (data, _p) in enumerate(processed)
            ],
            "supersedes": None,
        }
        device_time = parse_time(request.form.get("device_time"))
        try:
            rec = parse_visit_record(raw, device_id="web", device_time=device_time)
        except RecordError as exc:
            raise FormError(exc.errors) from exc
        result = record_visit(current_user, rec)
        if result.status == "rejected":
            # The sync API's answer for a rejected record, shown on the page's fields.
            errors = {k.removeprefix("answers."): v for k, v in result.errors.items()}
            if result.errors.get("id") == "conflict":
                errors["form"] = _("该表单已提交过，请重新打开走访表")
            raise FormError(errors or {"form": _("提交的内容有误")})
        if result.status == "created":
            for (_data, proc), decl in zip(processed, rec.photos, strict=True):
                photo = db.session.get_one(Photo, decl.id)
                photos.save_processed(photo, proc)
                photo_stored(photo)
        return result

    return submit(save, failed=lambda exc: page(exc.errors, values),
                  to=lambda result: url_for("visits.show", visit_id=result.id),
                  message=_("走访记录已保存"))


@bp.get("/visits/<visit_id>")
@login_required
def show(visit_id: str):
    visit = get_visit_or_404(current_user, visit_id)
    schema = schema_for(visit.household)
    photos_ = db.session.scalars(
        db.select(Photo).where(Photo.visit_id == visit.id).order_by(Photo.created_at, Photo.id)
    ).all()
    return render_template("visits/show.html", visit=visit, schema=schema,
                           photos=photos_, flags=flag_details(visit),
                           caption_labels=CAPTION_LABELS, decisions=decisions_for(visit.id))

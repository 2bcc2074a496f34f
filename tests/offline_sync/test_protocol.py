"""The sync protocol (SYNC-PROTOCOL.md), rule by rule, through the HTTP API."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from fieldwork.households.models import Assignment
from fieldwork.photos.models import Photo
from fieldwork.visits.models import Visit
from tests import factories
from tests.factories import answers, gps, jpeg, upload_photo


def visit_record(household, *, photos=(), **over):
    """A visit to household as its phone sends it: at the household's reference point (no
    location without one), photos as (id, bytes)."""
    location = (gps(household.ref_lat, household.ref_lon) if household.ref_lat is not None
                else None)
    rec = factories.visit_record(str(household.id), photos=photos, location=location,
                                 answers=answers(household_income=1200))
    rec.update(over)
    return rec


def push(client, *records, device_id="phone-1"):
    return client.post("/api/sync/v1/push", json={"device_id": device_id,
                                                  "records": list(records)})


def put_photo(client, pid, data, *, sha=None, mime="image/jpeg"):
    return upload_photo(client, pid, data, content_type=mime, sha256=sha)


@pytest.fixture
def helper(make_user):
    return make_user("helper")


@pytest.fixture
def household(make_household, helper):
    return make_household(helper=helper, ref_lat=32.995, ref_lon=112.541)


@pytest.fixture
def logged_in(client, auth, helper):
    auth.login(helper)
    return client


# ---------------------------------------------------------------- authentication & errors

def test_api_without_session_is_401_json_not_a_redirect(client):
    for method, path in (("get", "/api/sync/v1/pull"), ("post", "/api/sync/v1/push"),
                         ("get", "/api/sync/v1/status"),
                         ("put", f"/api/sync/v1/photos/{uuid.uuid4()}")):
        resp = getattr(client, method)(path)
        assert resp.status_code == 401, path
        assert resp.is_json and resp.json["error"]["code"] == "unauthenticated"
        assert resp.json["error"]["message"]


def test_errors_are_json_with_code_and_message(logged_in):
    resp = logged_in.post("/api/sync/v1/push", data="{not json",
                          content_type="application/json")
    assert resp.status_code == 400
    assert set(resp.json["error"]) >= {"code", "message"}
    assert logged_in.get("/api/sync/v1/nope").json["error"]["code"] == "not_found"


# ---------------------------------------------------------------- pull

def test_first_pull_is_full_and_holds_only_the_users_households(
        logged_in, household, make_household, make_user, world):
    other = make_household(helper=make_user("helper"), head_name="别人家")
    body = logged_in.get("/api/sync/v1/pull").json
    assert body["full"] is True and body["cursor"]
    ids = [h["id"] for h in body["households"]]
    assert ids == [str(household.id)] and str(other.id) not in ids
    h = body["households"][0]
    for key in ("id", "version", "file_no", "head_name", "address", "region", "location",
                "status", "last_visit_at", "due_this_month", "measures", "members_count"):
        assert key in h
    assert h["location"] == {"lat": 32.995, "lon": 112.541}
    assert body["forms"]["visit"]["version"] >= 1
    assert {f["name"] for f in body["forms"]["visit"]["fields"]} >= {"present", "income_status"}
    assert body["settings"]["geofence_m"] == 300
    datetime.fromisoformat(body["server_time"])


def test_pull_never_carries_id_numbers(logged_in, household, db):
    from fieldwork.privacy.idnumber import make_test_id_number
    from fieldwork.privacy.service import protect_id

    number = make_test_id_number("411302", date(1970, 5, 6), 12)
    from fieldwork.households.models import Member

    p = protect_id(number)
    db.session.add(Member(household=household, name=household.head_name, relation="self",
                          id_enc=p.enc, id_index=p.index, id_mask=p.mask))
    db.session.commit()
    raw = logged_in.get("/api/sync/v1/pull").get_data(as_text=True)
    assert number not in raw and number[-4:] + '"' not in raw
    assert not re.search(r"\d{17}[\dX]", raw)
    assert "head_id" not in raw


def test_incremental_pull_sends_changes_and_removals(
        logged_in, household, make_household, helper, db):
    second = make_household(helper=helper)
    first = logged_in.get("/api/sync/v1/pull").json
    # Make the first pull look old so only real changes fall inside the overlap window.
    from offline_sync.models import SyncCursor

    cursor = db.session.get(SyncCursor, first["cursor"])
    cursor.issued_at = datetime.now(UTC) - timedelta(hours=1)
    for h in (household, second):
        h.updated_at = datetime.now(UTC) - timedelta(hours=2)
    from fieldwork.places.models import PolicySettings

    for p in db.session.scalars(sa.select(PolicySettings)):
        p.updated_at = datetime.now(UTC) - timedelta(days=2)
    db.session.commit()
    household.head_name = "改名了"
    household.version += 1
    assignment = db.session.scalar(sa.select(Assignment).where(
        Assignment.household_id == second.id))
    assignment.end_date = date.today() - timedelta(days=2)
    db.session.commit()
    body = logged_in.get(f"/api/sync/v1/pull?since={first['cursor']}").json
    assert body["full"] is False
    assert [h["head_name"] for h in body["households"]] == ["改名了"]
    assert body["removed"] == [str(second.id)]


@pytest.mark.parametrize("cursor", ["bogus", "x" * 300, ""])
def test_unknown_cursor_answers_with_a_full_pull(logged_in, household, cursor):
    body = logged_in.get(f"/api/sync/v1/pull?since={cursor}").json
    assert body["full"] is True and len(body["households"]) == 1


def test_another_users_cursor_gives_a_full_pull(client, auth, household, make_user, helper):
    auth.login(helper)
    cursor = client.get("/api/sync/v1/pull").json["cursor"]
    auth.logout()
    other = make_user("helper")
    auth.login(other)
    body = client.get(f"/api/sync/v1/pull?since={cursor}").json
    assert body["full"] is True and body["households"] == []


# ---------------------------------------------------------------- push

def test_push_creates_then_repeats_safely(logged_in, household, db):
    rec = visit_record(household)
    first = push(logged_in, rec).json["results"][0]
    assert first == {"id": rec["id"], "status": "created", "missing_photos": [], "flags":
                     ["no_photo"]}
    again = push(logged_in, rec).json["results"][0]
    assert again["status"] == "duplicate"
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 1


def test_same_id_with_different_content_is_a_conflict(logged_in, household, db):
    rec = visit_record(household)
    push(logged_in, rec)
    changed = dict(rec, notes="改了内容")
    result = push(logged_in, changed).json["results"][0]
    assert result["status"] == "rejected" and result["errors"] == {"id": "conflict"}
    assert db.session.get(Visit, rec["id"]).notes == ""


def test_one_bad_record_never_fails_the_others(logged_in, household, db):
    good, bad = visit_record(household), visit_record(household, answers={"present": ""})
    weird = {"type": "unknown", "id": str(uuid.uuid4())}
    results = push(logged_in, good, bad, weird, "not even a dict").json["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "rejected"]
    assert "answers.income_status" in results[1]["errors"]
    assert results[2]["errors"]["type"]
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 1


def test_rejected_messages_are_chinese(logged_in, household):
    rec = visit_record(household, visited_at="2026-11-20 15:04")
    errors = push(logged_in, rec).json["results"][0]["errors"]
    assert "visited_at" in errors and re.search(r"[\u4e00-\u9fff]", errors["visited_at"])


def test_more_than_100_records_is_refused_whole(logged_in, household, db):
    records = [visit_record(household) for _ in range(101)]
    resp = push(logged_in, *records)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "too_many_records"
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 0


def test_oversized_push_is_413_and_stores_nothing(app, logged_in, household, db):
    app.config["PUSH_MAX_BYTES"] = 50_000
    rec = visit_record(household, notes="长" * 1900)
    resp = push(logged_in, *[dict(rec, id=str(uuid.uuid4())) for _ in range(20)])
    assert resp.status_code == 413 and re.search(r"[\u4e00-\u9fff]",
                                                 resp.json["error"]["message"])
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 0


def test_push_must_be_json(logged_in, household):
    resp = logged_in.post("/api/sync/v1/push", data={"device_id": "x"})
    assert resp.status_code == 400 and resp.is_json


def test_missing_photos_and_status_until_uploaded(logged_in, household, db):
    data = jpeg()
    pid = str(uuid.uuid4())
    rec = visit_record(household, photos=[(pid, data)])
    result = push(logged_in, rec, device_id="dev-a").json["results"][0]
    assert result["missing_photos"] == [pid] and "no_photo" not in result["flags"]
    assert logged_in.get("/api/sync/v1/status?device_id=dev-a").json["missing_photos"] == [pid]
    assert put_photo(logged_in, pid, data).status_code == 201
    status = logged_in.get("/api/sync/v1/status?device_id=dev-a").json
    assert status["missing_photos"] == [] and status["last_push_at"]
    # A repeat of the record now reports nothing missing.
    assert push(logged_in, rec, device_id="dev-a").json["results"][0]["missing_photos"] == []


def test_visit_by_a_helper_since_reassigned_is_accepted_and_flagged(
        logged_in, household, helper, make_user, db):
    assignment = db.session.scalar(sa.select(Assignment).where(
        Assignment.household_id == household.id))
    assignment.end_date = date.today() - timedelta(days=1)
    db.session.add(Assignment(household=household, helper=make_user("helper"),
                              start_date=date.today()))
    db.session.commit()
    result = push(logged_in, visit_record(household)).json["results"][0]
    assert result["status"] == "created" and "after_reassignment" in result["flags"]


def test_household_of_another_helper_is_rejected(logged_in, make_household, make_user):
    other = make_household(helper=make_user("helper"))
    result = push(logged_in, visit_record(other)).json["results"][0]
    assert result["status"] == "rejected" and "household_id" in result["errors"]


def test_supersedes_replaces_the_old_visit(logged_in, household, db):
    old = visit_record(household)
    push(logged_in, old)
    new = visit_record(household, supersedes=old["id"], answers=answers(household_income=900))
    assert push(logged_in, new).json["results"][0]["status"] == "created"
    assert db.session.get(Visit, old["id"]).superseded is True


def test_discovery_record_from_a_community_worker(client, auth, make_user, world, db):
    from fieldwork.discovery.models import DiscoveryReport

    worker = make_user("community_worker")
    auth.login(worker)
    rec = {"type": "discovery", "id": str(uuid.uuid4()), "region_id": str(world.community.id),
           "address": "和平社区建设路1号", "reason": "老人独居、重病", "location": None,
           "answers": {"head_name": "王𠮷", "members_count": 1}, "photos": []}
    result = push(client, rec).json["results"][0]
    assert result["status"] == "created"
    assert db.session.get(DiscoveryReport, rec["id"]).head_name == "王𠮷"
    outside = dict(rec, id=str(uuid.uuid4()), region_id=str(world.community_b.id))
    assert push(client, outside).json["results"][0]["status"] == "rejected"


# ---------------------------------------------------------------- photos

def test_photo_upload_statuses(logged_in, household, app):
    data, other = jpeg(), jpeg((200, 40, 40))
    pid = str(uuid.uuid4())
    assert put_photo(logged_in, pid, data).status_code == 404  # no record declares it yet
    push(logged_in, visit_record(household, photos=[(pid, data)]))
    assert put_photo(logged_in, pid, data, sha="0" * 64).status_code == 400
    assert put_photo(logged_in, pid, b"hello", mime="text/plain").status_code == 400
    assert put_photo(logged_in, pid, data).status_code == 201
    assert put_photo(logged_in, pid, data).status_code == 200
    resp = put_photo(logged_in, pid, other)
    assert resp.status_code == 409 and resp.json["error"]["code"] == "conflict"


def test_photo_not_an_image_is_400_with_a_message(logged_in, household):
    fake = b"<html><script>alert(1)</script></html>"
    pid = str(uuid.uuid4())
    push(logged_in, visit_record(household, photos=[(pid, fake)]))
    resp = put_photo(logged_in, pid, fake)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "not_image"


def test_photo_over_the_limit_is_413(app, logged_in, household):
    app.config["MAX_CONTENT_LENGTH"] = 100_000
    big = jpeg(size=(2000, 2000)) + b"\0" * 120_000
    pid = str(uuid.uuid4())
    push(logged_in, visit_record(household, photos=[(pid, big)]))
    resp = put_photo(logged_in, pid, big)
    assert resp.status_code == 413 and resp.is_json


def test_another_users_photo_id_is_404(client, auth, household, helper, make_user, make_household):
    data = jpeg()
    pid = str(uuid.uuid4())
    auth.login(helper)
    push(client, visit_record(household, photos=[(pid, data)]))
    auth.logout()
    other = make_user("helper")
    make_household(helper=other)
    auth.login(other)
    assert put_photo(client, pid, data).status_code == 404


# ---------------------------------------------------------------- concurrency

def test_two_concurrent_pushes_of_the_same_record_store_it_once(app, household, helper, db):
    """Idempotency is enforced by the primary key, not only by a look-up."""
    rec = visit_record(household, photos=[(str(uuid.uuid4()), jpeg())])
    username = helper.username
    db.session.commit()  # the test's own session must not hold SQLite's write lock
    barrier = threading.Barrier(2)
    statuses: list[str] = []
    errors: list[BaseException] = []

    def worker():
        try:
            c = app.test_client()
            with app.app_context():
                c.post("/login", data={"username": username,
                                       "password": "test-pass-123"})
            barrier.wait()
            with app.app_context():
                resp = push(c, rec)
                statuses.append(resp.json["results"][0]["status"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(statuses) == ["created", "duplicate"]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(Photo.id))) == 1


# ---------------------------------------------------------------- OpenAPI

def test_openapi_describes_every_sync_endpoint(client, app):
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    sync_rules = {r.rule.replace("<photo_id>", "{photo_id}") for r in app.url_map.iter_rules()
                  if r.rule.startswith("/api/sync/v1/")}
    assert sync_rules <= set(doc["paths"])
    json.dumps(doc)

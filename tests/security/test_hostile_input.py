"""Hostile input: a corpus of bad files made here, each answered with its own 4xx by the sync
API (the one way a photo reaches the server); oversized JSON and forms answered 413 in
Chinese; names and addresses with characters outside the BMP, combining marks, RTL marks and
zero-width joiners stored and shown exactly as typed."""

from __future__ import annotations

import io
import json
import struct
import uuid
import zlib

import pytest
import sqlalchemy as sa
from PIL import Image

from fieldwork.discovery.models import DiscoveryReport
from fieldwork.photos.models import Photo
from fieldwork.photos.pipeline import ERROR_MESSAGES
from fieldwork.visits.models import Visit
from tests.factories import csrf_token, photo_jpeg, upload_photo, visit_record

from .conftest import login

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


# ---------------------------------------------------------------- the corpus


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def decompression_bomb() -> bytes:
    """A 20000 × 20000 grey PNG: a few hundred kilobytes that decode to 400 megapixels."""
    width = height = 20_000
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\x80" * width
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
            + _png_chunk(b"IEND", b""))


def png_with_huge_text() -> bytes:
    """A valid small PNG with a zTXt chunk that inflates to 64 MB of text."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(out, format="PNG")
    png = out.getvalue()
    text = b"Comment\x00\x00" + zlib.compress(b"A" * (64 * 1024 * 1024), 9)
    end = png.rindex(b"IEND") - 4
    return png[:end] + _png_chunk(b"zTXt", text) + png[end:]


CORPUS = {
    "decompression bomb": (decompression_bomb, 400, "decompression_bomb"),
    "truncated JPEG": (lambda: photo_jpeg(3)[: len(photo_jpeg(3)) // 2], 400, "corrupt"),
    "PNG with a huge text chunk": (png_with_huge_text, 400, "decompression_bomb"),
    "SVG named .jpg": (lambda: b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
                       b'<script>alert(1)</script></svg>', 400, "not_image"),
    "HTML named .jpg": (lambda: b"<!doctype html><html><body onload=alert(1)>hi</body></html>",
                        400, "not_image"),
    "zero bytes": (lambda: b"", 400, "empty"),
}
BIG = 50 * 1024 * 1024


def declare(client, scene, blobs: list[bytes]) -> list[str]:
    record = visit_record(str(scene.hh_a.id), photos=blobs)
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": [record]},
                           headers={"X-CSRFToken": csrf_token(client)})
    [result] = response.get_json()["results"]
    assert result["status"] == "created", result
    return result["missing_photos"]


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_sync_api_answers_each_bad_file_with_its_own_4xx(client, db, scene, name):
    make, status, code = CORPUS[name]
    data = make()
    login(client, scene.users["helper"])
    [photo_id] = declare(client, scene, [data])
    response = upload_photo(client, photo_id, data, csrf=csrf_token(client))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"] == ERROR_MESSAGES[code]
    db.session.expire_all()
    assert db.session.get(Photo, photo_id).stored_at is None
    assert client.get(f"/photos/{photo_id}.jpg").status_code == 404


def test_the_sync_api_refuses_50_mb_with_413(client, db, scene):
    login(client, scene.users["helper"])
    data = b"\xff\xd8\xff" + b"\0" * (BIG - 3)
    [photo_id] = declare(client, scene, [data])
    response = upload_photo(client, photo_id, data, csrf=csrf_token(client))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    assert "提交的内容太大（上限 16 MB）" == response.get_json()["error"]["message"]


def test_a_photo_with_another_content_type_is_refused(client, scene):
    login(client, scene.users["helper"])
    data = CORPUS["SVG named .jpg"][0]()
    [photo_id] = declare(client, scene, [data])
    response = upload_photo(client, photo_id, data, content_type="image/svg+xml",
                            csrf=csrf_token(client))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "not_image"


def test_a_good_photo_still_goes_through(client, db, scene):
    login(client, scene.users["helper"])
    data = photo_jpeg(5)
    [photo_id] = declare(client, scene, [data])
    response = upload_photo(client, photo_id, data, csrf=csrf_token(client))
    assert response.status_code == 201
    db.session.expire_all()
    assert db.session.get(Photo, photo_id).stored_at is not None


# ---------------------------------------------------------------- oversized bodies


def test_an_oversized_push_is_413_with_a_message(client, scene):
    login(client, scene.users["helper"])
    records = [visit_record(str(scene.hh_a.id), notes="备" * 1900) for _ in range(100)]
    body = {"device_id": "p", "records": records, "padding": "x" * (4 * 1024 * 1024)}
    response = client.post("/api/sync/v1/push", json=body,
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_large"
    assert error["message"] == "一次提交的内容太大（上限 4 MB），请分批同步"


def test_a_push_over_the_request_limit_is_413_too(client, scene):
    login(client, scene.users["helper"])
    response = client.post("/api/sync/v1/push", data=b"{" + b" " * (17 * 1024 * 1024) + b"}",
                           content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 413
    assert "太大" in response.get_json()["error"]["message"]


def test_an_oversized_form_is_413_with_a_chinese_page(client, scene):
    login(client, scene.users["helper"])
    token = csrf_token(client)
    response = client.post("/account/password",
                           data={"csrf_token": token, "new": "长" * (9 * 1024 * 1024)})
    assert response.status_code == 413
    assert "提交的内容太大（上限 16 MB）" in response.get_data(as_text=True)


def test_deeply_nested_json_is_a_client_error(client, scene):
    login(client, scene.users["helper"])
    body = b'{"device_id": "p", "records": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = client.post("/api/sync/v1/push", data=body, content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client)})
    assert 400 <= response.status_code < 500


def test_an_absurd_declared_photo_size_is_refused(client, scene):
    login(client, scene.users["helper"])
    record = visit_record(str(scene.hh_a.id))
    record["photos"] = [{"id": str(uuid.uuid4()), "sha256": "a" * 64, "bytes": 2**70}]
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": [record]},
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 200
    assert response.get_json()["results"][0]["status"] == "rejected"


BAD_TEXT = "提交的内容含有无法保存的字符（如空字符），请删除后重试"


@pytest.mark.parametrize("body", [
    b'{"device_id": "p\\u0000q", "records": []}',
    b'{"device_id": "p\\ud800", "records": []}',
    b'{"device_id": "p\\udc00x", "records": []}',
])
def test_text_that_cannot_be_stored_is_refused_in_the_push_envelope(client, db, scene, body):
    login(client, scene.users["helper"])
    response = client.post("/api/sync/v1/push", data=body, content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["message"]) == ("bad_text", BAD_TEXT)
    assert set(error["fields"]) == {"device_id"}


@pytest.mark.parametrize("text", ["a\\u0000b", "a\\ud800b", "a\\udfffb"])
def test_text_that_cannot_be_stored_inside_a_record_rejects_only_that_record(
        client, db, scene, text):
    """A NUL or a lone surrogate in one record is that record's problem: the batch is stored."""
    login(client, scene.users["helper"])
    good = visit_record(str(scene.hh_a.id))
    bad = visit_record(str(scene.hh_a.id))
    body = json.dumps({"device_id": "p", "records": [bad, good]})
    body = body.replace('"notes": ""', f'"notes": "{text}"', 1).encode()
    response = client.post("/api/sync/v1/push", data=body, content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 200
    first, second = response.get_json()["results"]
    assert first["status"] == "rejected" and set(first["errors"]) == {"notes"}
    assert second["status"] == "created"
    db.session.expire_all()
    assert db.session.get(Visit, good["id"]) is not None
    assert db.session.get(Visit, bad["id"]) is None


def test_text_that_cannot_be_stored_is_refused_in_other_json(client, db, scene):
    login(client, scene.users["helper"])
    response = client.post("/api/sync/v1/discovery/check", data=b'{"head_name": "a\\u0000"}',
                           content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 400
    assert response.get_json()["error"] == {"code": "bad_text", "message": BAD_TEXT}


def test_a_surrogate_pair_is_fine(client, scene):
    login(client, scene.users["helper"])
    body = b'{"device_id": "p\\ud842\\udfb7", "records": []}'  # 𠮷, escaped
    response = client.post("/api/sync/v1/push", data=body, content_type="application/json",
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 200


def test_text_that_cannot_be_stored_is_refused_in_queries_forms_and_paths(client, scene):
    login(client, scene.users["helper"])
    response = client.get("/api/sync/v1/pull", query_string={"device_id": "a\x00b"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_text"
    response = client.get("/visits/abc%00def")
    assert response.status_code == 400 and BAD_TEXT in response.get_data(as_text=True)
    response = client.post("/account/password",
                           data={"csrf_token": csrf_token(client), "new": "a\x00b"})
    assert response.status_code == 400 and BAD_TEXT in response.get_data(as_text=True)


# ---------------------------------------------------------------- Unicode


NAME = "\u200f𠮷田\u0301李\u200d华\u200f"  # RTL marks, a non-BMP character, a combining mark, ZWJ
ADDRESS = "东关街道𠀋𡈽路\u200e12\u200d号 e\u0301\u0327 \u202eRTL\u202c 👨\u200d👩\u200d👧"


def test_unicode_in_a_discovery_report_is_stored_intact(client, db, scene):
    login(client, scene.users["community_worker"])
    record = {"type": "discovery", "id": str(uuid.uuid4()),
              "region_id": str(scene.world.community.id), "address": ADDRESS,
              "reason": NAME + "家中困难",
              "answers": {"head_name": NAME, "members_count": 2}}
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": [record]},
                           headers={"X-CSRFToken": csrf_token(client)})
    [result] = response.get_json()["results"]
    assert result["status"] == "created", result
    db.session.expire_all()
    report = db.session.get(DiscoveryReport, record["id"])
    assert (report.head_name, report.address, report.reason) == (NAME, ADDRESS,
                                                                  NAME + "家中困难")
    raw = db.session.execute(sa.text("SELECT head_name, address FROM discovery_reports "
                                     "WHERE id = :id"), {"id": record["id"]}).one()
    assert tuple(raw) == (NAME, ADDRESS)


def test_unicode_in_a_visit_is_stored_and_shown_intact(client, db, scene):
    login(client, scene.users["helper"])
    record = visit_record(str(scene.hh_a.id), notes=ADDRESS)
    record["answers"]["present"] = NAME
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": [record]},
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.get_json()["results"][0]["status"] == "created"
    db.session.expire_all()
    visit = db.session.get(Visit, record["id"])
    assert visit.answers["present"] == NAME and visit.notes == ADDRESS
    html = client.get(f"/visits/{record['id']}").get_data(as_text=True)
    assert NAME in html and ADDRESS in html


def test_unicode_names_and_addresses_are_shown_intact(client, db, scene, make_household):
    household = make_household(place=scene.world.community, helper=scene.users["helper"],
                               head_name=NAME, address=ADDRESS)
    login(client, scene.users["helper"])
    # The helper's pages are drawn on the phone from the pull (tests/browser checks the DOM).
    pulled = client.get("/api/sync/v1/pull").get_json()["households"]
    mine = next(h for h in pulled if h["id"] == str(household.id))
    assert (mine["head_name"], mine["address"]) == (NAME, ADDRESS)
    login(client, scene.users["community_worker"])
    for url in (f"/households/{household.id}", f"/places/{scene.world.community.id}"):
        html = client.get(url).get_data(as_text=True)
        assert NAME in html and ADDRESS in html, url

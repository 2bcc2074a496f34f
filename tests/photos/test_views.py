"""Photos of households: served only to those whose scope includes them, and stored by the
upload rules of SYNC-PROTOCOL.md ("Photos") as clean JPEGs written atomically."""

from __future__ import annotations

import io
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from fieldwork.extensions import db as _db
from fieldwork.photos import services as photos
from fieldwork.photos.models import Photo
from fieldwork.photos.pipeline import ERROR_MESSAGES
from fieldwork.photos.storage import LocalStore, photo_key, thumb_key
from fieldwork.visits.models import Visit
from fieldwork.visits.services import parse_visit_record, record_visit
from tests.factories import answers, encode_jpeg, photo, photo_declaration, sha, visit_record

GPS_IFD = 0x8825
EXIF_IFD = 0x8769

pytestmark = pytest.mark.usefixtures("fresh_g")


def phone_jpeg(seed: int = 1) -> bytes:
    """A camera shot as a phone writes it: EXIF with the make, capture time and GPS."""
    exif = Image.Exif()
    exif[0x010F] = "Xiaomi"
    exif[0x0110] = "Redmi Note 12"
    exif.get_ifd(EXIF_IFD)[0x9003] = "2026:11:20 10:32:08"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (32.0, 59.0, 42.0), 3: "E", 4: (112.0, 32.0, 28.0)})
    picture = photo(seed, (1200, 900), blocks=25, block=(200, 150), ellipses=True)
    return encode_jpeg(picture, quality=90, exif=exif)


def declare(helper, household, data_list: list[bytes]) -> list[str]:
    """Push a visit declaring these photos; return the photo ids the server waits for."""
    raw = visit_record(household.id, location={"lat": 32.995, "lon": 112.541, "accuracy_m": 10},
                       answers=answers(household_income="900"),
                       photos=[photo_declaration(d, caption="living") for d in data_list])
    result = record_visit(helper, parse_visit_record(raw, device_id="phone-1"))
    assert result.status == "created", result.errors
    _db.session.commit()
    return result.missing_photos


def upload(photo_id: str, data: bytes, claimed: str | None = None, uploader=None):
    outcome = photos.upload(photo_id, data, sha(data) if claimed is None else claimed,
                            uploader.id)
    _db.session.commit()
    return outcome


@pytest.fixture
def helper(make_user):
    return make_user("helper")


@pytest.fixture
def household(make_household, helper, world):
    return make_household(helper=helper, place=world.community)


@pytest.fixture
def stored(helper, household) -> str:
    data = phone_jpeg()
    [photo_id] = declare(helper, household, [data])
    assert upload(photo_id, data, uploader=helper).status == 201
    return photo_id


# ------------------------------------------------------------------ who may see a photo

def get(client, auth, user, url):
    auth.login(as_=user)
    response = client.get(url)
    auth.logout()
    return response


@pytest.mark.parametrize(("role", "where"), [
    ("county_officer", "county"),
    ("street_reviewer", "street"),
    ("community_worker", "community"),
    ("city_supervisor", "city"),
])
def test_officers_in_scope_see_the_photo(client, auth, make_user, world, stored, role, where):
    officer = make_user(role, place=getattr(world, where))
    for url in (f"/photos/{stored}.jpg", f"/photos/{stored}/thumb.jpg"):
        response = get(client, auth, officer, url)
        assert response.status_code == 200, url
        assert response.mimetype == "image/jpeg"
        assert "private" in response.headers["Cache-Control"]
        assert Image.open(io.BytesIO(response.data)).format == "JPEG"


def test_the_uploading_helper_sees_the_photo(client, auth, helper, stored, app):
    response = get(client, auth, helper, f"/photos/{stored}.jpg")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    cache = response.headers["Cache-Control"]
    assert "private" in cache and "public" not in cache
    assert response.data == (Path(app.config["PHOTO_DIR"]) / photo_key(stored)).read_bytes()


def test_the_helper_still_sees_their_photo_after_reassignment(client, auth, helper, household,
                                                             stored):
    from fieldwork.households.models import Assignment
    from fieldwork.timeutil import today_local

    for a in _db.session.scalars(_db.select(Assignment)):
        a.end_date = today_local() - timedelta(days=1)
    _db.session.commit()
    assert get(client, auth, helper, f"/photos/{stored}.jpg").status_code == 200


@pytest.mark.parametrize(("role", "where"), [
    ("helper", "street"),
    ("community_worker", "community_2"),
    ("community_worker", "community_b"),
    ("street_reviewer", "street_2"),
    ("county_officer", "county_b"),
])
def test_others_get_404(client, auth, make_user, world, stored, role, where):
    outsider = make_user(role, place=getattr(world, where))
    for url in (f"/photos/{stored}.jpg", f"/photos/{stored}/thumb.jpg"):
        assert get(client, auth, outsider, url).status_code == 404, url


def test_logged_out_is_sent_to_login(client, stored):
    response = client.get(f"/photos/{stored}.jpg")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_photo_not_yet_uploaded_is_404_even_for_its_helper(client, auth, helper, household):
    [photo_id] = declare(helper, household, [phone_jpeg(2)])
    assert get(client, auth, helper, f"/photos/{photo_id}.jpg").status_code == 404
    assert get(client, auth, helper, f"/photos/{uuid.uuid4()}.jpg").status_code == 404


# ------------------------------------------------------------------ upload statuses

def test_upload_statuses(helper, household, app):
    data, other = phone_jpeg(1), phone_jpeg(2)
    [photo_id] = declare(helper, household, [data])

    undeclared = upload(str(uuid.uuid4()), data, uploader=helper)
    assert undeclared.status == 404 and undeclared.code == "unknown_photo"

    truncated = data[: len(data) // 2]
    mismatch = upload(photo_id, truncated, claimed=sha(data), uploader=helper)
    assert mismatch.status == 400 and mismatch.code == "hash_mismatch"

    not_declared = upload(photo_id, other, uploader=helper)
    assert not_declared.status == 400

    missing_hash = upload(photo_id, data, claimed="", uploader=helper)
    assert missing_hash.status == 400

    visit = _db.session.scalar(_db.select(Visit))
    assert visit.photos_stored == 0

    created = upload(photo_id, data, uploader=helper)
    assert created.status == 201
    again = upload(photo_id, data, uploader=helper)
    assert again.status == 200
    conflict = upload(photo_id, other, uploader=helper)
    assert conflict.status == 409 and conflict.code == "conflict"

    _db.session.expire_all()
    visit = _db.session.get(Visit, visit.id)
    assert visit.photos_stored == 1 and visit.complete  # counted once, not per repeat
    photo = _db.session.get(Photo, photo_id)
    assert photo.upload_sha256 == sha(data)


def test_upload_by_another_user_is_404(make_user, helper, household):
    data = phone_jpeg()
    [photo_id] = declare(helper, household, [data])
    outcome = upload(photo_id, data, uploader=make_user("helper"))
    assert outcome.status == 404
    assert _db.session.get(Photo, photo_id).stored_at is None


def test_not_an_image_is_400_with_the_pipelines_message(helper, household):
    data = "走访记录：户主本人在家".encode()
    [photo_id] = declare(helper, household, [data])
    outcome = upload(photo_id, data, uploader=helper)
    assert outcome.status == 400
    assert outcome.code == "not_image"
    assert outcome.message == ERROR_MESSAGES["not_image"]
    assert _db.session.get(Photo, photo_id).stored_at is None


def test_too_large_is_413(app, helper, household):
    data = phone_jpeg()
    app.config["PHOTO_MAX_BYTES"] = len(data) - 1
    [photo_id] = declare(helper, household, [data])
    outcome = upload(photo_id, data, uploader=helper)
    assert outcome.status == 413 and outcome.code == "too_large"
    assert "MB" in outcome.message
    assert _db.session.get(Photo, photo_id).stored_at is None
    app.config["PHOTO_MAX_BYTES"] = len(data)
    assert upload(photo_id, data, uploader=helper).status == 201


# ------------------------------------------------------------------ what is kept on disk

def test_the_stored_file_is_a_clean_jpeg(app, helper, household):
    source = phone_jpeg()
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(GPS_IFD)  # the input has GPS
    [photo_id] = declare(helper, household, [source])
    assert upload(photo_id, source, uploader=helper).status == 201

    root = Path(app.config["PHOTO_DIR"])
    for key, longest in ((photo_key(photo_id), 1600), (thumb_key(photo_id), 320)):
        blob = (root / key).read_bytes()
        assert blob != source
        image = Image.open(io.BytesIO(blob))
        assert image.format == "JPEG" and image.mode == "RGB"
        assert max(image.size) <= longest
        assert not image.getexif()
        assert not image.getexif().get_ifd(GPS_IFD)
        assert "exif" not in image.info
        assert b"Xiaomi" not in blob and b"Exif" not in blob

    photo = _db.session.get(Photo, photo_id)
    assert photo.stored_sha256 == sha((root / photo_key(photo_id)).read_bytes())
    assert (photo.width, photo.height) == Image.open(root / photo_key(photo_id)).size
    assert photo.exif_taken_at is not None  # the capture time was read before stripping
    assert list(root.rglob("*.part")) == []
    assert not any(p.name.startswith(".tmp-") for p in root.rglob("*"))


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    store = LocalStore(tmp_path / "photos")
    store.put("ab/kept.jpg", b"old bytes")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.put("ab/kept.jpg", b"new bytes")
    with pytest.raises(OSError):
        store.put("ab/new.jpg", b"new bytes")
    monkeypatch.undo()

    assert store.get("ab/kept.jpg") == b"old bytes"  # never half-replaced
    assert not store.exists("ab/new.jpg")
    assert [p.name for p in (tmp_path / "photos").rglob("*") if p.is_file()] == ["kept.jpg"]


def test_a_key_cannot_escape_the_store(tmp_path):
    store = LocalStore(tmp_path / "photos")
    with pytest.raises(ValueError):
        store.put("../outside.jpg", b"x")
    assert not (tmp_path / "outside.jpg").exists()

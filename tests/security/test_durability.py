"""Nothing acknowledged is lost, nothing half-written is kept: photo files appear whole or not
at all, a push is committed before it is answered (a new server process finds it), and a push
that fails midway stores none of its records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldwork import create_app
from fieldwork.extensions import db as _db
from fieldwork.photos.models import Photo
from fieldwork.photos.storage import LocalStore, photo_key
from fieldwork.visits.models import Visit
from tests.factories import csrf_token, photo_jpeg, upload_photo, visit_record

from .conftest import login

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


# ---------------------------------------------------------------- atomic photo files


def files_in(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_a_crash_mid_write_leaves_no_file(tmp_path, monkeypatch):
    store = LocalStore(tmp_path)
    real_fsync = os.fsync

    def crash(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        store.put("ab/abcdef.jpg", b"\xff\xd8\xff" + b"x" * 100_000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not store.exists("ab/abcdef.jpg")
    assert files_in(tmp_path) == []  # no temporary file left behind either


def test_a_crash_while_replacing_keeps_the_old_photo(tmp_path, monkeypatch):
    store = LocalStore(tmp_path)
    store.put("ab/abcdef.jpg", b"old photo")

    class Half:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            raise OSError(5, "I/O error")

        def __getattr__(self, name):
            return getattr(self.fh, name)

    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Half(real_fdopen(fd, mode)))
    with pytest.raises(OSError):
        store.put("ab/abcdef.jpg", b"new photo " * 1000)
    monkeypatch.setattr(os, "fdopen", real_fdopen)
    assert store.get("ab/abcdef.jpg") == b"old photo"
    assert files_in(tmp_path) == ["ab/abcdef.jpg"]


def test_the_final_name_appears_only_when_complete(tmp_path, monkeypatch):
    """Whoever looks at the final path sees nothing, then the whole file: never a part."""
    store = LocalStore(tmp_path)
    data = b"\xff\xd8\xff" + os.urandom(200_000)
    seen = []
    real_replace = os.replace

    def watch(src, dst):
        seen.append((Path(dst).exists(), Path(src).read_bytes() == data))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watch)
    store.put("cd/cdef.jpg", data)
    assert seen == [(False, True)]
    assert store.get("cd/cdef.jpg") == data


def test_a_failed_store_keeps_the_photo_missing_and_retryable(client, app, db, scene,
                                                              monkeypatch):
    """If the thumbnail cannot be written, the upload fails as a whole: the photo is not
    marked stored, is not served, and the phone's retry succeeds."""
    helper = scene.users["helper"]
    login(client, helper)
    token = csrf_token(client)
    data = photo_jpeg(7)
    record = visit_record(str(scene.hh_a.id), photos=[data])
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": [record]},
                           headers={"X-CSRFToken": token})
    [photo_id] = response.get_json()["results"][0]["missing_photos"]

    real_put = LocalStore.put

    def failing_put(self, key, blob):
        if key.endswith(".thumb.jpg"):
            raise OSError(28, "No space left on device")
        return real_put(self, key, blob)

    monkeypatch.setattr(LocalStore, "put", failing_put)
    response = upload_photo(client, photo_id, data, csrf=token)
    assert response.status_code == 500
    assert response.get_json()["error"]["message"] == "服务器内部错误，请稍后重试；您的数据未丢失"
    db.session.expire_all()
    assert db.session.get(Photo, photo_id).stored_at is None
    assert client.get(f"/photos/{photo_id}.jpg").status_code == 404
    status = client.get("/api/sync/v1/status").get_json()
    assert photo_id in status["missing_photos"]

    monkeypatch.setattr(LocalStore, "put", real_put)
    response = upload_photo(client, photo_id, data, csrf=token)
    assert response.status_code == 201
    assert client.get(f"/photos/{photo_id}.jpg").status_code == 200


# ---------------------------------------------------------------- acknowledged means stored


def test_an_acknowledged_push_survives_a_restart(client, app, app_config, scene):
    helper = scene.users["helper"]
    login(client, helper)
    data = photo_jpeg(11)
    records = [visit_record(str(scene.hh_a.id), photos=[data]),
               visit_record(str(scene.hh_a.id), notes="第二条")]
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": records},
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 200
    assert [r["status"] for r in response.get_json()["results"]] == ["created", "created"]
    [photo_id] = response.get_json()["results"][0]["missing_photos"]
    response = upload_photo(client, photo_id, data, csrf=csrf_token(client))
    assert response.status_code == 201

    # The old process is gone (its connections with it); a new one starts: a new app, new
    # engine, new connections, same database.
    _db.session.remove()
    restarted = create_app(app_config)
    with restarted.app_context():
        try:
            ids = {r["id"] for r in records}
            stored = set(_db.session.scalars(sa.select(Visit.id).where(Visit.id.in_(ids))))
            assert stored == ids
            photo = _db.session.get(Photo, photo_id)
            assert photo.stored_at is not None
            assert Path(restarted.config["PHOTO_DIR"], photo_key(photo_id)).exists()
        finally:
            _db.session.remove()
            _db.engine.dispose()


def test_a_push_that_fails_midway_stores_none_of_it(client, app, db, scene, monkeypatch):
    """The server dies (an exception) on the second record: the answer is an error, nothing
    of the first record is kept, and the phone's retry stores both."""
    import offline_sync.services as services

    helper = scene.users["helper"]
    login(client, helper)
    token = csrf_token(client)
    records = [visit_record(str(scene.hh_a.id), photos=[photo_jpeg(21)]),
               visit_record(str(scene.hh_a.id))]
    real = services.record_visit  # what the push calls for each visit record
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "record_visit", dying)
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": records},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 500
    db.session.expire_all()
    ids = [r["id"] for r in records]
    assert db.session.scalar(sa.select(sa.func.count(Visit.id)).where(Visit.id.in_(ids))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Photo.id)).where(
        Photo.visit_id.in_(ids))) == 0

    monkeypatch.setattr(services, "record_visit", real)
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": records},
                           headers={"X-CSRFToken": token})
    assert [r["status"] for r in response.get_json()["results"]] == ["created", "created"]
    # And once more, as a phone that never got the answer would: nothing doubles.
    response = client.post("/api/sync/v1/push", json={"device_id": "p", "records": records},
                           headers={"X-CSRFToken": token})
    assert [r["status"] for r in response.get_json()["results"]] == ["duplicate", "duplicate"]
    assert db.session.scalar(sa.select(sa.func.count(Visit.id)).where(Visit.id.in_(ids))) == 2

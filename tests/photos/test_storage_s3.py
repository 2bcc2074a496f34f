"""The S3-compatible photo store, against a real S3 server on loopback (moto's standalone
server, started here; the tests skip when boto3 or moto[server] is not installed), and the
choice of store by configuration."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
import uuid

import pytest
from PIL import Image

from fieldwork.config import ConfigError
from fieldwork.photos.storage import LocalStore, S3Store, build_store, photo_key, thumb_key
from tests.factories import jpeg

BUCKET = "fieldwork-photos"
SMALL = {"size": (64, 48), "quality": 80, "dot_every": None}  # a small plain card


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server", reason="moto[server] not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.skip("the local S3 server (moto) did not start")
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def s3_config(s3_endpoint, tmp_path) -> dict[str, str]:
    """Settings for a fresh bucket on the local S3 server."""
    import boto3

    bucket = f"{BUCKET}-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="test",
                 aws_secret_access_key="test", region_name="us-east-1").create_bucket(
        Bucket=bucket)
    return {"PHOTO_STORE": "s3", "S3_ENDPOINT": s3_endpoint, "S3_BUCKET": bucket,
            "S3_ACCESS_KEY": "test", "S3_SECRET_KEY": "test", "S3_REGION": "us-east-1",
            "PHOTO_DIR": str(tmp_path / "unused")}


def test_photos_round_trip_through_the_s3_store(s3_config):
    store = build_store(s3_config)
    assert isinstance(store, S3Store)
    photo_id = str(uuid.uuid4())
    data, thumb = jpeg((200, 80, 40), **SMALL), jpeg((10, 10, 10), **SMALL)

    assert store.get(photo_key(photo_id)) is None
    assert not store.exists(photo_key(photo_id))
    store.put(photo_key(photo_id), data)
    store.put(thumb_key(photo_id), thumb)

    assert store.exists(photo_key(photo_id))
    assert store.get(photo_key(photo_id)) == data
    assert store.get(thumb_key(photo_id)) == thumb
    assert sorted(store.keys()) == sorted([photo_key(photo_id), thumb_key(photo_id)])

    store.delete(photo_key(photo_id))
    assert store.get(photo_key(photo_id)) is None
    assert list(store.keys()) == [thumb_key(photo_id)]


def test_the_health_check_writes_to_the_bucket_and_fails_without_it(s3_config):
    store = build_store(s3_config)
    store.check()  # writable: no exception
    assert list(store.keys()) == []  # the health marker is not a photo

    missing = build_store({**s3_config, "S3_BUCKET": "no-such-bucket-here"})
    with pytest.raises(Exception):  # noqa: B017 - botocore's ClientError: NoSuchBucket
        missing.check()


def test_a_prefix_keeps_two_installations_apart_in_one_bucket(s3_config):
    county_a = build_store({**s3_config, "S3_PREFIX": "wancheng"})
    county_b = build_store({**s3_config, "S3_PREFIX": "wolong/"})
    key = photo_key(str(uuid.uuid4()))
    county_a.put(key, jpeg((200, 80, 40), **SMALL))
    assert county_a.get(key) == jpeg((200, 80, 40), **SMALL)
    assert county_b.get(key) is None
    assert list(county_a.keys()) == [key]


def test_keys_that_climb_out_are_refused(s3_config):
    store = build_store(s3_config)
    for bad in ("../x.jpg", "/etc/passwd", "ab//c.jpg", ""):
        with pytest.raises(ValueError):
            store.put(bad, b"x")


def test_an_uploaded_photo_is_stored_in_s3_and_served_from_it(
        s3_config, app, client, auth, make_user, make_household, world):
    """The whole path: a helper's visit declares a photo, the upload lands in the bucket (not
    on the app server's disk), and the photo route serves it back from the bucket."""
    from pathlib import Path

    from fieldwork.photos.storage import photo_store
    from tests.photos.test_views import declare, phone_jpeg, upload

    app.config.update(s3_config)
    app.extensions.pop("fieldwork_photo_store", None)
    helper = make_user("helper")
    household = make_household(helper=helper, place=world.community)
    data = phone_jpeg()
    [photo_id] = declare(helper, household, [data])
    assert upload(photo_id, data, uploader=helper).status == 201

    store = photo_store()
    assert isinstance(store, S3Store)
    assert store.exists(photo_key(photo_id)) and store.exists(thumb_key(photo_id))
    assert not Path(s3_config["PHOTO_DIR"]).exists()

    auth.login(as_=helper)
    response = client.get(f"/photos/{photo_id}.jpg")
    assert response.status_code == 200
    assert response.data == store.get(photo_key(photo_id))
    assert Image.open(io.BytesIO(response.data)).format == "JPEG"
    app.extensions.pop("fieldwork_photo_store", None)


# ------------------------------------------------------------ choosing a store (no server)

def test_the_local_store_is_the_default(tmp_path, monkeypatch):
    monkeypatch.delenv("FIELDWORK_PHOTO_STORE", raising=False)
    store = build_store({"PHOTO_DIR": str(tmp_path)})
    assert isinstance(store, LocalStore)
    store.put("ab/x.jpg", b"data")
    assert list(store.keys()) == ["ab/x.jpg"]
    store.check()
    assert list(store.keys()) == ["ab/x.jpg"]  # the health marker is hidden


def test_the_store_can_be_chosen_from_the_environment(tmp_path, monkeypatch):
    pytest.importorskip("boto3")
    monkeypatch.setenv("FIELDWORK_PHOTO_STORE", "s3")
    monkeypatch.setenv("FIELDWORK_S3_BUCKET", "photos")
    monkeypatch.setenv("FIELDWORK_S3_ENDPOINT", "http://127.0.0.1:9")
    store = build_store({"PHOTO_DIR": str(tmp_path)})
    assert isinstance(store, S3Store) and store.bucket == "photos"


@pytest.mark.parametrize(("settings", "message"), [
    ({"PHOTO_STORE": "ftp"}, "local 或 s3"),
    ({"PHOTO_STORE": "s3"}, "FIELDWORK_S3_BUCKET"),
    ({"PHOTO_STORE": "s3", "S3_BUCKET": "b", "S3_ACCESS_KEY": "only-half"},
     "FIELDWORK_S3_SECRET_KEY"),
])
def test_a_wrong_store_configuration_says_what_to_fix(tmp_path, monkeypatch, settings, message):
    for name in ("PHOTO_STORE", "S3_BUCKET", "S3_ACCESS_KEY", "S3_SECRET_KEY"):
        monkeypatch.delenv(f"FIELDWORK_{name}", raising=False)
    with pytest.raises(ConfigError, match=message):
        build_store({"PHOTO_DIR": str(tmp_path), **settings})

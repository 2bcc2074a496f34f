"""Backup and restore carry the photos of whichever store is configured (audit finding 8).

Once the backup read the photo directory directly: on an installation with the S3-compatible
store the photos were not in the backup at all. These tests record photos through the product
path, back up, wipe the store and the database, restore, and fetch each photo through the
authorized photo route: byte-identical, for the S3 store (against moto's S3 server, a real
S3-protocol server on 127.0.0.1, in this process) and for the local store."""

from __future__ import annotations

import hashlib
import shutil
import uuid
from pathlib import Path

import pytest

from fieldwork import backup
from fieldwork.photos.storage import LocalStore, S3Store, photo_key, photo_store, thumb_key
from tests.photos.test_views import declare, phone_jpeg, upload

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture(scope="module")
def s3_server():
    pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server", reason="moto[server] not installed")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _s3_client(endpoint: str):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                        aws_secret_access_key="test", region_name="us-east-1")


@pytest.fixture(params=["s3", "local"])
def store_kind(request, app, tmp_path):
    """The app configured with one kind of store (a fresh bucket for S3)."""
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_server")
        bucket = f"fieldwork-backup-{uuid.uuid4().hex[:8]}"
        _s3_client(endpoint).create_bucket(Bucket=bucket)
        app.config.update({"PHOTO_STORE": "s3", "S3_ENDPOINT": endpoint, "S3_BUCKET": bucket,
                           "S3_ACCESS_KEY": "test", "S3_SECRET_KEY": "test",
                           "S3_REGION": "us-east-1", "S3_PREFIX": "wancheng"})
    else:
        app.config.update({"PHOTO_STORE": "local", "PHOTO_DIR": str(tmp_path / "photos")})
    app.extensions.pop("fieldwork_photo_store", None)
    yield request.param
    app.extensions.pop("fieldwork_photo_store", None)


def _wipe_store(app, kind: str) -> None:
    """Empty the store behind the app's back, as a lost disk or bucket would."""
    if kind == "s3":
        client = _s3_client(app.config["S3_ENDPOINT"])
        bucket = app.config["S3_BUCKET"]
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        for item in listed:
            client.delete_object(Bucket=bucket, Key=item["Key"])
        assert client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    else:
        shutil.rmtree(app.config["PHOTO_DIR"])


def _wipe_database(db) -> None:
    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


def _served(client, auth, username: str, photo_id: str) -> tuple[bytes, bytes]:
    assert auth.login(as_=username).status_code == 302
    full = client.get(f"/photos/{photo_id}.jpg")
    thumb = client.get(f"/photos/{photo_id}/thumb.jpg")
    auth.logout()
    assert full.status_code == 200 and thumb.status_code == 200, (full.status_code,
                                                                   thumb.status_code)
    return full.data, thumb.data


def test_backup_and_restore_carry_the_photos_of_the_configured_store(
        store_kind, app, db, client, auth, make_user, make_household, world, tmp_path):
    helper = make_user("helper", username="backup-helper")
    helper_name = helper.username
    household = make_household(helper=helper, place=world.community)
    shots = [phone_jpeg(seed) for seed in (3, 4)]
    photo_ids = declare(helper, household, shots)
    for photo_id, data in zip(photo_ids, shots, strict=True):
        assert upload(photo_id, data, uploader=helper).status == 201

    store = photo_store()
    assert isinstance(store, S3Store if store_kind == "s3" else LocalStore)
    if store_kind == "s3":  # the photos really are in the bucket, not on the app's disk
        assert not Path(app.config["PHOTO_DIR"]).exists()
    before = {pid: _served(client, auth, helper_name, pid) for pid in photo_ids}
    keys = sorted(k for pid in photo_ids for k in (photo_key(pid), thumb_key(pid)))
    assert sorted(store.keys()) == keys

    result = backup.create_backup(tmp_path / "backups")
    assert sorted(result.manifest["photos"]) == keys
    for pid, (full, thumb) in before.items():
        assert result.manifest["photos"][photo_key(pid)]["sha256"] == \
            hashlib.sha256(full).hexdigest()
        assert result.manifest["photos"][thumb_key(pid)]["sha256"] == \
            hashlib.sha256(thumb).hexdigest()

    _wipe_store(app, store_kind)
    _wipe_database(db)
    assert list(store.keys()) == []

    restored = backup.restore_backup(result.path)
    assert restored.photos == len(keys)
    assert sorted(store.keys()) == keys

    for pid, served in before.items():  # the restored account signs in; same bytes
        assert _served(client, auth, helper_name, pid) == served


def test_restore_refuses_a_store_that_holds_photos(store_kind, app, db, tmp_path):
    store = photo_store()
    store.put("ab/earlier.jpg", b"a photo already there")
    archive = backup.create_backup(tmp_path / "backups").path
    _wipe_database(db)
    with pytest.raises(backup.BackupError, match="不是空的"):
        backup.restore_backup(archive)
    backup.restore_backup(archive, force=True)
    assert store.get("ab/earlier.jpg") == b"a photo already there"


def test_an_unreachable_bucket_fails_the_backup_with_a_message_and_no_archive(
        s3_server, app, tmp_path):
    app.config.update({"PHOTO_STORE": "s3", "S3_ENDPOINT": s3_server,
                       "S3_BUCKET": "no-such-bucket-here", "S3_ACCESS_KEY": "test",
                       "S3_SECRET_KEY": "test", "S3_REGION": "us-east-1"})
    app.extensions.pop("fieldwork_photo_store", None)
    if "backup" not in app.cli.commands:
        backup.register_backup_cli(app)
    try:
        result = app.test_cli_runner().invoke(args=["backup", "--out", str(tmp_path / "b")])
    finally:
        app.extensions.pop("fieldwork_photo_store", None)
    assert result.exit_code == 1
    assert "错误 / error" in result.output and "NoSuchBucket" in result.output
    assert list((tmp_path / "b").iterdir()) == []  # no archive, no partial file

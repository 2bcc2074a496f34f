"""Photos and backups are readable by the app's account only (audit finding 7, in part): the
local store creates directories 0700 and files 0600, and a backup directory the backup
creates is 0700 with the archive 0600 — under the usual umask 022, which would otherwise make
them world-readable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fieldwork.photos.storage import LocalStore, photo_key, thumb_key


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_the_local_store_creates_owner_only_directories_and_files(tmp_path, umask_022):
    root = tmp_path / "instance" / "photos"
    store = LocalStore(root)
    store.put(photo_key("ab123"), b"photo")
    store.put(thumb_key("ab123"), b"thumb")
    store.put("cd/deeper/x.jpg", b"x")

    for directory in (tmp_path / "instance", root, root / "ab", root / "cd", root / "cd/deeper"):
        assert mode(directory) == "0o700", directory
    for file in (root / photo_key("ab123"), root / thumb_key("ab123"), root / "cd/deeper/x.jpg"):
        assert mode(file) == "0o600", file


def test_the_health_check_creates_an_owner_only_store(tmp_path, umask_022):
    root = tmp_path / "photos"
    LocalStore(root).check()
    assert mode(root) == "0o700"
    assert mode(root / ".healthz") == "0o600"


def test_an_overwritten_photo_stays_owner_only(tmp_path, umask_022):
    store = LocalStore(tmp_path)
    store.put("ab/x.jpg", b"first")
    store.put("ab/x.jpg", b"second")
    assert mode(tmp_path / "ab/x.jpg") == "0o600"
    assert store.get("ab/x.jpg") == b"second"


def test_backups_and_restored_photos_are_owner_only(app, db, tmp_path, umask_022):
    from fieldwork import backup
    from fieldwork.photos.storage import photo_store

    app.config.update({"PHOTO_STORE": "local", "PHOTO_DIR": str(tmp_path / "photos")})
    app.extensions.pop("fieldwork_photo_store", None)
    try:
        photo_store().put("ab/x.jpg", b"photo")
        out = tmp_path / "backups" / "nightly"
        archive = backup.create_backup(out).path
        assert mode(out) == "0o700"
        assert mode(out.parent) == "0o700"
        assert mode(archive) == "0o600"

        app.config["PHOTO_DIR"] = str(tmp_path / "restored")
        app.extensions.pop("fieldwork_photo_store", None)
        backup.restore_backup(archive, force=True)
        assert mode(tmp_path / "restored") == "0o700"
        assert mode(tmp_path / "restored" / "ab") == "0o700"
        assert mode(tmp_path / "restored" / "ab" / "x.jpg") == "0o600"
    finally:
        app.extensions.pop("fieldwork_photo_store", None)

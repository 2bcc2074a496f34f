"""The instance directory, the SQLite database (and its WAL files) and the generated keys are
for their owner only (audit issue 11, finding 7): they were created 0755/0644, readable by
every account on the server."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldwork import create_app
from fieldwork.extensions import db
from fieldwork.privacy.crypto import generate_key

SECRETS = ("secret_key", "field_key", "index_key")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def local_install(monkeypatch, tmp_path):
    """An app configured as on a county's own server: nothing but the instance directory,
    under the usual umask 022 that makes new files world-readable."""
    for name in ("DATABASE_URL", "FIELDWORK_SECRET_KEY", "FIELDWORK_FIELD_KEY",
                 "FIELDWORK_INDEX_KEY", "FIELDWORK_PHOTO_DIR", "FIELDWORK_ENV"):
        monkeypatch.delenv(name, raising=False)
    old_umask = os.umask(0o022)
    instance = tmp_path / "srv" / "instance"

    def start():
        app = create_app({"INSTANCE_PATH": str(instance), "TESTING": True,
                          "FIELDWORK_ENV": "testing", "RATELIMIT_ENABLED": False})
        with app.app_context():
            db.create_all()
            with db.engine.begin() as conn:  # a write, so the WAL files exist
                conn.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
                conn.execute(sa.text("INSERT INTO probe VALUES (1)"))
            yield app
            db.session.remove()
            db.engine.dispose()

    try:
        yield instance, start
    finally:
        os.umask(old_umask)


def assert_private(instance: Path, *, wal: bool) -> None:
    assert mode(instance) == 0o700, oct(mode(instance))
    database = instance / "fieldwork.db"
    files = [instance / name for name in SECRETS] + [database]
    if wal:
        files += [Path(f"{database}-wal"), Path(f"{database}-shm")]
    for path in files:
        assert path.exists(), path
        assert mode(path) == 0o600, (path.name, oct(mode(path)))


def test_a_new_instance_is_for_its_owner_only(local_install):
    instance, start = local_install
    assert not instance.exists()
    for _app in start():
        assert_private(instance, wal=True)
    assert_private(instance, wal=False)


def test_an_older_world_readable_instance_is_closed_at_start(local_install):
    instance, start = local_install
    instance.mkdir(parents=True, mode=0o755)
    os.chmod(instance, 0o755)
    database = instance / "fieldwork.db"
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE old (x INTEGER)")
    values = {"secret_key": "old-secret-" + "s" * 40, "field_key": generate_key(),
              "index_key": "old-index-" + "i" * 40}
    for name, value in values.items():
        (instance / name).write_text(value + "\n")
    for path in [instance, database, *(instance / name for name in SECRETS)]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)

    for app in start():
        assert_private(instance, wal=True)
        # Closed, not replaced: the keys are the ones that were there.
        assert app.config["SECRET_KEY"] == values["secret_key"]
        assert app.config["FIELD_KEY"] == values["field_key"]
        assert app.config["INDEX_KEY"] == values["index_key"]

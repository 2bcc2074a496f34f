"""Backup and restore round trip (database + photos + manifest), the refusals that keep a
restore from doing damage, and key rotation. Runs on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldwork import backup
from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.models import Household, Member
from fieldwork.photos.storage import photo_key, photo_store
from fieldwork.places.models import Place
from fieldwork.privacy.crypto import generate_key

from .conftest import ID_A, ID_A_MEMBER, ID_B


def cli(app):
    """The app's command runner, with the backup commands (the lead registers them in
    fieldwork/cli.py; until then the test adds them)."""
    if "backup" not in app.cli.commands:
        backup.register_backup_cli(app)
    return app.test_cli_runner()


@pytest.fixture
def runner(app):
    return cli(app)


def dump(db) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order (what a restore must bring back)."""
    out = {}
    db.session.expire_all()
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def photo_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}


def empty_everything(db, app) -> None:
    db.session.remove()
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    for p in Path(app.config["PHOTO_DIR"]).rglob("*"):
        if p.is_file():
            p.unlink()


def test_round_trip(app, db, scene, tmp_path, runner):
    hh_a_id, photo_a, county_id = scene.hh_a.id, scene.photo_a, scene.world.county.id
    photo_dir = Path(app.config["PHOTO_DIR"])
    before_photos = photo_files(photo_dir)
    assert len(before_photos) == 4  # two photos and their thumbnails
    before = dump(db)

    result = runner.invoke(args=["backup", "--out", str(tmp_path / "backups")])
    assert result.exit_code == 0, result.output
    assert "已备份" in result.output
    [archive] = (tmp_path / "backups").glob("fieldwork-backup-*.tar.gz")
    assert oct(archive.stat().st_mode & 0o777) == "0o600"

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        names = tar.getnames()
    assert manifest["format"] == "fieldwork-backup"
    assert manifest["database"] == db.engine.dialect.name
    assert manifest["tables"]["households"]["rows"] == 2
    assert manifest["tables"]["photos"]["rows"] == 2
    assert set(manifest["photos"]) == set(before_photos)
    assert {f"photos/{p}" for p in before_photos} <= set(names)
    assert all(v["sha256"] == before_photos[p] for p, v in manifest["photos"].items())
    raw = b"".join(tar_bytes(archive).values())
    for number in (ID_A, ID_A_MEMBER, ID_B):
        assert number.encode() not in raw  # ID numbers stay encrypted in the backup

    empty_everything(db, app)
    assert dump(db)["households"] == []

    result = runner.invoke(args=["restore", "--from", str(archive)])
    assert result.exit_code == 0, result.output
    after = dump(db)
    # The backup's own audit event was written after the snapshot; the restore appends one.
    events = after.pop("audit_events")
    assert events[:-1] == before.pop("audit_events")
    assert events[-1][4] == "backup.restore"
    assert after == before
    assert photo_files(photo_dir) == before_photos

    # The restored data works: scope, decryption, photos, new ids after the restored ones.
    from fieldwork.privacy.service import reveal_id

    hh = db.session.get(Household, hh_a_id)
    assert reveal_id(hh.head.id_enc) == ID_A
    assert photo_store().get(photo_key(photo_a)) is not None
    place = Place(code="411302999", name="新街道", level="street", parent_id=county_id)
    db.session.add(place)
    db.session.commit()
    assert place.id > max(r[0] for r in before["places"])


def tar_bytes(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_restore_refuses_a_database_with_data(app, db, scene, tmp_path, runner):
    archive = backup.create_backup(tmp_path).path
    result = runner.invoke(args=["restore", "--from", str(archive)])
    assert result.exit_code == 1
    assert "目标数据库不是空的" in result.output
    assert "--force" in result.output


def test_restore_refuses_a_non_empty_photo_dir(app, db, scene, tmp_path):
    archive = backup.create_backup(tmp_path).path
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())
    with pytest.raises(backup.BackupError, match="照片存储 .* 不是空的"):
        backup.restore_backup(archive)


def test_force_replaces_what_is_there(app, db, scene, tmp_path):
    db.session.expire_on_commit = False
    archive = backup.create_backup(tmp_path).path
    before = dump(db)
    hh = db.session.get(Household, scene.hh_a.id)
    hh.head_name = "改名之后"
    db.session.add(Member(household_id=hh.id, name="后来的人"))
    db.session.commit()
    backup.restore_backup(archive, force=True)
    after = dump(db)
    assert after["households"] == before["households"]
    assert after["members"] == before["members"]


def test_a_damaged_archive_is_refused_before_anything_is_written(app, db, scene, tmp_path):
    archive = backup.create_backup(tmp_path).path
    files = tar_bytes(archive)
    manifest = json.loads(files["manifest.json"])
    files["db/households.jsonl"] = files["db/households.jsonl"].replace(
        "宛城住户甲".encode(), "篡改住户甲".encode())
    damaged = tmp_path / "damaged.tar.gz"
    import io

    with tarfile.open(damaged, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    empty_everything(db, app)
    with pytest.raises(backup.BackupError, match="校验失败"):
        backup.restore_backup(damaged)
    assert dump(db)["households"] == []
    assert not any(Path(app.config["PHOTO_DIR"]).rglob("*.jpg"))
    assert manifest["tables"]["households"]["rows"] == 2


def test_a_truncated_archive_is_refused(app, db, scene, tmp_path):
    archive = backup.create_backup(tmp_path).path
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    empty_everything(db, app)
    with pytest.raises(backup.BackupError):
        backup.restore_backup(cut)
    assert dump(db)["households"] == []


def test_restore_into_a_brand_new_sqlite_database_runs_the_migrations(app, db, scene, tmp_path,
                                                                     app_config):
    """The way to a new machine: an empty database file gets the schema, then the data."""
    from fieldwork import create_app

    archive = backup.create_backup(tmp_path).path
    before = dump(db)
    fresh = create_app({**app_config,
                        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'new.db'}",
                        "PHOTO_DIR": str(tmp_path / "new-photos")})
    with fresh.app_context():
        backup.restore_backup(archive)
        after = dump(_db)
        revision = _db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        _db.session.remove()
        _db.engine.dispose()
    assert revision
    for name in ("households", "members", "visits", "photos", "places", "users"):
        assert after[name] == before[name], name
    assert len(photo_files(tmp_path / "new-photos")) == 4


def test_the_snapshot_is_consistent(app, db, scene, tmp_path, monkeypatch):
    """A write that lands while the backup is being read is either wholly in it or not at
    all: rows are read from one snapshot."""
    original = backup._dump_table
    written = []

    def dump_then_write(conn, table, path):
        result = original(conn, table, path)
        if table.name == "places" and not written:
            # Another request commits a household (and its audit event) mid-backup.
            engine = sa.create_engine(db.engine.url)
            with engine.begin() as other:
                other.execute(sa.update(Household.__table__).where(
                    Household.id == hh_a_id).values(head_name="备份中改名"))
            engine.dispose()
            written.append(True)
        return result

    monkeypatch.setattr(backup, "_dump_table", dump_then_write)
    hh_a_id = scene.hh_a.id
    db.session.remove()  # the test's own session must not hold SQLite's write lock
    archive = backup.create_backup(tmp_path).path
    assert written
    rows = tar_bytes(archive)["db/households.jsonl"].decode()
    assert "宛城住户甲" in rows and "备份中改名" not in rows


# ---------------------------------------------------------------- key rotation


@pytest.fixture
def rotated_app(app_config, scene, db):
    """The same database with a new key in front of the old one."""
    from fieldwork import create_app

    new_key = generate_key()
    app2 = create_app({**app_config, "FIELD_KEY": f"{new_key},{app_config['FIELD_KEY']}"})
    return app2, new_key


def test_rotate_keys_reencrypts_everything_with_the_newest_key(rotated_app, db, scene,
                                                               app_config):
    from cryptography.fernet import Fernet

    from fieldwork import create_app

    app2, new_key = rotated_app
    old_tokens = dump(db)["members"]
    hh_a_id = scene.hh_a.id
    db.session.remove()  # another process rotates: this session holds no lock or snapshot
    with app2.app_context():
        result = cli(app2).invoke(args=["rotate-keys"])
        assert result.exit_code == 0, result.output
        # The heads' IDs are on their member rows (one person, one ID): 2 heads + 2 children.
        assert "households" not in result.output
        assert "members.id_enc: 重新加密 4" in result.output
        _db.session.remove()
    only_new = Fernet(new_key.encode())
    db.session.expire_all()
    for hh in db.session.scalars(sa.select(Household)):
        assert only_new.decrypt(hh.head.id_enc.encode()).decode() in (ID_A, ID_B)
    for m in db.session.scalars(sa.select(Member)):
        assert only_new.decrypt(m.id_enc.encode()).decode()
    assert dump(db)["members"] != old_tokens
    # The old key can now be dropped: an app with only the new key reads everything.
    app3 = create_app({**app_config, "FIELD_KEY": new_key})
    with app3.app_context():
        from fieldwork.privacy.service import reveal_id

        assert reveal_id(_db.session.get(Household, hh_a_id).head.id_enc) == ID_A
        _db.session.remove()
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "keys.rotate"))
    assert [e.detail["rotated"] for e in events] == [4]


def test_rotate_keys_reindex_follows_a_new_index_key(app_config, db, scene, client):
    from fieldwork import create_app
    from fieldwork.privacy.crypto import FieldCipher, derive_index_key

    app2 = create_app({**app_config, "INDEX_KEY": "a-brand-new-index-key-0123456789"})
    hh_a_id = scene.hh_a.id
    db.session.remove()
    with app2.app_context():
        result = cli(app2).invoke(args=["rotate-keys", "--reindex",
                                                     "--batch-size", "1"])
        assert result.exit_code == 0, result.output
        assert "重建索引 4" in result.output
        _db.session.remove()
    fresh = FieldCipher(app_config["FIELD_KEY"],
                        derive_index_key("a-brand-new-index-key-0123456789"))
    hh = db.session.get(Household, hh_a_id)
    assert hh.head.id_index == fresh.blind_index(ID_A)


def test_rotate_keys_reports_what_it_cannot_read(app_config, db, scene):
    from fieldwork import create_app

    app2 = create_app({**app_config, "FIELD_KEY": generate_key()})  # the old key is lost
    hh_a_id, token = scene.hh_a.id, scene.hh_a.head.id_enc
    db.session.remove()
    with app2.app_context():
        result = cli(app2).invoke(args=["rotate-keys"])
        _db.session.remove()
    assert result.exit_code == 1
    assert "无法解密" in result.output
    assert db.session.get(Household, hh_a_id).head.id_enc == token

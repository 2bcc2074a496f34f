"""Backup and restore: `flask --app app backup | restore` (key rotation: privacy/rotation.py).

The backup format is the same on SQLite and PostgreSQL, so one restore path serves both and a
SQLite backup can even be restored into PostgreSQL (the way off a single-machine install):

* a consistent snapshot of the database — SQLite: a copy taken with the sqlite3 online backup
  API, then read; PostgreSQL: one REPEATABLE READ, READ ONLY transaction — written as one
  JSON-lines file per table (``db/<table>.jsonl``, one object per row, primary-key order);
* every photo of the configured photo store (``photos/<key>``) — the local directory or the
  S3-compatible bucket, read through the store's own interface (keys, get, put), so a backup
  of an S3 installation holds its photos too. Read after the database snapshot: a photo is
  written before the row that marks it stored is committed, so every photo the snapshot knows
  of is already stored (later ones are harmless extras);
* ``manifest.json``: format, creation time, database kind, schema revision (Alembic), row
  count and SHA-256 of every table file, size and SHA-256 of every photo.

Why not pg_dump: its output restores only into PostgreSQL of a compatible version, needs the
client binaries of the server's major version on the backup host, and cannot be checked
row-by-row against a manifest. The JSON-lines dump goes through the same SQLAlchemy types the
app uses (UTC timestamps, decimals, JSON) and is verified before a single row is written.

Restore refuses a database that holds any row, or a photo store that holds any photo,
unless ``--force``; it checks every hash first, writes the photos through the store (each one
atomically), then inserts every table in one transaction, and finally compares the row counts
with the manifest.

The archive is written 0600 and a backup directory that does not exist yet is created 0700.

The archive holds personal data (names, addresses, health, incomes, photos); ID numbers stay
encrypted in it, readable only with FIELDWORK_FIELD_KEY — keep the keys apart from backups.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from fieldwork.audit import services as audit
from fieldwork.extensions import db
from fieldwork.photos.storage import make_private_dirs, photo_store

FORMAT = "fieldwork-backup"
FORMAT_VERSION = 1
BATCH = 1000


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why (in Chinese)."""


# ---------------------------------------------------------------- values <-> JSON


def _base_type(column: sa.Column) -> sa.types.TypeEngine:
    t = column.type
    return t.impl_instance if isinstance(t, TypeDecorator) else t


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        raise BackupError("binary columns are not supported by the backup format")
    return value


def _from_json(column: sa.Column, value: Any) -> Any:
    if value is None:
        return None
    base = _base_type(column)
    if isinstance(base, sa.DateTime):
        parsed = datetime.fromisoformat(value)
        if isinstance(column.type, TypeDecorator) and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    if isinstance(base, sa.Date):
        return date.fromisoformat(value)
    if isinstance(base, sa.Float):
        return float(value)
    if isinstance(base, sa.Numeric):
        return Decimal(value)
    return value


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- the snapshot


@contextmanager
def snapshot_connection() -> Iterator[Connection]:
    """A connection that sees one consistent state of the whole database."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="fieldwork-snapshot-"))
        copy = folder / "snapshot.db"
        raw = engine.raw_connection()
        try:
            target = sqlite3.connect(copy)
            try:
                # online, consistent, page by page
                cast(sqlite3.Connection, raw.driver_connection).backup(target)
            finally:
                target.close()
        finally:
            raw.close()
        snap = sa.create_engine(f"sqlite:///{copy}")
        try:
            with snap.connect() as conn:
                yield conn
        finally:
            snap.dispose()
            shutil.rmtree(folder, ignore_errors=True)
    elif engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                yield conn
    else:  # pragma: no cover - config.py accepts only these two
        raise BackupError(f"不支持的数据库类型 {engine.dialect.name}")


def schema_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _dump_table(conn: Connection, table: sa.Table, path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    rows = 0
    names = [c.name for c in table.columns]
    query = sa.select(table).order_by(*table.primary_key.columns)
    with path.open("wb") as fh:
        result = conn.execution_options(yield_per=BATCH).execute(query)
        for row in result:
            line = json.dumps({n: _to_json(v) for n, v in zip(names, row, strict=True)},
                              ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
            fh.write(line)
            digest.update(line)
            rows += 1
    return rows, digest.hexdigest()


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]


def create_backup(out_dir: Path) -> BackupResult:
    """Write fieldwork-backup-<UTC time>.tar.gz into out_dir and return its path and manifest."""
    out_dir = Path(out_dir)
    make_private_dirs(out_dir)
    now = datetime.now(UTC)
    name = f"fieldwork-backup-{now:%Y%m%dT%H%M%SZ}"
    staging = Path(tempfile.mkdtemp(prefix="fieldwork-backup-"))
    try:
        (staging / "db").mkdir()
        manifest: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_at": now.isoformat(), "database": db.engine.dialect.name,
            "schema_revision": None, "tables": {}, "photos": {},
        }
        with snapshot_connection() as conn:
            manifest["schema_revision"] = schema_revision(conn)
            for table in db.metadata.sorted_tables:
                rows, digest = _dump_table(conn, table, staging / "db" / f"{table.name}.jsonl")
                manifest["tables"][table.name] = {"rows": rows, "sha256": digest}
        store = photo_store()
        part = out_dir / f".{name}.tar.gz.part"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                for table in db.metadata.sorted_tables:
                    tar.add(staging / "db" / f"{table.name}.jsonl",
                            arcname=f"db/{table.name}.jsonl", recursive=False)
                for rel in store.keys():
                    data = store.get(rel)
                    if data is None:  # deleted since it was listed
                        continue
                    manifest["photos"][rel] = {"bytes": len(data),
                                               "sha256": hashlib.sha256(data).hexdigest()}
                    info = tarfile.TarInfo(f"photos/{rel}")
                    info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
                    tar.addfile(info, io.BytesIO(data))
                body = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
                info = tarfile.TarInfo("manifest.json")
                info.size, info.mtime, info.mode = len(body), int(now.timestamp()), 0o600
                tar.addfile(info, io.BytesIO(body))
                raw.flush()
                os.fsync(raw.fileno())
            final = out_dir / f"{name}.tar.gz"
            os.replace(part, final)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _audit("backup.create", file=final.name, tables=len(manifest["tables"]),
           photos=len(manifest["photos"]))
    return BackupResult(final, manifest)


# ---------------------------------------------------------------- restore


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    rows: dict[str, int] = field(default_factory=dict)
    photos: int = 0


def _extract(archive: Path, into: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                if not m.isfile() or m.name.startswith("/") or ".." in Path(m.name).parts:
                    raise BackupError(f"备份文件中有不安全的条目：{m.name}")
            tar.extractall(into, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"无法读取备份文件 {archive}：{exc}") from exc
    manifest_path = into / "manifest.json"
    if not manifest_path.exists():
        raise BackupError("备份文件中缺少 manifest.json，不是 fieldwork 备份或已损坏")
    manifest = json.loads(manifest_path.read_text("utf-8"))
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError("备份文件格式不受支持")
    return manifest


def verify_extracted(root: Path, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there with its hash, and nothing else is."""
    listed = {f"db/{t}.jsonl": v["sha256"] for t, v in manifest["tables"].items()}
    listed |= {f"photos/{p}": v["sha256"] for p, v in manifest["photos"].items()}
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    present.discard("manifest.json")
    missing = sorted(set(listed) - present)
    extra = sorted(present - set(listed))
    if missing:
        raise BackupError(f"备份文件不完整，缺少：{', '.join(missing[:5])}")
    if extra:
        raise BackupError(f"备份文件中有清单之外的文件：{', '.join(extra[:5])}")
    for rel, digest in listed.items():
        if _sha256_file(root / rel) != digest:
            raise BackupError(f"校验失败：{rel} 与清单中的 SHA-256 不符，备份文件可能已损坏")


def _ordered_rows(table: sa.Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with parents before children for self-referencing tables (the place tree)."""
    self_refs = [fk for fk in table.foreign_keys if fk.column.table is table]
    if not self_refs:
        return rows
    pk = next(iter(table.primary_key.columns)).name
    pairs = [(fk.parent.name, fk.column.name) for fk in self_refs]
    done: set[Any] = set()
    out: list[dict[str, Any]] = []
    pending = rows
    while pending:
        ready = [r for r in pending
                 if all(r.get(child) is None or r.get(child) in done
                        or r.get(child) == r.get(pk) for child, _ in pairs)]
        if not ready:
            raise BackupError(f"表 {table.name} 中存在无法排序的循环引用")
        for r in ready:
            done.add(r.get(pk))
        out.extend(ready)
        ready_ids = {id(r) for r in ready}
        pending = [r for r in pending if id(r) not in ready_ids]
    return out


def _read_rows(path: Path, table: sa.Table) -> Iterator[dict[str, Any]]:
    columns = {c.name: c for c in table.columns}
    with path.open("r", encoding="utf-8") as fh:
        for line in fh:
            raw = json.loads(line)
            unknown = set(raw) - set(columns)
            if unknown:
                raise BackupError(
                    f"备份中表 {table.name} 有当前数据库没有的列：{', '.join(sorted(unknown))}")
            yield {k: _from_json(columns[k], v) for k, v in raw.items()}


def _row_counts(conn: Connection) -> dict[str, int]:
    inspector = sa.inspect(conn)
    return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in db.metadata.sorted_tables if inspector.has_table(t.name)}


def _prepare_schema(manifest: dict[str, Any]) -> None:
    """Create the tables by migration when the database is brand new; refuse another schema."""
    with db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        existing = [t.name for t in db.metadata.sorted_tables if inspector.has_table(t.name)]
        current = schema_revision(conn)
    wanted = manifest.get("schema_revision")
    if not existing:
        from flask_migrate import upgrade

        upgrade(revision=wanted or "head")
        return
    if len(existing) != len(db.metadata.sorted_tables):
        missing = sorted({t.name for t in db.metadata.sorted_tables} - set(existing))
        raise BackupError(f"数据库缺少表：{', '.join(missing)}；请先执行 flask db upgrade")
    if wanted and current and wanted != current:
        raise BackupError(
            f"备份的数据库结构版本 {wanted} 与当前数据库的 {current} 不同：请用与备份同一版本的"
            "程序恢复，再执行 flask db upgrade")


def _reset_sequences(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    for table in db.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not isinstance(_base_type(pk[0]), sa.Integer):
            continue
        seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                           {"t": table.name, "c": pk[0].name}).scalar()
        if seq:
            top = conn.execute(sa.select(sa.func.max(pk[0]))).scalar()
            conn.execute(sa.text("SELECT setval(:s, :v, :called)"),
                         {"s": seq, "v": top or 1, "called": top is not None})


def restore_backup(archive: Path, *, force: bool = False) -> RestoreResult:
    """Bring a backup back into this app's database and photo store."""
    work = Path(tempfile.mkdtemp(prefix="fieldwork-restore-"))
    try:
        manifest = _extract(Path(archive), work)
        verify_extracted(work, manifest)
        unknown = set(manifest["tables"]) - {t.name for t in db.metadata.sorted_tables}
        if unknown:
            raise BackupError(f"备份中有当前程序不认识的表：{', '.join(sorted(unknown))}")
        _prepare_schema(manifest)
        db.session.remove()
        with db.engine.connect() as conn:
            counts = _row_counts(conn)
        if any(counts.values()) and not force:
            busy = ", ".join(f"{t}={n}" for t, n in counts.items() if n)
            raise BackupError(f"目标数据库不是空的（{busy}）；确认要覆盖请加 --force")
        store = photo_store()
        if any(True for _ in store.keys()) and not force:
            raise BackupError(f"照片存储 {store.describe()} 不是空的；确认要覆盖请加 --force")

        result = RestoreResult(manifest)
        for rel in manifest["photos"]:
            try:
                store.put(rel, (work / "photos" / rel).read_bytes())
            except ValueError as exc:
                raise BackupError(f"不安全的照片路径：{rel}") from exc
            result.photos += 1
        with db.engine.begin() as conn:
            if any(counts.values()):
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
            for table in db.metadata.sorted_tables:
                if table.name not in manifest["tables"]:
                    continue
                rows = _ordered_rows(table, list(
                    _read_rows(work / "db" / f"{table.name}.jsonl", table)))
                for start in range(0, len(rows), BATCH):
                    conn.execute(table.insert(), rows[start:start + BATCH])
                result.rows[table.name] = len(rows)
            _reset_sequences(conn)
            after = _row_counts(conn)
            for name, info in manifest["tables"].items():
                if after.get(name) != info["rows"]:
                    raise BackupError(f"恢复后表 {name} 的行数 {after.get(name)} 与备份的 "
                                      f"{info['rows']} 不符，已撤销")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _audit("backup.restore", file=Path(archive).name, tables=len(result.rows),
           photos=result.photos, force=force)
    return result


def _audit(action: str, **detail: Any) -> None:
    audit.record(action, username=audit.cli_username(), **detail)
    db.session.commit()


# ---------------------------------------------------------------- command line


def _store_errors() -> tuple[type[BaseException], ...]:
    """What a photo store raises when it cannot be reached: a disk error, or an S3 error."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is only needed for the S3 store
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


def _fail(message: str) -> None:
    click.secho(f"错误 / error: {message}", fg="red", err=True)
    sys.exit(1)


@click.command("backup")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path), help="备份文件存放的目录")
@with_appcontext
def backup_command(out_dir: Path) -> None:
    """Write a consistent snapshot (database + photos + manifest) as a .tar.gz."""
    failures: tuple[type[BaseException], ...] = (BackupError, *_store_errors())
    try:
        result = create_backup(out_dir)
    except failures as exc:
        _fail(str(exc))
    m = result.manifest
    rows = sum(t["rows"] for t in m["tables"].values())
    click.echo(f"已备份 / written: {result.path}  ({len(m['tables'])} 张表 {rows} 行，"
               f"{len(m['photos'])} 个照片文件，结构版本 {m['schema_revision'] or '—'})")


@click.command("restore")
@click.option("--from", "archive", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), help="备份文件")
@click.option("--force", is_flag=True, help="目标数据库或照片目录不是空的也覆盖")
@with_appcontext
def restore_command(archive: Path, force: bool) -> None:
    """Restore a backup into an empty database and photo store (stop the app first)."""
    failures: tuple[type[BaseException], ...] = (BackupError, *_store_errors())
    try:
        result = restore_backup(archive, force=force)
    except failures as exc:
        _fail(str(exc))
    click.echo(f"已恢复 / restored: {sum(result.rows.values())} 行，{result.photos} 个照片文件")


backup_cli = (backup_command, restore_command)


def register_backup_cli(app: Flask) -> None:
    for command in backup_cli:
        app.cli.add_command(command)

"""Key rotation: `flask --app app rotate-keys [--reindex]` re-encrypts every ID number with the
newest FIELDWORK_FIELD_KEY and, with --reindex, recomputes every blind index with the current
FIELDWORK_INDEX_KEY (docs/security.md, "Keys"). It lives with the privacy code it serves;
backup.py only copies the encrypted values.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from fieldwork.audit import services as audit
from fieldwork.extensions import db
from fieldwork.privacy.crypto import DecryptionError
from fieldwork.privacy.service import cipher


@dataclass
class RotateResult:
    rotated: dict[str, int] = field(default_factory=dict)
    reindexed: dict[str, int] = field(default_factory=dict)
    failed: dict[str, list[str]] = field(default_factory=dict)


def encrypted_columns() -> list[tuple[sa.Table, sa.Column, sa.Column | None]]:
    """Every encrypted column (named *_enc) with its blind-index column (*_index) if any."""
    out = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith("_enc"):
                index = table.columns.get(column.name[:-4] + "_index")
                out.append((table, column, index))
    return out


def rotate_keys(*, reindex: bool = False, batch_size: int = 500) -> RotateResult:
    """Re-encrypt every encrypted value with the newest FIELD_KEY (first in the list) and, with
    reindex, recompute every blind index with the current INDEX_KEY. One transaction per batch:
    an interrupted run leaves a mix of old and new tokens that the key list still reads, so it
    can simply be run again."""
    c = cipher()
    result = RotateResult()
    for table, column, index in encrypted_columns():
        pk = next(iter(table.primary_key.columns))
        label = f"{table.name}.{column.name}"
        result.rotated[label] = 0
        if reindex and index is not None:
            result.reindexed[label] = 0
        last: Any = None
        while True:
            query = sa.select(pk, column).where(column.is_not(None)).order_by(pk).limit(batch_size)
            if last is not None:
                query = query.where(pk > last)
            with db.engine.begin() as conn:
                rows = conn.execute(query).all()
                if not rows:
                    break
                updates = []
                for key, token in rows:
                    try:
                        values: dict[str, Any] = {"_pk": key, "_enc": c.rotate(token)}
                        if reindex and index is not None:
                            values["_index"] = c.blind_index(c.decrypt(token))
                    except DecryptionError:
                        result.failed.setdefault(label, []).append(str(key))
                        continue
                    updates.append(values)
                if updates:
                    values_map: dict[str, Any] = {column.name: sa.bindparam("_enc")}
                    if reindex and index is not None:
                        values_map[index.name] = sa.bindparam("_index")
                    conn.execute(table.update().where(pk == sa.bindparam("_pk"))
                                 .values(values_map), updates)
                result.rotated[label] += len(updates)
                if reindex and index is not None:
                    result.reindexed[label] += len(updates)
                last = rows[-1][0]
    audit.record("keys.rotate", username=audit.cli_username(), reindex=reindex,
                 rotated=sum(result.rotated.values()),
                 failed=sum(len(v) for v in result.failed.values()))
    db.session.commit()
    return result


def _fail(message: str) -> None:
    click.secho(f"错误 / error: {message}", fg="red", err=True)
    sys.exit(1)


@click.command("rotate-keys")
@click.option("--reindex", is_flag=True,
              help="同时用当前的 FIELDWORK_INDEX_KEY 重新计算所有盲索引（更换索引密钥后使用）")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
@with_appcontext
def rotate_keys_command(reindex: bool, batch_size: int) -> None:
    """Re-encrypt every ID number with the newest FIELDWORK_FIELD_KEY."""
    result = rotate_keys(reindex=reindex, batch_size=batch_size)
    for label, n in result.rotated.items():
        extra = f"，重建索引 {result.reindexed[label]}" if label in result.reindexed else ""
        click.echo(f"{label}: 重新加密 {n}{extra}")
    if result.failed:
        for label, keys in result.failed.items():
            click.secho(f"{label}: {len(keys)} 条无法解密（主键 {', '.join(keys[:10])}）",
                        fg="red", err=True)
        _fail("部分记录无法用当前的密钥列表解密：请把旧密钥加回 FIELDWORK_FIELD_KEY 后重试")

"""`flask db upgrade` builds, from an empty database, exactly the schema the models describe,
and the migrations run down to nothing and up again. On SQLite always; on PostgreSQL too when
TEST_DATABASE_URL is set (in a scratch database of its own)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from fieldwork.extensions import db


def _differences() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_there_is_one_head(migrating_app):
    script = ScriptDirectory.from_config(migrating_app.extensions["migrate"].migrate.get_config())
    assert len(script.get_heads()) == 1, script.get_heads()


def test_upgrade_from_empty_gives_exactly_the_models_schema(migrating_app):
    assert _tables() == set()
    upgrade()
    assert {t.name for t in db.metadata.sorted_tables} <= _tables()
    assert _differences() == []


def test_downgrade_to_base_and_upgrade_again(migrating_app):
    upgrade()
    downgrade(revision="base")
    assert _tables() <= {"alembic_version"}
    upgrade()
    assert _differences() == []
    # The schema takes real rows: a place and a user referencing it.
    with db.engine.begin() as conn:
        conn.execute(sa.text(
            "insert into places (code, official_code, name, level, path) "
            "values ('411300', true, '南阳市', 'city', '/1/')"))
        assert conn.execute(sa.text("select count(*) from places")).scalar() == 1

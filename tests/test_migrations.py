"""`flask db upgrade` builds, from an empty database, exactly the schema the models describe,
and the migrations run down to nothing and up again. On SQLite always; on PostgreSQL too when
TEST_DATABASE_URL is set (in a scratch database of its own)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from fieldwork import create_app
from fieldwork.extensions import db
from fieldwork.privacy.crypto import generate_key
from tests.factories import postgres_database

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        yield from postgres_database(os.environ["TEST_DATABASE_URL"], "fieldwork_migrate")


@pytest.fixture
def migrating_app(empty_database, tmp_path, keep_logging):
    """An app on an empty database (not the test schema, which create_all built)."""
    app = create_app({
        "TESTING": True,
        "FIELDWORK_ENV": "testing",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": empty_database,
        "SECRET_KEY": "migrations",
        "FIELD_KEY": generate_key(),
        "INDEX_KEY": "migrations-index",
    })
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


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

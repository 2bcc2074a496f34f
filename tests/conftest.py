"""Shared fixtures: an app on a temporary database (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set, each run in its own database), the client, login helpers and
factories that build just the data a test needs."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

from fieldwork import create_app
from fieldwork.extensions import db as _db
from fieldwork.privacy.crypto import generate_key
from tests.factories import postgres_database

PASSWORD = "test-pass-123"
_HASH = generate_password_hash(PASSWORD, method="scrypt")
FIELD_KEY = generate_key()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        yield from postgres_database(base)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def _schema(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tables, created once per run (tests only; the app itself uses migrations)."""
    app = create_app(_test_config(database_url, tmp_path_factory.mktemp("schema")))
    with app.app_context():
        _db.create_all()
        # Stamp the migration head, as `flask db upgrade` would: /healthz checks it.
        from fieldwork.health import migration_heads

        with _db.engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS alembic_version "
                                 "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
            conn.execute(sa.text("DELETE FROM alembic_version"))
            conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"),
                         {"v": migration_heads()[0]})
        _db.engine.dispose()
    return database_url


def _test_config(database_url: str, instance: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "FIELDWORK_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(instance),
        "PHOTO_DIR": str(instance / "photos"),
        "SECRET_KEY": "test-secret",
        "FIELD_KEY": FIELD_KEY,
        "INDEX_KEY": "test-index-key",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "localhost",
    }


@pytest.fixture
def app_config(_schema: str, tmp_path: Path) -> dict[str, Any]:
    """Override in a test module (or update in a test) to change the app's config."""
    return _test_config(_schema, tmp_path / "instance")


def _clear_g_per_request(application):
    """Give every test-client request its own `g`, as a server does.

    The app context pushed for a test is reused by the client's requests (Flask 3.1), so
    without this `g` carries Flask-Login's loaded user, Flask-Babel's locale and Flask-WTF's
    CSRF token from one request to the next: a session that the server ended would still look
    logged in.
    """
    from flask import g, request_started

    baseline = set(vars(g._get_current_object()))

    def clear(sender, **extra):
        state = g._get_current_object()
        for key in [k for k in vars(state) if k not in baseline]:
            delattr(state, key)

    return request_started.connected_to(clear, application)


@pytest.fixture
def app(app_config: dict[str, Any]):
    application = create_app(app_config)
    with application.app_context(), _clear_g_per_request(application):
        yield application
        _db.session.remove()
        _truncate()
        _db.engine.dispose()


def _truncate() -> None:
    tables = list(reversed(_db.metadata.sorted_tables))
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def fresh_g(app):
    """Kept for the tests that ask for it; every app now clears `g` per request (see app)."""
    yield


class Auth:
    def __init__(self, client) -> None:
        self.client = client

    def login(self, as_: Any, password: str = PASSWORD, remember: bool = False):
        username = as_ if isinstance(as_, str) else as_.username
        data = {"username": username, "password": password}
        if remember:
            data["remember"] = "y"
        return self.client.post("/login", data=data)

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client) -> Auth:
    return Auth(client)


# ---------------------------------------------------------------- factories

class World:
    """A small place tree: the city, two counties, streets and communities."""

    def __init__(self) -> None:
        from fieldwork.places.models import DibaoStandard, Place, PolicySettings

        def add(code, name, level, parent, lat=33.0, lon=112.5):
            p = Place(code=code, name=name, level=level, parent=parent, lat=lat, lon=lon)
            _db.session.add(p)
            _db.session.flush()
            p.path = f"{parent.path if parent else '/'}{p.id}/"
            return p

        self.city = add("411300", "南阳市", "city", None)
        self.county = add("411302", "宛城区", "county", self.city, 32.994, 112.540)
        self.county_b = add("411303", "卧龙区", "county", self.city, 32.989, 112.520)
        self.street = add("411302001", "东关街道", "street", self.county)
        self.street_2 = add("411302002", "新华街道", "street", self.county)
        self.street_b = add("411303001", "七一街道", "street", self.county_b)
        self.community = add("411302001001", "和平社区", "community", self.street, 32.995, 112.541)
        self.community_2 = add("411302001002", "幸福社区", "community", self.street)
        self.community_3 = add("411302002001", "民主社区", "community", self.street_2)
        self.community_b = add("411303001001", "光明社区", "community", self.street_b)
        for county in (self.county, self.county_b):
            _db.session.add(PolicySettings(place=county))
            # A 城镇低保标准 in force long before any test's months (what the migration of the
            # old single "低保 line" gives each county, with an earlier date).
            _db.session.add(DibaoStandard(place=county, amount=Decimal("630"),
                                          effective_from=date(2020, 1, 1)))
        _db.session.commit()


@pytest.fixture
def world(app) -> World:
    return World()


@pytest.fixture
def make_user(app, world):
    from fieldwork.accounts.models import User

    counter = iter(range(1, 10_000))

    def make(role: str = "helper", place=None, username: str | None = None, **kw):
        place = place or {
            "helper": world.street, "community_worker": world.community,
            "street_reviewer": world.street, "county_officer": world.county,
            "city_supervisor": world.city, "admin": world.city,
        }[role]
        user = User(username=username or f"{role.replace('_', '-')}-{next(counter)}",
                    role=role, place=place, display_name=kw.pop("display_name", "测试用户"),
                    password_hash=_HASH, **kw)
        _db.session.add(user)
        _db.session.commit()
        return user

    return make


@pytest.fixture
def make_household(app, world):
    from fieldwork.households.models import Assignment, Household, Member

    counter = iter(range(1, 100_000))

    def make(place=None, helper=None, status: str = "enrolled", assigned_on: date | None = None,
             **kw):
        """head_id_enc / head_id_index / head_id_mask: the ID of the head, who is then a
        member (relation self) -- the household itself holds no ID."""
        n = next(counter)
        head_id = {k: kw.pop(f"head_{k}") for k in ("id_enc", "id_index", "id_mask")
                   if f"head_{k}" in kw}
        hh = Household(head_name=kw.pop("head_name", f"住户{n}"),
                       address=kw.pop("address", f"东关街道建设路{n}号"),
                       category=kw.pop("category", "below_dibao"), causes=kw.pop("causes",
                       ["illness"]), status=status, members_count=kw.pop("members_count", 3),
                       per_capita_income=kw.pop("per_capita_income", Decimal("500")),
                       file_no=kw.pop("file_no", f"TEST-{n:05d}"), **kw)
        hh.set_place(place or world.community)
        if head_id:
            hh.members.append(Member(name=hh.head_name, relation="self", **head_id))
        _db.session.add(hh)
        _db.session.flush()
        if helper is not None:
            _db.session.add(Assignment(household=hh, helper=helper,
                                       start_date=assigned_on or date(2020, 1, 1)))
        _db.session.commit()
        return hh

    return make


@pytest.fixture
def make_visit(app):
    from fieldwork.timeutil import month_key
    from fieldwork.visits.models import Visit

    def make(household, helper, visited_at: datetime | None = None, **kw):
        at = visited_at or datetime.now(UTC) - timedelta(hours=1)
        visit = Visit(id=kw.pop("id", str(uuid.uuid4())), household_id=household.id,
                      helper_id=helper.id, visited_at=at, month=month_key(at),
                      answers=kw.pop("answers", {}), **kw)
        _db.session.add(visit)
        _db.session.commit()
        return visit

    return make


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """Alembic's env.py runs logging.fileConfig, which disables every logger that exists (the
    app's included); put them back so later tests still see log records."""
    manager = logging.Logger.manager
    disabled = {name: lg.disabled for name, lg in manager.loggerDict.items()
                if isinstance(lg, logging.Logger)}
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for name, was in disabled.items():
        logger = manager.loggerDict.get(name)
        if isinstance(logger, logging.Logger):
            logger.disabled = was
    root.handlers[:] = handlers
    root.setLevel(level)



@pytest.fixture
def count_statements(app) -> Iterator[list[str]]:
    """The SQL statements the test runs while it is active (for query-count guards)."""
    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(_db.engine, "before_cursor_execute", listener)
    yield seen
    sa.event.remove(_db.engine, "before_cursor_execute", listener)


# ---------------------------------------------------------------- migrations

MIGRATION_BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(params=MIGRATION_BACKENDS)
def empty_database(request, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, on each backend the run has."""
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
        _db.session.remove()
        _db.engine.dispose()

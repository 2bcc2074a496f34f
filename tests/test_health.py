"""GET /healthz: what a load balancer and the county's monitoring see. 200 only when the
database answers, its schema is at the code's migration head and the photo store is writable;
503 naming the failing part otherwise; no login; nothing secret in the body."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from fieldwork import create_app
from fieldwork.extensions import db as _db
from fieldwork.health import init_health, migration_heads

HEAD = ",".join(migration_heads())


@pytest.fixture
def health_app(app):
    init_health(app)
    return app


@pytest.fixture
def revision(health_app):
    """Set the schema revision the database reports, as `flask db stamp` does (None: no
    alembic_version table, never migrated); the test schema's own state is put back after."""

    def exists() -> bool:
        return sa.inspect(_db.engine).has_table("alembic_version")

    before = (list(_db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
              if exists() else None)
    _db.session.rollback()

    def set_revision(value: str | None) -> None:
        if exists():
            _db.session.execute(sa.text("DROP TABLE alembic_version"))
        if value is not None:
            _db.session.execute(sa.text(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
            _db.session.execute(sa.text(
                "INSERT INTO alembic_version (version_num) VALUES (:r)"), {"r": value})
        _db.session.commit()

    yield set_revision
    _db.session.rollback()
    set_revision(before[0] if before else None)
    if before == []:  # the table existed, empty
        set_revision("")
        _db.session.execute(sa.text("DELETE FROM alembic_version"))
        _db.session.commit()


def test_a_healthy_server_answers_200_with_its_schema_revision(client, revision):
    revision(HEAD)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "storage": "ok",
                                   "revision": HEAD}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers  # no session for probes


def test_a_database_behind_the_code_fails_the_check(client, revision):
    revision("0000aaaa0000")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["database"] == "outdated"
    assert body["revision"] == "0000aaaa0000"
    assert body["expected_revision"] == HEAD
    assert body["storage"] == "ok"


def test_a_database_never_migrated_fails_the_check(client, revision):
    revision(None)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "not migrated"


def test_an_unwritable_photo_store_fails_the_check(client, revision, health_app, tmp_path):
    revision(HEAD)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the photo folder should be")
    health_app.config["PHOTO_DIR"] = str(blocker / "photos")
    health_app.extensions.pop("fieldwork_photo_store", None)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body == {"status": "error", "database": "ok", "storage": "not writable",
                    "revision": HEAD}
    assert str(tmp_path) not in response.get_data(as_text=True)
    health_app.extensions.pop("fieldwork_photo_store", None)


def test_an_unreachable_database_fails_the_check_without_telling_where_it_is(tmp_path):
    missing = tmp_path / "no-such-folder" / "fieldwork.db"
    app = create_app({"TESTING": True, "FIELDWORK_ENV": "testing",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}",
                      "INSTANCE_PATH": str(tmp_path / "instance"),
                      "PHOTO_DIR": str(tmp_path / "photos"),
                      "SECRET_KEY": "test-secret", "INDEX_KEY": "test-index-key"})
    init_health(app)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "unreachable" and body["storage"] == "ok"
    text = response.get_data(as_text=True)
    assert "no-such-folder" not in text and "sqlite" not in text
    assert app.config["SECRET_KEY"] not in text


def test_no_login_is_needed_and_nothing_secret_is_said(client, revision, health_app,
                                                      make_user, auth):
    revision(HEAD)
    helper = make_user("helper")
    anonymous = client.get("/healthz")
    auth.login(as_=helper)
    logged_in = client.get("/healthz")
    assert anonymous.status_code == logged_in.status_code == 200
    assert anonymous.get_json() == logged_in.get_json()
    text = anonymous.get_data(as_text=True)
    for secret in (health_app.config["SECRET_KEY"], health_app.config["INDEX_KEY"],
                   health_app.config["SQLALCHEMY_DATABASE_URI"], helper.username):
        assert secret not in text
    assert set(json.loads(text)) == {"status", "database", "storage", "revision"}


def test_after_flask_db_upgrade_the_server_is_healthy(tmp_path, keep_logging):
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "FIELDWORK_ENV": "testing",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.db'}",
                      "INSTANCE_PATH": str(tmp_path / "instance"),
                      "PHOTO_DIR": str(tmp_path / "photos"),
                      "SECRET_KEY": "test-secret", "INDEX_KEY": "test-index-key"})
    init_health(app)
    client = app.test_client()
    assert client.get("/healthz").get_json()["database"] == "not migrated"
    with app.app_context():
        upgrade()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["revision"] == HEAD
    assert (tmp_path / "photos").is_dir()  # the check created the store's folder
    with app.app_context():
        _db.engine.dispose()


def test_a_wrong_photo_store_setting_stops_the_server_at_start(tmp_path):
    from fieldwork.config import ConfigError

    with pytest.raises(ConfigError, match="FIELDWORK_S3_BUCKET"):
        app = create_app({"TESTING": True, "FIELDWORK_ENV": "testing",
                          "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
                          "INSTANCE_PATH": str(tmp_path / "instance"),
                          "PHOTO_DIR": str(tmp_path / "photos"), "PHOTO_STORE": "s3",
                          "SECRET_KEY": "test-secret", "INDEX_KEY": "test-index-key"})
        init_health(app)  # create_app already does this once the lead wires it in

"""GET /healthz for load balancers and monitoring: is this app server able to serve?

200 ``{"status": "ok", "database": "ok", "storage": "ok", "revision": "<alembic head>"}`` when
the database answers ``select 1``, its schema is at the migrations' head, and the photo store
can be written (PhotoStore.check()); otherwise 503 with the failing part named. No login
needed, so the body carries no secrets: no URLs, host names, paths or error texts (those go to
the log). Call ``init_health(app)`` from create_app.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, current_app, jsonify

from fieldwork.extensions import db, limiter
from fieldwork.photos.storage import build_store, photo_store

bp = Blueprint("health", __name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
DB_TIMEOUT_MS = 3000


def migration_heads(directory: Path = MIGRATIONS) -> tuple[str, ...]:
    """The head revision(s) of the migration scripts shipped with this code."""
    return tuple(sorted(ScriptDirectory(str(directory)).get_heads()))


def _database(expected: tuple[str, ...]) -> tuple[str, str | None]:
    """('ok' | 'unreachable' | 'not migrated' | 'outdated', current revision)."""
    try:
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # A stuck database must not hang the health check (and the balancer's probe).
                conn.execute(sa.text(f"SET LOCAL statement_timeout = {DB_TIMEOUT_MS}"))
            conn.execute(sa.text("select 1"))
    except Exception:  # any failure means "not serving"; details go to the log
        current_app.logger.exception("healthz: database unreachable")
        return "unreachable", None
    try:
        with db.engine.connect() as conn:
            current = tuple(sorted(conn.scalars(
                sa.text("select version_num from alembic_version"))))
    except Exception:  # no alembic_version table: never migrated
        current_app.logger.exception("healthz: cannot read the schema revision")
        return "not migrated", None
    revision = ",".join(current) or None
    if current != expected:
        current_app.logger.error("healthz: schema at %s, code expects %s (run flask db upgrade)",
                                 revision, ",".join(expected))
        return "outdated", revision
    return "ok", revision


def _storage() -> str:
    try:
        photo_store().check()
    except Exception:  # misconfigured, full disk, bucket gone, network…
        current_app.logger.exception("healthz: photo store not writable")
        return "not writable"
    return "ok"


@bp.get("/healthz")
@limiter.exempt
def healthz():
    expected = current_app.extensions["fieldwork_migration_heads"]
    database, revision = _database(expected)
    storage = _storage()
    healthy = database == "ok" and storage == "ok"
    body: dict[str, object] = {"status": "ok" if healthy else "error", "database": database,
                               "storage": storage, "revision": revision}
    if database == "outdated":
        body["expected_revision"] = ",".join(expected)
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response


def init_health(app: Flask) -> None:
    """Register /healthz and check the photo store's configuration at start-up, so a wrong
    FIELDWORK_PHOTO_STORE / FIELDWORK_S3_* stops the server with a clear message."""
    if "health" in app.blueprints:
        return
    app.extensions["fieldwork_migration_heads"] = migration_heads()
    build_store(app.config)  # raises ConfigError; the store itself is made on first use
    app.register_blueprint(bp)

"""Engine settings per backend. SQLite (the single-county default) gets WAL, a busy timeout,
enforced foreign keys, and explicit transactions: writes take the write lock at BEGIN
(IMMEDIATE), so two concurrent requests that read and then write queue up instead of one
failing with "database is locked"; GET requests begin deferred, so reads stay concurrent.
Taking over BEGIN from pysqlite also makes SAVEPOINTs (per-record pushes) work as documented.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from fieldwork.config import PRIVATE_FILE_MODE, restrict

READ_METHODS = ("GET", "HEAD", "OPTIONS")


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of a SQLite engine (None in memory or for a URI filename)."""
    name = engine.url.database or ""
    if engine.dialect.name != "sqlite" or name in ("", ":memory:") or name.startswith("file:"):
        return None
    return Path(name)


def _create_private(path: Path) -> None:
    """Create the (empty) database file for its owner only, before SQLite creates it with
    the umask's mode: it holds names, addresses, incomes and encrypted ID numbers."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except (FileExistsError, FileNotFoundError):
        return  # there already, or no directory (SQLite will say so)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    os.close(fd)


def _restrict_files(path: Path) -> None:
    """The database and its WAL and shared-memory files for their owner only (SQLite gives
    the latter the database file's mode; an older installation may have left them open)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        restrict(Path(f"{path}{suffix}"), PRIVATE_FILE_MODE)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=20000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def writes(view):
    """Mark a GET view that writes (e.g. the sync pull stores its cursor), so that on SQLite
    it takes the write lock up front like a POST."""
    view.fieldwork_writes = True
    return view


def _sqlite_begin(conn: Any) -> None:
    deferred = False
    if has_request_context() and request.method in READ_METHODS:
        view = current_app.view_functions.get(request.endpoint or "")
        deferred = not getattr(view, "fieldwork_writes", False)
    conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def configure_engine(app: Flask, engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        path = sqlite_file(engine)
        if path is not None:
            _create_private(path)
            _restrict_files(path)

            def restrict_after_connect(_dbapi_connection: Any, _record: Any) -> None:
                _restrict_files(path)  # the WAL files exist once the first connection is made

            event.listen(engine, "connect", restrict_after_connect)


UPLOAD_FRAMING = 1024 * 1024  # room for the form's other fields and the multipart framing


def read_body_before_database(app: Flask) -> None:
    """Read a request's body before anything touches the database.

    Phones on weak networks upload slowly. If the login check ran first, the request would hold
    a pooled connection (and, on SQLite, the write lock) for as long as the upload lasts, so a
    few slow or dropped uploads would stall every other request. Registered first of all
    before_request hooks; a client that disconnects mid-body gets a 400 and never reaches the
    database."""

    def buffer_body() -> None:
        if request.method in ("POST", "PUT", "PATCH"):
            # An endpoint that takes larger uploads (the household import) names its own
            # limit in UPLOAD_LIMITS: endpoint -> config key of the file's limit in bytes.
            key = app.config.get("UPLOAD_LIMITS", {}).get(request.endpoint or "")
            if key:
                request.max_content_length = app.config[key] + UPLOAD_FRAMING
            request.get_data(cache=True)

    app.before_request_funcs.setdefault(None, []).insert(0, buffer_body)

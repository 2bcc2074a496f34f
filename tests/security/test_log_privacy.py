"""Server logs carry no personal data (security audit, finding 5): the SQL parameters of a
failed statement (names, phone numbers) were printed with every database error. The engine
hides parameters (fieldwork/config.py: hide_parameters), and the 500 handler logs frames and
exception types but neither the request body nor any message that could quote it
(fieldwork/errors.py: redacted_traceback)."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from flask import request

from fieldwork.accounts.models import User
from fieldwork.extensions import db as _db

MARKER = "泄露标记-13912345678"


@pytest.fixture
def failing_routes(app, world, make_user):
    """Routes that fail the way a real request can: a database error whose statement carries
    what the user sent, and a Python error whose message quotes it."""
    make_user("helper", username=MARKER)  # so that inserting MARKER again breaks UNIQUE

    @app.post("/api/log-privacy/db")
    def db_error():
        sent = request.get_json()["name"]
        _db.session.add(User(username=sent, display_name=sent, phone="13912345678",
                             role="helper", place_id=world.street.id, password_hash="x"))
        _db.session.flush()  # IntegrityError, with sent among the parameters
        return "unreachable"

    @app.post("/api/log-privacy/value")
    def value_error():
        raise ValueError(f"cannot use {request.get_json()['name']}")

    @app.post("/log-privacy/page")
    def page_error():
        _db.session.execute(sa.text("SELECT * FROM no_such_table WHERE name = :n"),
                            {"n": request.form["name"]})
        return "unreachable"

    return app


def test_the_engine_hides_parameters(app, db):
    assert db.engine.hide_parameters is True
    with pytest.raises(sa.exc.DBAPIError) as caught:
        db.session.execute(sa.text("SELECT * FROM no_such_table WHERE name = :n"), {"n": MARKER})
    db.session.rollback()
    assert MARKER not in str(caught.value)


@pytest.mark.parametrize(("path", "kind"), [
    ("/api/log-privacy/db", "json"), ("/api/log-privacy/value", "json"),
    ("/log-privacy/page", "form"),
])
def test_a_500_logs_no_personal_data(failing_routes, client, caplog, path, kind):
    caplog.set_level(logging.DEBUG)
    payload = {"json": {"name": MARKER}} if kind == "json" else {"data": {"name": MARKER}}
    response = client.post(path, **payload)
    assert response.status_code == 500
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert MARKER not in logged
    assert "13912345678" not in logged
    assert "unhandled error on POST " + path in logged
    assert "Traceback" in logged and ".py" in logged  # still useful: where it failed, and what
    # Also not in what a handler would print (a formatted exception, if one were attached).
    for record in caplog.records:
        if record.exc_info:
            assert MARKER not in logging.Formatter().formatException(record.exc_info)


def test_the_log_still_names_the_failing_statement(failing_routes, client, caplog):
    caplog.set_level(logging.ERROR)
    client.post("/api/log-privacy/db", json={"name": MARKER})
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "IntegrityError" in logged and "INSERT INTO users" in logged

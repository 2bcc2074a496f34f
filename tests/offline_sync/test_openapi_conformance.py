"""The OpenAPI document (/api/openapi.json, offline_sync/openapi.py) and the server agree
(security audit, finding 10): schemathesis generates requests from the document, valid and
invalid, sends them to the app over WSGI, logged in with a session cookie and the CSRF header
as the phone is, and runs all its checks on each answer: no 5xx; every status and body
documented; a request the schema forbids is refused (4xx); one it allows is not refused as
malformed (400) — only 401/403/404/409/422/429 for what a schema cannot express (a valid ID
number, a photo that was declared). The duplicate check runs as a community worker (its
audience); everything else as a helper.

FIELDWORK_CONFORMANCE_EXAMPLES sets the examples per operation and mode (default 15: well
under a minute for the whole run)."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from offline_sync import openapi

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402

EXAMPLES = int(os.environ.get("FIELDWORK_CONFORMANCE_EXAMPLES", "15"))
# Statuses a request the schema allows may get: what no schema can express.
ACCEPTED = ["2xx", "401", "403", "404", "409", "422", "429"]
OPERATIONS = {"GET /api/sync/v1/session", "GET /api/sync/v1/pull", "POST /api/sync/v1/push",
              "PUT /api/sync/v1/photos/{photo_id}", "GET /api/sync/v1/status",
              "POST /api/sync/v1/discovery/check"}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def users(make_user, make_household):
    helper = make_user("helper")
    make_household(helper=helper, ref_lat=32.995, ref_lon=112.541)
    return {"helper": helper, "community_worker": make_user("community_worker")}


def _login(client, user) -> tuple[str, str]:
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    token = client.get("/api/sync/v1/session").get_json()["csrf_token"]
    return client.get_cookie("session").value, token


def fuzz(operation, mode, cookie, token, failures, calls, statuses) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        calls[(operation.label, mode.value)] += 1
        try:
            # identity: the WSGI transport does not undo the app's compression.
            response = case.call_and_validate(
                headers={"X-CSRFToken": token, "Accept-Encoding": "identity"},
                cookies={"session": cookie})
            statuses[(operation.label, response.status_code)] += 1
        except FailureGroup as exc:
            failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])

    run()


def run_conformance(app, client, users) -> tuple[list[str], Counter, Counter]:
    """(failures, calls per operation and mode, statuses per operation)."""
    config = schemathesis.Config.from_dict({
        "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED}},
        # The document says it in words (OpenAPI 3.0 cannot say "no NUL in any string or key
        # at any depth"): such a request is 400 bad_text, tested in
        # tests/security/test_hostile_input.py. Where a schema can say it, it does.
        "generation": {"allow-x00": False}})
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} == OPERATIONS
    failures: list[str] = []
    calls: Counter = Counter()
    statuses: Counter = Counter()
    for operation in operations:
        user = users["community_worker" if "discovery" in operation.label else "helper"]
        cookie, token = _login(client, user)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode == GenerationMode.NEGATIVE and operation.label.endswith("/session"):
                continue  # no parameter and no body: nothing to make invalid
            fuzz(operation, mode, cookie, token, failures, calls, statuses)
    return failures, calls, statuses


def test_the_server_does_what_its_openapi_document_says(app, client, db, users):
    failures, calls, statuses = run_conformance(app, client, users)
    if failures and os.environ.get("FIELDWORK_CONFORMANCE_DUMP"):
        with open(os.environ["FIELDWORK_CONFORMANCE_DUMP"], "w") as out:
            out.write("\n\n=====\n".join(failures))
    assert not failures, "\n\n".join(failures[:5])
    # It really ran: every operation, both kinds of data, answered as a logged-in user.
    for label in OPERATIONS:
        for mode in ("positive", "negative"):
            if label == "GET /api/sync/v1/session" and mode == "negative":
                continue  # nothing to negate: no parameters, no body
            assert calls[(label, mode)] > 0, (label, mode)
    assert not any(status == 401 for (_label, status) in statuses), statuses
    for label in OPERATIONS - {"PUT /api/sync/v1/photos/{photo_id}"}:
        assert any(200 <= status < 300 for (op, status) in statuses if op == label), \
            (label, statuses)
    assert any(status == 404 for (op, status) in statuses if "photos" in op)


def test_a_schema_that_disagrees_with_the_server_is_caught(app, client, db, users,
                                                           monkeypatch):
    """The run above can fail: with mismatches like those the audit found put back into the
    document (a 400 the push answers but the document does not list; a 422 the duplicate
    check answers but the document does not list; a query limit the server does not
    enforce), schemathesis reports them."""
    real = openapi.spec

    def broken():
        doc = real()
        del doc["paths"]["/api/sync/v1/push"]["post"]["responses"]["400"]
        del doc["paths"]["/api/sync/v1/discovery/check"]["post"]["responses"]["422"]
        doc["paths"]["/api/sync/v1/status"]["get"]["parameters"][0]["schema"]["maxLength"] = 2
        return doc

    monkeypatch.setattr("offline_sync.views.spec", broken)
    failures, _calls, _statuses = run_conformance(app, client, users)
    text = "\n".join(failures)
    for label in ("POST /api/sync/v1/push", "POST /api/sync/v1/discovery/check",
                  "GET /api/sync/v1/status"):
        assert label in text, (label, text[:3000])

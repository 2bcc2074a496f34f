"""Every route of the app, for every role, in scope and out of scope.

The routes come from app.url_map, so a route added tomorrow is covered without touching this
file — unless it takes a URL parameter this file does not know: then the test fails and names
it, and the next engineer adds a row to PARAMS (an in-scope and an out-of-scope value).

Rules checked:
- anonymous: every non-public route redirects to /login (pages) or answers a JSON 401 (/api/);
- out of scope (an object of county B for a user of county A): 403 or 404, never 2xx/3xx;
- in scope, for roles the EXPECT table allows: 200 or a redirect (not to /login) for GET; any
  answer below 500 for POST/PUT (the matrix sends no valid form); roles it does not allow:
  403 or 404. Endpoints missing from EXPECT get the default: anything below 500;
- no response to a county-A user carries a name, address, ID number, phone or visit note of
  county B, and no response to anyone carries a full ID number or phone number.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from fieldwork.timeutil import current_month

from .conftest import ROLES, Scene, body_text, csrf_token, login, sha

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    # As in production: CSRF on; every request below carries the token in X-CSRFToken.
    return {**app_config, "WTF_CSRF_ENABLED": True}

# Reachable without logging in. A new public route must be added here consciously.
PUBLIC = {"accounts.login", "accounts.set_language", "static", "pwa.service_worker",
          "pwa.manifest", "pwa.offline_shell", "pwa.device", "openapi.openapi",
          "health.healthz"}

ALL = frozenset(ROLES)
OFFICE = ALL - {"helper"}
REPORTERS = frozenset({"community_worker", "street_reviewer", "county_officer"})
REVEALERS = frozenset({"county_officer", "street_reviewer"})
AUDIT_READERS = frozenset({"county_officer", "city_supervisor", "admin"})

# Which roles may use an endpoint on an in-scope object. Missing endpoints get the default.
EXPECT: dict[str, frozenset[str]] = {
    "home.index": ALL,
    "accounts.login": ALL,
    "accounts.logout": ALL,
    "accounts.change_password": ALL,
    "accounts.set_language": ALL,
    "households.mine": frozenset({"helper"}),
    "households.detail": ALL,
    "households.confirm_reference": frozenset({"county_officer"}),
    "visits.new": frozenset({"helper"}),
    "visits.show": ALL,
    "photos.full": ALL,
    "photos.thumb": ALL,
    "places.overview": OFFICE,
    "places.place": OFFICE,
    "discovery.new": REPORTERS,
    "audit.index": AUDIT_READERS,
    "privacy.reveal_household": REVEALERS,
    "privacy.reveal_member": REVEALERS,
    "sync.session": ALL,
    "sync.pull": ALL,
    "sync.push": ALL,
    "sync.status": ALL,
    "sync.discovery_check": REPORTERS,
    "sync.put_photo": frozenset({"helper"}),  # only the uploader
    "pwa.device": ALL,
    "pwa.offline_shell": ALL,
    "pwa.manifest": ALL,
    "pwa.service_worker": ALL,
    "openapi.openapi": ALL,
}
SKIP = {"static"}  # files on disk, no data

# URL parameter -> (in-scope value, out-of-scope value or None when scope does not apply).
PARAMS: dict[str, Callable[[Scene], tuple[Any, Any]]] = {
    "household_id": lambda s: (s.hh_a.id, s.hh_b.id),
    "visit_id": lambda s: (s.visit_a.id, s.visit_b.id),
    "photo_id": lambda s: (s.photo_a, s.photo_b),
    "place_id": lambda s: (s.world.community.id, s.world.community_b.id),
    "community_id": lambda s: (s.world.community.id, s.world.community_b.id),
    "street_id": lambda s: (s.world.street.id, s.world.street_b.id),
    "county_id": lambda s: (s.world.county.id, s.world.county_b.id),
    "member_id": lambda s: (s.member_a.id, s.member_b.id),
    "case_id": lambda s: (s.case_a.id, s.case_b.id),
    "report_id": lambda s: (s.report_a.id, s.report_b.id),
    "discovery_id": lambda s: (s.report_a.id, s.report_b.id),
    "user_id": lambda s: (s.users["helper"].id, s.helper_b.id),
    "helper_id": lambda s: (s.users["helper"].id, s.helper_b.id),
    "assignment_id": lambda s: (s.assignment_a.id, s.assignment_b.id),
    "measure_id": lambda s: (s.measure_a.id, s.measure_b.id),
    "plan_measure_id": lambda s: (s.plan_a.id, s.plan_b.id),
    "entry_id": lambda s: (s.plan_a.id, s.plan_b.id),  # a plan entry (PlanMeasure)
    "objection_id": lambda s: (s.objection_a.id, s.objection_b.id),
    "decision_id": lambda s: (s.decision_a.id, s.decision_b.id),
    "month": lambda s: (current_month(), None),
    "year": lambda s: (current_month() // 100, None),
    "filename": lambda s: ("css/app.css", None),
}

# Extra request arguments for endpoints that need a body to reach their scope check.
REQUEST: dict[str, Callable[[Scene], dict[str, Any]]] = {
    "sync.put_photo": lambda s: {"data": s.photo_a_bytes, "content_type": "image/jpeg",
                                 "headers": {"X-Content-SHA256": sha(s.photo_a_bytes)}},
}

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
OK_POST = {200, 201, 204, 301, 302, 303, 400, 409, 413, 415, 422}


def rules(app) -> list:
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint not in SKIP),
                  key=lambda r: (r.rule, r.endpoint))


def test_every_url_parameter_is_known(app):
    unknown = sorted({f"{name} (in {r.rule})" for r in rules(app) for name in r.arguments
                      if name not in PARAMS})
    assert not unknown, (
        "routes take URL parameters the access matrix cannot fill: add them to PARAMS in "
        f"tests/security/test_access_matrix.py with an in-scope and an out-of-scope value: "
        f"{', '.join(unknown)}")


def test_new_endpoints_are_listed(app):
    """Not a failure: a reminder to give new endpoints explicit expectations."""
    missing = sorted({r.endpoint for r in rules(app)} - set(EXPECT))
    if missing:
        warnings.warn("endpoints with default access expectations only (add them to EXPECT "
                      f"in tests/security/test_access_matrix.py): {', '.join(missing)}",
                      stacklevel=1)


def _urls(rule, scene: Scene) -> tuple[str, str | None]:
    """The rule's URL with in-scope values, and with out-of-scope values (None if none)."""
    inside, outside, scoped = {}, {}, False
    for name in rule.arguments:
        if name not in PARAMS:
            pytest.fail(f"unknown URL parameter {name} in {rule.rule}: extend PARAMS")
        a, b = PARAMS[name](scene)
        inside[name] = a
        outside[name] = a if b is None else b
        scoped = scoped or b is not None
    in_url = rule.build(inside, append_unknown=False)[1]
    out_url = rule.build(outside, append_unknown=False)[1] if scoped else None
    return in_url, out_url


def _call(client, method: str, url: str, endpoint: str, scene: Scene, token: str):
    extra = REQUEST.get(endpoint, lambda s: {})(scene)
    headers = {"X-CSRFToken": token, **extra.pop("headers", {})}
    return client.open(url, method=method, headers=headers, **extra)


def _is_login_redirect(response) -> bool:
    return response.status_code in (301, 302, 303) and "/login" in (response.location or "")


@pytest.mark.parametrize("role", ROLES)
def test_role_in_and_out_of_scope(client, app, scene, role):
    user = scene.users[role]
    whole_city = user.place.level == "city"
    failures: list[str] = []
    login(client, user)
    token = csrf_token(client)
    for rule in rules(app):
        in_url, out_url = _urls(rule, scene)
        allowed = EXPECT.get(rule.endpoint)
        for method in (m for m in METHODS if m in rule.methods):
            targets = [("in", in_url)] + ([("out", out_url)] if out_url else [])
            for where, url in targets:
                login(client, user)  # again: a POST /logout must not end the run
                response = _call(client, method, url, rule.endpoint, scene, token)
                status = response.status_code
                label = f"{role} {method} {url} [{rule.endpoint}, {where} of scope] -> {status}"
                body = body_text(response)
                if status >= 500:
                    failures.append(f"{label}: server error")
                    continue
                if where == "out" and not whole_city:
                    if status not in (403, 404):
                        failures.append(f"{label}: out-of-scope object must answer 403/404")
                elif allowed is not None and role in allowed:
                    if method == "GET" and not (status == 200 or (
                            300 <= status < 400 and not _is_login_redirect(response))):
                        failures.append(f"{label}: allowed role should get the page")
                    elif method != "GET" and status not in OK_POST:
                        failures.append(f"{label}: allowed role refused")
                elif allowed is not None and status not in (403, 404):
                    failures.append(f"{label}: role not allowed must get 403/404")
                if not whole_city:
                    leaked = [s for s in scene.secrets_b if s in body]
                    if leaked:
                        failures.append(f"{label}: shows county B data {leaked}")
                shown = [s for s in scene.never_shown if s in body]
                if shown:
                    failures.append(f"{label}: shows a full ID/phone number {shown}")
    assert not failures, "\n".join(failures)


def test_anonymous(client, app, scene):
    failures: list[str] = []
    for rule in rules(app):
        in_url, _out = _urls(rule, scene)
        for method in (m for m in METHODS if m in rule.methods):
            with client.session_transaction() as session:
                session.clear()
            token = csrf_token(client)
            response = _call(client, method, in_url, rule.endpoint, scene, token)
            status = response.status_code
            label = f"anonymous {method} {in_url} [{rule.endpoint}] -> {status}"
            body = body_text(response)
            if status >= 500:
                failures.append(f"{label}: server error")
            elif rule.endpoint in PUBLIC:
                pass
            elif in_url.startswith("/api/"):
                if status != 401 or not response.is_json or \
                        response.get_json()["error"]["code"] != "unauthenticated":
                    failures.append(f"{label}: the API must answer a JSON 401")
            elif not _is_login_redirect(response):
                failures.append(f"{label}: must redirect to the login page")
            leaked = [s for s in scene.secrets_b + [scene.hh_a.head_name, scene.hh_a.address]
                      + scene.never_shown if s in body]
            if leaked:
                failures.append(f"{label}: shows household data {leaked}")
    assert not failures, "\n".join(failures)


def test_the_matrix_notices_a_leak(client, app, scene, monkeypatch):
    """Self-check: if scope were dropped from the household page, the matrix would say so."""
    import fieldwork.households.views as views
    from fieldwork.extensions import db
    from fieldwork.households.models import Household

    monkeypatch.setattr(views, "get_household_or_404",
                        lambda user, hid: db.session.get(Household, hid))
    login(client, scene.users["county_officer"])
    response = client.get(f"/households/{scene.hh_b.id}")
    assert response.status_code == 200
    assert scene.hh_b.head_name in body_text(response)

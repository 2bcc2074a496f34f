"""CSRF on every state-changing route (from the URL map, so new routes are covered): without the
token the request is refused with 400 before the view runs; with it (form field for pages,
X-CSRFToken header for the JSON API) it gets through to the view."""

from __future__ import annotations

import pytest

from tests.factories import csrf_token

from .conftest import login
from .test_access_matrix import PARAMS, SKIP

pytestmark = pytest.mark.usefixtures("fresh_g")

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
CSRF_PAGE_MESSAGE = "页面已过期或安全校验失败"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def targets(app, scene) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP:
            continue
        values = {name: PARAMS[name](scene)[0] for name in rule.arguments}
        url = rule.build(values, append_unknown=False)[1]
        out += [(m, url, rule.endpoint) for m in STATE_CHANGING if m in rule.methods]
    return sorted(out)


def is_csrf_refusal(response) -> bool:
    if response.status_code != 400:
        return False
    if response.is_json:
        return response.get_json()["error"]["code"] == "csrf"
    return CSRF_PAGE_MESSAGE in response.get_data(as_text=True)


def test_there_are_state_changing_routes(app, scene):
    names = {endpoint for _m, _u, endpoint in targets(app, scene)}
    assert {"accounts.login", "accounts.logout", "sync.push", "sync.put_photo",
            "privacy.reveal_household"} <= names


def test_every_state_changing_route_needs_the_token(client, app, scene):
    user = scene.users["county_officer"]
    failures = []
    for method, url, endpoint in targets(app, scene):
        login(client, user)
        response = client.open(url, method=method, data={"anything": "1"})
        if not is_csrf_refusal(response):
            failures.append(f"{method} {url} [{endpoint}] without a token -> "
                            f"{response.status_code}, not the 400 CSRF refusal")
        response = client.open(url, method=method, json={"anything": "1"})
        if not is_csrf_refusal(response):
            failures.append(f"{method} {url} [{endpoint}] JSON without a token -> "
                            f"{response.status_code}")
        response = client.open(url, method=method, data={"csrf_token": "forged"},
                               headers={"X-CSRFToken": "forged"})
        if not is_csrf_refusal(response):
            failures.append(f"{method} {url} [{endpoint}] with a forged token -> "
                            f"{response.status_code}")
    assert not failures, "\n".join(failures)


def test_with_the_token_the_request_reaches_the_view(client, app, scene):
    user = scene.users["county_officer"]
    failures = []
    for method, url, endpoint in targets(app, scene):
        login(client, user)
        token = csrf_token(client)
        if url.startswith("/api/"):
            response = client.open(url, method=method, json={},
                                   headers={"X-CSRFToken": token})
        else:
            response = client.open(url, method=method, data={"csrf_token": token})
        if is_csrf_refusal(response) or response.status_code >= 500:
            failures.append(f"{method} {url} [{endpoint}] with the token -> "
                            f"{response.status_code}")
    assert not failures, "\n".join(failures)


def test_a_token_from_another_session_is_refused(app, scene):
    """The token is bound to the session: one stolen from another browser does not work."""
    first, second = app.test_client(), app.test_client()
    login(first, scene.users["county_officer"])
    login(second, scene.users["county_officer"])
    foreign = csrf_token(first)
    csrf_token(second)
    response = second.post(f"/privacy/households/{scene.hh_a.id}/reveal",
                           data={"csrf_token": foreign, "reason": "核对低保申请材料"})
    assert is_csrf_refusal(response)


def test_json_api_with_header_token_works_from_the_phone(client, scene):
    login(client, scene.users["helper"])
    token = csrf_token(client)
    response = client.post("/api/sync/v1/push", json={"device_id": "p1", "records": []},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 200
    response = client.post("/api/sync/v1/push", json={"device_id": "p1", "records": []})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf"
    assert response.get_json()["error"]["message"] == "页面已过期或安全校验失败，请刷新页面后重试"

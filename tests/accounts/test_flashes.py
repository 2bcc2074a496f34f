"""Flash messages for the field pages: the cached shell cannot render them, so the server flags
them with a cookie (fieldwork/security.py: FLASH_COOKIE) and hands them over once through
GET /api/session/flashes (accounts/views.py: flashes)."""

from __future__ import annotations

import pytest

from fieldwork.security import FLASH_COOKIE
from tests.accounts.test_login import (
    NEW_PASSWORD,
    PASSWORD,
    change_password,
    login,
    post,
    redirect_path,
)
from tests.factories import CSRF_META, csrf_token

pytestmark = pytest.mark.usefixtures("fresh_g")

CHANGED = [{"category": "success", "message": "密码已修改"}]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def flash_cookie_headers(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(FLASH_COOKIE + "=")]


def flag(client) -> str | None:
    cookie = client.get_cookie(FLASH_COOKIE)
    return cookie.value if cookie else None


def text(response) -> str:
    return response.get_data(as_text=True)


def test_a_flash_before_a_field_page_is_flagged_then_handed_over_once(client, make_user):
    login(client, make_user("helper"))
    assert flag(client) is None

    response = change_password(client, PASSWORD, NEW_PASSWORD)
    assert redirect_path(response) == "/"
    [header] = flash_cookie_headers(response)
    attrs = [a.strip().lower() for a in header.split(";")]
    assert attrs[0] == f"{FLASH_COOKIE}=1"
    assert "path=/" in attrs and "samesite=lax" in attrs
    assert "httponly" not in attrs  # the page's script reads it
    assert "secure" not in attrs  # plain http in tests (see the https test below)
    assert any(a.startswith("max-age=") for a in attrs)

    # The field page and the shell the service worker caches carry no flash (the shell is
    # cached: a message in it would show on every later page), and leave it queued.
    for path in ("/households/mine", "/offline"):
        page = client.get(path)
        assert page.status_code == 200
        assert "密码已修改" not in text(page)
        assert not flash_cookie_headers(page)
    assert flag(client) == "1"

    handed = client.get("/api/session/flashes")
    assert handed.status_code == 200
    assert handed.headers["Cache-Control"] == "no-store"
    assert handed.get_json() == CHANGED
    assert flag(client) is None

    again = client.get("/api/session/flashes")
    assert again.get_json() == []
    # Nor does a later server-rendered page show it out of context.
    assert "密码已修改" not in text(client.get("/account/password"))


def test_a_server_rendered_page_that_shows_the_flashes_clears_the_flag(client, make_user):
    login(client, make_user("helper"))
    change_password(client, PASSWORD, NEW_PASSWORD)
    assert flag(client) == "1"

    page = client.get("/account/password")
    assert "密码已修改" in text(page)
    assert flag(client) is None
    assert client.get("/api/session/flashes").get_json() == []


def test_flashes_of_a_logged_out_session_are_handed_over_too(client, make_user):
    login(client, make_user("helper"))
    response = post(client, "/logout")
    assert redirect_path(response) == "/login"
    assert flag(client) == "1"

    handed = client.get("/api/session/flashes")
    assert handed.status_code == 200  # not 401: a session holds flashes without a user
    assert handed.get_json() == [{"category": "info", "message": "您已退出登录"}]
    assert flag(client) is None
    # The login page no longer shows it a second time.
    assert "您已退出登录" not in text(client.get("/login"))


def test_nothing_queued_answers_an_empty_list_and_sets_no_flag(client, make_user):
    assert client.get("/api/session/flashes").get_json() == []
    login(client, make_user("helper"))
    assert client.get("/api/session/flashes").get_json() == []
    response = client.get("/households/mine")
    assert not flash_cookie_headers(response)
    assert flag(client) is None


def test_a_stale_flag_is_cleared_by_the_endpoint(client):
    client.set_cookie(FLASH_COOKIE, "1")
    response = client.get("/api/session/flashes")
    assert response.get_json() == []
    assert flag(client) is None


def test_the_flag_is_secure_over_https(app, make_user):
    client = app.test_client()
    base = "https://localhost"
    user = make_user("helper")
    token = csrf_token_over(client, base)
    client.post("/login", base_url=base,
                data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    token = client.get("/api/sync/v1/session", base_url=base).get_json()["csrf_token"]
    response = client.post("/logout", base_url=base, data={"csrf_token": token})
    [header] = flash_cookie_headers(response)
    assert "secure" in [a.strip().lower() for a in header.split(";")]


def csrf_token_over(client, base: str) -> str:
    return CSRF_META.search(text(client.get("/login", base_url=base))).group(1)


def test_the_flashes_use_the_sessions_language(client, make_user):
    login(client, make_user("helper"))
    post(client, "/language", {"locale": "en", "next": "/"})
    change_password(client, PASSWORD, NEW_PASSWORD)
    [flash] = client.get("/api/session/flashes").get_json()
    assert flash["category"] == "success"
    assert flash["message"] == "Password changed"


def test_csrf_token_helper_does_not_eat_the_flashes(client, make_user):
    """Self-check of this file: the helpers above read the CSRF token through the session
    API when signed in, which leaves the flashes queued."""
    login(client, make_user("helper"))
    change_password(client, PASSWORD, NEW_PASSWORD)
    csrf_token(client)
    assert client.get("/api/session/flashes").get_json() == CHANGED


def session_cookie_headers(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]


def test_a_request_that_set_out_before_the_flashes_were_taken_does_not_bring_them_back(
        client, make_user):
    """The session lives in its cookie. A sync call that left with the old cookie (flashes
    queued) and answers after the page took them must not send the old session back, or the
    message shows again on the next page (security.py: SlidingSessionInterface)."""
    login(client, make_user("helper"))
    change_password(client, PASSWORD, NEW_PASSWORD)
    stale = client.get_cookie("session").value

    assert client.get("/api/session/flashes").get_json() == CHANGED
    taken = client.get_cookie("session").value
    assert taken != stale

    # The late answer to a request made with the stale cookie: no Set-Cookie for the session.
    client.set_cookie("session", stale)
    late = client.get("/api/sync/v1/session")
    assert late.status_code == 200
    assert session_cookie_headers(late) == []
    client.set_cookie("session", taken)  # what the browser holds: the newer cookie
    page = client.get("/account/password")
    assert "密码已修改" not in text(page)


def test_an_unchanged_session_is_still_refreshed_once_its_cookie_is_old(client, make_user,
                                                                        monkeypatch):
    """The expiry still slides with use: an unchanged session is sent again once its cookie
    is SESSION_REFRESH_AFTER_SECONDS old, and not before."""
    from fieldwork import security

    login(client, make_user("helper"))
    client.get("/households/mine")  # the first page puts the CSRF token in the session
    assert session_cookie_headers(client.get("/households/mine")) == []
    later = security.time.time() + security.SESSION_REFRESH_AFTER_SECONDS + 1
    monkeypatch.setattr(security.time, "time", lambda: later)
    [header] = session_cookie_headers(client.get("/households/mine"))
    assert "expires=" in header.lower()

"""Logging out ends the session on the server (audit issue 11, finding 3): a copy of the
session or remember-me cookie taken before `POST /logout` is refused afterwards, by the pages
and by the sync API; the user's other devices stay signed in; the CSRF token is renewed at
login and at logout."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fieldwork.accounts.models import User
from fieldwork.audit.models import AuditEvent
from tests.factories import CSRF_META

PASSWORD = "test-pass-123"
API = ("/api/sync/v1/session", "/api/sync/v1/pull")

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def page_token(client, path: str = "/login") -> str:
    return CSRF_META.search(client.get(path).get_data(as_text=True)).group(1)


def sign_in(client, user, remember: bool = True):
    response = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                           "remember": "y" if remember else "",
                                           "csrf_token": page_token(client)})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response


def sign_out(client):
    token = client.get("/api/sync/v1/session").get_json()["csrf_token"]
    response = client.post("/logout", headers={"X-CSRFToken": token})
    assert response.status_code == 302
    return response


def cookies(client) -> dict[str, str]:
    return {name: client.get_cookie(name).value for name in ("session", "remember_token")
            if client.get_cookie(name) is not None}


def replay(app, jar: dict[str, str]) -> list[int]:
    """The status of each API call made by a brand-new client holding only these cookies."""
    other = app.test_client()
    for name, value in jar.items():
        other.set_cookie(name, value)
    return [other.get(path).status_code for path in API]


def test_copied_cookies_work_before_logout_and_never_after(app, client, make_user):
    user = make_user("helper")
    sign_in(client, user)
    jar = cookies(client)
    assert set(jar) == {"session", "remember_token"}
    # The copies are good while the session lasts (so the refusals below mean something).
    assert replay(app, jar) == [200, 200]
    assert replay(app, {"remember_token": jar["remember_token"]}) == [200, 200]

    sign_out(client)

    assert replay(app, jar) == [401, 401]
    assert replay(app, {"session": jar["session"]}) == [401, 401]
    assert replay(app, {"remember_token": jar["remember_token"]}) == [401, 401]
    # The pages too: a copied cookie is sent to the login page.
    other = app.test_client()
    other.set_cookie("session", jar["session"])
    assert other.get("/households/mine").status_code == 302


def test_logging_out_on_the_desktop_keeps_the_phone_signed_in(app, make_user):
    user = make_user("helper")
    phone, desktop = app.test_client(), app.test_client()
    sign_in(phone, user)
    sign_in(desktop, user, remember=False)
    desktop_jar = cookies(desktop)

    sign_out(desktop)

    assert [phone.get(path).status_code for path in API] == [200, 200]
    assert replay(app, cookies(phone)) == [200, 200]
    assert replay(app, desktop_jar) == [401, 401]


def test_the_logout_is_recorded_with_the_login_it_ended(app, client, db, make_user):
    user = make_user("helper")
    sign_in(client, user)
    sign_out(client)
    [event] = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "logout"))
    assert (event.user_id, event.target_type) == (user.id, "session")
    assert len(event.target_id) == 16


def test_a_session_from_before_login_ids_is_ended_with_every_session(app, client, db,
                                                                      make_user):
    """A cookie issued before this release (``<id>:<session token>``) still signs in, and its
    logout can end it only by rotating the user's token."""
    user = make_user("helper")
    with client.session_transaction() as session:
        session["_user_id"] = f"{user.id}:{user.session_token}"
        session["_fresh"] = True
    jar = cookies(client)
    assert replay(app, jar) == [200, 200]
    before = user.session_token

    sign_out(client)

    assert replay(app, jar) == [401, 401]
    db.session.expire_all()
    assert db.session.get(User, user.id).session_token != before


def test_a_forged_login_token_is_refused(app, client, make_user):
    user = make_user("helper")
    for token in (f"{user.id}:{user.session_token}:not-hex", f"{user.id}", "x:y:z",
                  f"{user.id}:{user.session_token}:{'0' * 16}:extra"):
        with client.session_transaction() as session:
            session["_user_id"] = token
        assert client.get("/api/sync/v1/session").status_code == 401, token


def test_the_csrf_token_is_renewed_at_login(app, client, make_user):
    user = make_user("helper")
    before = page_token(client)
    response = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                           "csrf_token": before})
    assert response.status_code == 302
    after = client.get("/api/sync/v1/session").get_json()["csrf_token"]
    assert after != before
    # A token known before the login (planted, or read on a shared computer) is refused.
    assert client.post("/logout", headers={"X-CSRFToken": before}).status_code == 400
    assert client.get("/api/sync/v1/session").status_code == 200
    assert client.post("/logout", headers={"X-CSRFToken": after}).status_code == 302


def test_the_csrf_token_is_renewed_at_logout(app, client, make_user):
    user = make_user("helper")
    sign_in(client, user)
    during = client.get("/api/sync/v1/session").get_json()["csrf_token"]
    assert client.post("/logout", headers={"X-CSRFToken": during}).status_code == 302
    # The next person at this computer gets a token of their own.
    response = client.post("/login", data={"username": user.username, "password": PASSWORD,
                                           "csrf_token": during})
    assert response.status_code == 400
    assert page_token(client) != during

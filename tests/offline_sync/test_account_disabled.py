"""A deactivated account is told apart from an expired login on the sync API (audit finding 4):
the phone wipes the households it keeps for an `account_disabled` answer, and only hides them
for an `unauthenticated` one."""

from __future__ import annotations

import pytest

from fieldwork.accounts.services import deactivate_user
from fieldwork.extensions import db

pytestmark = pytest.mark.usefixtures("fresh_g")

DEVICE = "5b0c4a52-8c1e-4d0c-9a57-0d7c8f6b2f11"


def _code(response) -> str:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.is_json
    return response.get_json()["error"]["code"]


@pytest.mark.parametrize("path,method", [
    ("/api/sync/v1/session", "get"),
    ("/api/sync/v1/pull", "get"),
    ("/api/sync/v1/push", "post"),
])
def test_a_deactivated_account_is_not_an_expired_login(client, auth, make_user, path, method):
    user = make_user("helper")
    auth.login(as_=user)
    assert client.get("/api/sync/v1/session").status_code == 200
    deactivate_user(user)
    db.session.commit()
    response = getattr(client, method)(path, json={"device_id": DEVICE, "records": []}
                                       if method == "post" else None)
    assert _code(response) == "account_disabled"
    assert response.get_json()["error"]["message"] == "此账号已停用，本机保存的帮扶户资料已清除"


def test_a_rotated_login_of_an_active_account_is_only_expired(client, auth, make_user):
    user = make_user("helper")
    auth.login(as_=user)
    user.rotate_sessions()  # a password change elsewhere
    db.session.commit()
    assert _code(client.get("/api/sync/v1/pull")) == "unauthenticated"


def test_an_expired_cookie_of_a_deactivated_phone_user(client, auth, make_user):
    """No cookie left at all (expired): the installation id the phone sends names its user."""
    user = make_user("helper")
    auth.login(as_=user)
    assert client.get(f"/api/sync/v1/pull?device_id={DEVICE}").status_code == 200
    auth.logout()
    headers = {"X-Fieldwork-Device": DEVICE}
    assert _code(client.get("/api/sync/v1/session", headers=headers)) == "unauthenticated"
    deactivate_user(user)
    db.session.commit()
    assert _code(client.get("/api/sync/v1/session", headers=headers)) == "account_disabled"
    # Another installation, or none named: nothing to tell.
    assert _code(client.get("/api/sync/v1/session",
                            headers={"X-Fieldwork-Device": "other"})) == "unauthenticated"
    assert _code(client.get("/api/sync/v1/session")) == "unauthenticated"


def test_a_phone_shared_with_an_active_user_is_not_wiped(client, auth, make_user):
    gone, still = make_user("helper"), make_user("helper")
    for user in (gone, still):
        auth.login(as_=user)
        assert client.get(f"/api/sync/v1/pull?device_id={DEVICE}").status_code == 200
        auth.logout()
    deactivate_user(gone)
    db.session.commit()
    assert _code(client.get("/api/sync/v1/session",
                            headers={"X-Fieldwork-Device": DEVICE})) == "unauthenticated"

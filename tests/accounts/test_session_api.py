"""GET /api/sync/v1/session: how the phone learns who is logged in and gets its CSRF token."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.mark.parametrize("accept", ["application/json", "text/html", "*/*"])
def test_logged_out_is_a_json_401_never_a_redirect(client, accept):
    response = client.get("/api/sync/v1/session", headers={"Accept": accept})
    assert response.status_code == 401
    assert "Location" not in response.headers
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "unauthenticated"
    assert error["message"] == "登录已过期，请重新登录"


def test_logged_in_returns_the_user_and_a_csrf_token(client, auth, world, make_user):
    user = make_user("community_worker", place=world.community, display_name="李建国",
                     username="li-community")
    auth.login(as_=user)

    response = client.get("/api/sync/v1/session")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["user"]["id"] == str(user.id)
    assert body["user"]["username"] == "li-community"
    assert body["user"]["name"] == "李建国"
    assert body["user"]["role"] == "community_worker"
    assert body["user"]["role_label"] == "社区(村)工作人员"
    place = body["user"]["place"]
    assert (place["id"], place["code"], place["name"]) == (
        str(world.community.id), "411302001001", "和平社区")
    assert body["user"]["must_change_password"] is False
    assert isinstance(body["csrf_token"], str) and len(body["csrf_token"]) > 20


def test_after_logout_the_session_answers_401_again(client, auth, make_user):
    auth.login(as_=make_user("helper"))
    assert client.get("/api/sync/v1/session").status_code == 200
    auth.logout()
    assert client.get("/api/sync/v1/session").status_code == 401


class TestWithCsrf:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "WTF_CSRF_ENABLED": True}

    def test_the_csrf_token_lets_the_phone_post(self, client, make_user):
        user = make_user("helper")
        login_page = client.get("/login").get_data(as_text=True)
        token = login_page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        response = client.post("/login", data={
            "username": user.username, "password": "test-pass-123", "csrf_token": token,
        })
        assert response.status_code == 302

        token = client.get("/api/sync/v1/session").get_json()["csrf_token"]
        # Without the token a state-changing request is refused; with it, it goes through.
        assert client.post("/logout").status_code == 400
        assert client.get("/api/sync/v1/session").status_code == 200
        assert client.post("/logout", headers={"X-CSRFToken": token}).status_code == 302
        assert client.get("/api/sync/v1/session").status_code == 401

"""Logging in and out, remember-me, changing the password and the sessions it ends, the
forced first change, and the brake on password guessing. Forms carry CSRF tokens here, as in
production."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from fieldwork.accounts.models import User
from fieldwork.accounts.services import deactivate_user
from fieldwork.audit.models import AuditEvent
from tests.factories import csrf_token

PASSWORD = "test-pass-123"  # the password of every make_user account (tests/conftest.py)
NEW_PASSWORD = "brand-new-pass-456"

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


# ---------------------------------------------------------------- helpers


def post(client, path: str, data: dict | None = None, **kw):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client)}, **kw)


def login(client, user, password: str = PASSWORD, remember: bool = False, next: str | None = None):
    username = user if isinstance(user, str) else user.username
    data = {"username": username, "password": password}
    if remember:
        data["remember"] = "y"
    return post(client, "/login", data, query_string={"next": next} if next else None)


def logged_in_as(client) -> str | None:
    response = client.get("/api/sync/v1/session")
    return response.get_json()["user"]["username"] if response.status_code == 200 else None


def change_password(client, current: str, new: str, confirm: str | None = None):
    return post(client, "/account/password",
                {"current": current, "new": new, "confirm": new if confirm is None else confirm})


def redirect_path(response) -> str:
    assert response.status_code in (301, 302, 303), response.status_code
    parts = urlsplit(response.location)
    assert parts.netloc in ("", "localhost"), response.location
    return parts.path + (f"?{parts.query}" if parts.query else "")


def events(db, action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ))


def text(response) -> str:
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- logging in


def test_login_page_speaks_chinese_by_default(client):
    response = client.get("/login")
    assert response.status_code == 200
    html = text(response)
    assert '<html lang="zh-Hans-CN">' in html
    assert "<h1>登录</h1>" in html
    assert "用户名" in html and "密码" in html


def test_wrong_password_is_refused_without_a_session(client, db, make_user):
    user = make_user("helper", username="wang-helper")
    response = login(client, user, password="not-the-password-1")

    assert response.status_code == 200
    assert "用户名或密码不正确" in text(response)
    assert logged_in_as(client) is None
    with client.session_transaction() as session:
        assert "_user_id" not in session
    [event] = events(db, "login.failure")
    assert event.username == "wang-helper"


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client, db, world):
    response = login(client, "nobody-here", password="whatever-123")
    assert response.status_code == 200
    assert "用户名或密码不正确" in text(response)
    assert "停用" not in text(response)
    [event] = events(db, "login.failure")
    assert (event.username, event.user_id) == ("nobody-here", None)


def test_inactive_user_is_refused_with_its_message(client, db, make_user):
    user = make_user("helper", username="gone-helper", active=False)
    response = login(client, user)
    assert response.status_code == 200
    assert "该账号已停用，请联系县级解困办" in text(response)
    assert logged_in_as(client) is None
    [event] = events(db, "login.refused_inactive")
    assert event.username == "gone-helper"


def test_inactive_user_with_a_wrong_password_learns_nothing(client, make_user):
    user = make_user("helper", active=False)
    response = login(client, user, password="wrong-pass-999")
    assert "用户名或密码不正确" in text(response)
    assert "停用" not in text(response)


@pytest.fixture
def hash_checks(monkeypatch) -> list[str]:
    """The scheme and cost of every password check, recorded by a spy around werkzeug's own
    check_password_hash that still runs it (so each check costs what it really costs)."""
    import werkzeug.security

    real = werkzeug.security.check_password_hash
    calls: list[str] = []

    def spy(pwhash: str, password: str) -> bool:
        calls.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(werkzeug.security, "check_password_hash", spy)
    return calls


@pytest.mark.parametrize("case", ["unknown user", "wrong password", "inactive",
                                  "inactive, wrong password", "right password"])
def test_every_login_attempt_costs_one_password_hash_of_the_same_cost(client, make_user,
                                                                     hash_checks, case):
    """Audit issue 11, finding 7: an unknown username answered at once (15 ms against
    188 ms), telling which accounts exist. Now it is checked against a dummy hash of the same
    scheme and cost."""
    user = make_user("helper", active=not case.startswith("inactive"))
    username = "nobody-at-all" if case == "unknown user" else user.username
    password = PASSWORD if case in ("inactive", "right password") else "wrong-pass-999"
    login(client, username, password=password)
    assert hash_checks == [user.password_hash.split("$", 1)[0]]
    assert hash_checks[0].startswith("scrypt:")


def test_successful_login_goes_home_and_is_audited(client, db, make_user):
    user = make_user("county_officer", username="liu-county")
    response = login(client, user)

    assert redirect_path(response) == "/"
    assert logged_in_as(client) == "liu-county"
    [event] = events(db, "login.success")
    assert (event.username, event.user_id) == ("liu-county", user.id)
    db.session.refresh(user)
    assert user.last_login_at is not None


def test_a_protected_page_sends_you_to_login_and_back(client, make_user):
    user = make_user("helper")
    response = client.get("/households/mine")
    assert redirect_path(response).startswith("/login")
    target = parse_qs(urlsplit(response.location).query)["next"][0]
    assert target == "/households/mine"

    assert redirect_path(login(client, user, next=target)) == "/households/mine"


@pytest.mark.parametrize("target", ["/households/mine", "/places/?tab=1"])
def test_next_follows_local_paths(client, make_user, target):
    user = make_user("county_officer")
    assert redirect_path(login(client, user, next=target)) == target


@pytest.mark.parametrize(
    "target",
    [
        "http://evil.example/phish",
        "https://evil.example",
        "//evil.example",
        "//evil.example/households/mine",
        "/\\evil.example",
        "/\t/evil.example",
        "https:evil.example",
        "javascript:alert(1)",
        "evil.example",
    ],
)
def test_next_never_leaves_the_site(client, make_user, target):
    user = make_user("county_officer")
    assert redirect_path(login(client, user, next=target)) == "/"
    # Already logged in: the login page still refuses to bounce elsewhere.
    again = client.get("/login", query_string={"next": target})
    assert redirect_path(again) == "/"


# ---------------------------------------------------------------- logging out


def test_logout_needs_post_and_ends_the_session(client, db, make_user):
    user = make_user("helper", username="zhao-helper")
    login(client, user)

    assert client.get("/logout").status_code == 405
    assert logged_in_as(client) == "zhao-helper"

    response = post(client, "/logout")
    assert redirect_path(response) == "/login"
    assert logged_in_as(client) is None
    assert redirect_path(client.get("/households/mine")).startswith("/login")
    [event] = events(db, "logout")
    assert (event.username, event.user_id) == ("zhao-helper", user.id)


def test_logout_without_the_csrf_token_is_refused(client, make_user):
    user = make_user("helper")
    login(client, user)
    response = client.post("/logout")
    assert response.status_code == 400
    assert logged_in_as(client) == user.username


# ---------------------------------------------------------------- remember me


def test_remember_me_keeps_the_phone_signed_in_for_weeks(client, make_user):
    user = make_user("helper")
    login(client, user, remember=True)

    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.expires is not None
    assert cookie.expires >= datetime.now(UTC) + timedelta(days=14)

    # The browser is closed: the session cookie is gone, the remember cookie is not.
    client.delete_cookie("session")
    assert logged_in_as(client) == user.username


def test_without_remember_me_closing_the_browser_logs_out(client, make_user):
    user = make_user("helper")
    login(client, user, remember=False)
    assert client.get_cookie("remember_token") is None
    client.delete_cookie("session")
    assert logged_in_as(client) is None


# ---------------------------------------------------------------- changing the password


def test_change_password_refuses_a_wrong_current_password(client, app, make_user):
    user = make_user("helper")
    login(client, user)
    response = change_password(client, "wrong-current-1", NEW_PASSWORD)
    assert response.status_code == 200
    assert "当前密码不正确" in text(response)
    assert redirect_path(login(app.test_client(), user)) == "/"


def test_change_password_refuses_a_mismatched_confirmation(client, app, make_user):
    user = make_user("helper")
    login(client, user)
    response = change_password(client, PASSWORD, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")
    assert response.status_code == 200
    assert "两次输入的新密码不一致" in text(response)
    assert "密码已修改" not in text(response)
    assert redirect_path(login(app.test_client(), user)) == "/"


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("ab12!", "密码至少需要 8 个字符"),
        ("abcdefghijk", "密码需包含字母、数字、符号中的至少两类"),
        ("1234567890", "密码需包含字母、数字、符号中的至少两类"),
        ("pw-{username}-9", "密码不能包含用户名"),
        (PASSWORD, "新密码不能与当前密码相同"),
    ],
)
def test_change_password_refuses_a_weak_password(client, app, make_user, new, message):
    user = make_user("helper", username="sun-helper")
    login(client, user)
    response = change_password(client, PASSWORD, new.format(username="SUN-helper"))
    assert response.status_code == 200
    assert message in text(response)
    assert redirect_path(login(app.test_client(), user)) == "/"


def test_change_password_succeeds(client, app, db, make_user):
    user = make_user("helper", username="qian-helper")
    login(client, user)

    response = change_password(client, PASSWORD, NEW_PASSWORD)
    assert redirect_path(response) == "/"
    # The helper's list is a field page (the phone's shell): it fetches the flash.
    assert client.get("/api/session/flashes").get_json() == [
        {"category": "success", "message": "密码已修改"}]
    assert logged_in_as(client) == "qian-helper"

    assert "用户名或密码不正确" in text(login(app.test_client(), user, password=PASSWORD))
    assert redirect_path(login(app.test_client(), user, password=NEW_PASSWORD)) == "/"
    [event] = events(db, "user.password_change")
    assert (event.username, event.target_id) == ("qian-helper", str(user.id))


def test_password_change_ends_sessions_on_other_phones(client, app, make_user):
    user = make_user("helper")
    other = app.test_client()
    remembered = app.test_client()
    login(client, user)
    login(other, user)
    login(remembered, user, remember=True)
    assert logged_in_as(other) == logged_in_as(remembered) == user.username

    change_password(client, PASSWORD, NEW_PASSWORD)

    assert logged_in_as(client) == user.username
    assert logged_in_as(other) is None
    assert redirect_path(other.get("/households/mine")).startswith("/login")
    # The remember-me cookie on the third phone is dead too.
    remembered.delete_cookie("session")
    assert logged_in_as(remembered) is None


def test_password_change_renews_remember_me_only_where_it_was_chosen(client, app, make_user):
    user = make_user("helper")
    remembered = app.test_client()
    login(remembered, user, remember=True)
    change_password(remembered, PASSWORD, NEW_PASSWORD)
    remembered.delete_cookie("session")
    assert logged_in_as(remembered) == user.username

    other = make_user("helper")
    login(client, other, remember=False)
    change_password(client, PASSWORD, NEW_PASSWORD)
    assert client.get_cookie("remember_token") is None


def test_deactivating_a_user_ends_their_live_session(client, db, make_user):
    user = make_user("helper")
    login(client, user, remember=True)
    assert logged_in_as(client) == user.username

    deactivate_user(db.session.get(User, user.id))
    db.session.commit()

    assert logged_in_as(client) is None
    assert redirect_path(client.get("/households/mine")).startswith("/login")
    client.delete_cookie("session")
    assert logged_in_as(client) is None


# ---------------------------------------------------------------- first login


def test_initial_password_must_be_changed_before_anything_else(client, make_user):
    user = make_user("helper", must_change_password=True)
    login(client, user)

    for path in ("/", "/households/mine", "/places/", "/households/1"):
        assert redirect_path(client.get(path)) == "/account/password", path
    page = client.get("/account/password")
    assert page.status_code == 200
    assert "首次登录请先修改初始密码" in text(page)

    api = client.get("/api/sync/v1/pull")
    assert api.status_code == 403
    assert api.get_json()["error"]["code"] == "password_change_required"
    assert api.get_json()["error"]["message"]

    # The phone can still learn who is logged in and that a change is due.
    session = client.get("/api/sync/v1/session")
    assert session.status_code == 200
    assert session.get_json()["user"]["must_change_password"] is True

    assert redirect_path(change_password(client, PASSWORD, NEW_PASSWORD)) == "/"
    assert client.get("/households/mine").status_code == 200
    assert client.get("/api/sync/v1/session").get_json()["user"]["must_change_password"] is False


# ---------------------------------------------------------------- guessing


class TestLoginRateLimit:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "RATELIMIT_ENABLED": True}

    def test_eleventh_failure_for_one_username_in_a_minute_is_refused(self, client, make_user):
        user = make_user("helper", username="target-helper")
        for attempt in range(10):
            response = login(client, user, password=f"guess-{attempt}-xx")
            assert response.status_code == 200, attempt
            assert "用户名或密码不正确" in text(response)

        response = login(client, user, password="guess-10-xx")
        assert response.status_code == 429
        assert "操作过于频繁，请稍后再试" in text(response)
        assert '<html lang="zh-Hans-CN">' in text(response)
        # Even the right password waits out the minute.
        assert login(client, user).status_code == 429
        assert logged_in_as(client) is None

    def test_the_username_bucket_ignores_case_and_spaces(self, client, make_user):
        user = make_user("helper", username="case-helper")
        for attempt in range(10):
            name = " CASE-HELPER " if attempt % 2 else "case-helper"
            assert login(client, name, password=f"guess-{attempt}-xx").status_code == 200
        assert login(client, user).status_code == 429

    def test_other_usernames_are_not_locked_out(self, client, make_user):
        victim = make_user("helper", username="busy-helper")
        colleague = make_user("helper", username="calm-helper")
        for attempt in range(11):
            login(client, victim, password=f"guess-{attempt}-xx")
        assert login(client, victim).status_code == 429
        assert redirect_path(login(client, colleague)) == "/"

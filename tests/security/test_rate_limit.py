"""The brake on password guessing: per account (10 a minute, whatever the address) and per
address (20 a minute, whatever the account), answered 429 with a Chinese message; in memory by
default and in Redis when RATELIMIT_STORAGE_URI says so. Also the brake on revealing ID
numbers (60 an hour per user)."""

from __future__ import annotations

import os
import secrets
import socket

import pytest

from tests.factories import csrf_token

from .conftest import login

pytestmark = pytest.mark.usefixtures("fresh_g")

MESSAGE = "操作过于频繁，请稍后再试"
REDIS = "redis://127.0.0.1:6379"


def redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["memory", "redis"])
def storage(request):
    if request.param == "redis" and not redis_up():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must test the Redis rate-limit storage: Redis is not reachable "
                        "at 127.0.0.1:6379")
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    return request.param


@pytest.fixture
def app_config(app_config, storage):
    config = {**app_config, "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": True}
    if storage == "redis":
        # A fresh key prefix per test: counts of other tests or runs never interfere.
        config |= {"RATELIMIT_STORAGE_URI": REDIS,
                   "RATELIMIT_KEY_PREFIX": f"fieldwork-test-{secrets.token_hex(6)}"}
    return config


def attempt(client, username: str, address: str, password: str = "wrong-pass-1"):
    token = csrf_token(client)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def test_the_storage_is_the_configured_one(app, storage):
    from fieldwork.extensions import limiter

    kind = type(limiter.storage).__name__
    assert kind == ("RedisStorage" if storage == "redis" else "MemoryStorage")
    assert limiter.storage.check()


def test_one_account_is_locked_after_ten_failures_from_any_address(client, make_user):
    user = make_user("helper", username="target-user")
    for i in range(10):
        response = attempt(client, "target-user", f"10.1.0.{i + 1}")
        assert response.status_code == 200, i
        assert "用户名或密码不正确" in response.get_data(as_text=True)
    response = attempt(client, "target-user", "10.1.0.99")
    assert response.status_code == 429
    assert MESSAGE in response.get_data(as_text=True)
    # Even the right password waits: the guesser cannot tell that it was right.
    response = attempt(client, user.username, "10.1.0.100", password="test-pass-123")
    assert response.status_code == 429


def test_one_address_is_stopped_after_twenty_attempts_on_any_accounts(client, world):
    for i in range(20):
        response = attempt(client, f"user-{i}", "10.2.0.1")
        assert response.status_code == 200, i
    response = attempt(client, "user-99", "10.2.0.1")
    assert response.status_code == 429
    assert MESSAGE in response.get_data(as_text=True)
    # Another office's address is not affected.
    assert attempt(client, "user-99", "10.2.0.2").status_code == 200


def test_the_phone_api_gets_the_message_as_json(client, app):
    """Not a login, but every 429 under /api/ is JSON with the same Chinese message."""
    from werkzeug.exceptions import TooManyRequests

    @app.get("/api/test-limit")
    def limited():
        raise TooManyRequests()

    response = client.get("/api/test-limit")
    assert response.status_code == 429
    assert response.get_json()["error"] == {"code": "rate_limited", "message": MESSAGE}


def test_revealing_id_numbers_is_braked(client, app, scene):
    from fieldwork.privacy.views import REVEAL_LIMIT

    assert REVEAL_LIMIT == "60/hour"
    login(client, scene.users["county_officer"])
    token = csrf_token(client)
    url = f"/privacy/households/{scene.hh_a.id}/reveal"
    for i in range(60):
        response = client.post(url, data={"reason": "核对申请材料", "csrf_token": token})
        assert response.status_code == 200, i
    response = client.post(url, data={"reason": "核对申请材料", "csrf_token": token})
    assert response.status_code == 429
    assert MESSAGE in response.get_data(as_text=True)

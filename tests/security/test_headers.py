"""Response headers on every kind of answer, and the session cookie's flags."""

from __future__ import annotations

import pytest

from fieldwork import create_app
from fieldwork.privacy.crypto import generate_key
from tests.factories import CSRF_META, csrf_token

from .conftest import login

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_hardened(response) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    parsed = directives(csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
    assert "'unsafe-hashes'" not in csp and "strict-dynamic" not in csp
    assert parsed.get("default-src") == ["'self'"]
    assert parsed.get("script-src") == ["'self'"]
    assert parsed.get("style-src") == ["'self'"]
    assert parsed.get("object-src") == ["'none'"]
    assert parsed.get("frame-ancestors") == ["'none'"]
    assert parsed.get("base-uri") == ["'self'"]
    assert parsed.get("form-action") == ["'self'"]
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("Referrer-Policy") in ("same-origin", "no-referrer",
                                                       "strict-origin-when-cross-origin")


def test_every_kind_of_response_is_hardened(client, scene):
    responses = [client.get("/login"), client.get("/api/sync/v1/session"),
                 client.get("/no-such-page"), client.get("/api/openapi.json"),
                 client.get("/sw.js"), client.get("/offline")]
    login(client, scene.users["county_officer"])
    responses += [client.get(f"/households/{scene.hh_a.id}"),
                  client.get(f"/households/{scene.hh_b.id}"),  # 404 page
                  client.get(f"/photos/{scene.photo_a}.jpg"),
                  client.get("/api/sync/v1/pull"),
                  client.get("/audit/")]
    for response in responses:
        assert response.status_code < 500
        assert_hardened(response)


def test_photos_are_never_cached_by_shared_caches(client, scene):
    login(client, scene.users["county_officer"])
    response = client.get(f"/photos/{scene.photo_a}.jpg")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"].startswith("private")


def test_personal_pages_and_json_are_never_stored(client, scene):
    """Audit issue 11, finding 7: pages went out `private, no-cache`, which lets the browser
    keep a household's page on disk (a shared office computer, the back button after logout)."""
    paths = [f"/households/{scene.hh_a.id}", f"/households/{scene.hh_b.id}", "/audit/", "/",
             "/households/", "/no-such-page", "/api/sync/v1/session", "/api/sync/v1/pull",
             "/api/sync/v1/no-such-thing"]
    anonymous = [client.get("/login"), client.get("/api/sync/v1/session")]
    login(client, scene.users["county_officer"])
    for response in anonymous + [client.get(path) for path in paths]:
        assert response.status_code < 500, response.request.path
        assert response.headers.get("Cache-Control") == "no-store", (
            response.request.path, response.status_code, response.headers.get("Cache-Control"))


def test_full_id_page_is_not_stored(client, scene):
    login(client, scene.users["county_officer"])
    response = client.post(f"/privacy/households/{scene.hh_a.id}/reveal",
                           data={"reason": "核对低保申请材料", "csrf_token": csrf_token(client)})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_development_session_cookie_is_httponly_and_lax(client, make_user):
    user = make_user("helper")
    response = client.post("/login", data={"username": user.username, "remember": "y",
                                           "password": "test-pass-123",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("session="))
    remember = next(c for c in cookies if c.startswith("remember_token="))
    for cookie in (session, remember):
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie


@pytest.fixture
def production_app(_schema, tmp_path, monkeypatch):
    monkeypatch.setenv("FIELDWORK_SECRET_KEY", "prod-secret-" + "x" * 40)
    monkeypatch.setenv("FIELDWORK_FIELD_KEY", generate_key())
    monkeypatch.setenv("FIELDWORK_INDEX_KEY", "prod-index-" + "y" * 40)
    monkeypatch.setenv("DATABASE_URL", _schema)
    monkeypatch.delenv("FIELDWORK_DEMO", raising=False)
    app = create_app({"FIELDWORK_ENV": "production", "INSTANCE_PATH": str(tmp_path),
                      "PHOTO_DIR": str(tmp_path / "photos"), "WTF_CSRF_ENABLED": True,
                      "RATELIMIT_ENABLED": False, "SERVER_NAME": "localhost"})
    return app


def test_production_cookies_are_secure_httponly_lax(production_app, app, make_user):
    user = make_user("helper")
    client = production_app.test_client()
    page = client.get("https://localhost/login").get_data(as_text=True)
    token = CSRF_META.search(page).group(1)
    response = client.post("https://localhost/login",
                           data={"username": user.username, "password": "test-pass-123",
                                 "remember": "y", "csrf_token": token},
                           headers={"Referer": "https://localhost/login"})
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session=", "remember_token="):
        cookie = next(c for c in cookies if c.startswith(name))
        assert "Secure" in cookie, cookie
        assert "HttpOnly" in cookie, cookie
        assert "SameSite=Lax" in cookie, cookie
    hsts = client.get("https://localhost/login").headers["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts


def test_production_config_flags(production_app):
    config = production_app.config
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["REMEMBER_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["WTF_CSRF_SSL_STRICT"] is True


def test_behind_one_proxy_the_real_address_is_used(app_config, make_user):
    """With FIELDWORK_TRUSTED_PROXIES=1 the audit log and the per-address limit see the
    phone's address from X-Forwarded-For, not the proxy's."""
    import sqlalchemy as sa

    from fieldwork.audit.models import AuditEvent
    from fieldwork.extensions import db

    proxied = create_app({**app_config, "TRUSTED_PROXIES": 1})
    with proxied.app_context():
        client = proxied.test_client()
        token = csrf_token(client)
        response = client.post("/login", data={"username": "nobody-x", "password": "wrong-1",
                                               "csrf_token": token},
                               headers={"X-Forwarded-For": "203.0.113.7"},
                               environ_base={"REMOTE_ADDR": "10.0.0.2"})
        assert response.status_code == 200
        event = db.session.scalar(sa.select(AuditEvent).where(
            AuditEvent.action == "login.failure").order_by(AuditEvent.id.desc()))
        assert event.ip == "203.0.113.7"


def test_without_a_proxy_forwarded_headers_are_ignored(client, db, world):
    import sqlalchemy as sa

    from fieldwork.audit.models import AuditEvent

    client.post("/login", data={"username": "nobody-y", "password": "wrong-1",
                                "csrf_token": csrf_token(client)},
                headers={"X-Forwarded-For": "203.0.113.7"},
                environ_base={"REMOTE_ADDR": "198.51.100.9"})
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "login.failure"))
    assert event.ip == "198.51.100.9"

"""Response headers: a strict Content-Security-Policy and the usual hardening."""

from __future__ import annotations

import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, render_template, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_babel import gettext as _
from itsdangerous import BadSignature
from werkzeug.middleware.proxy_fix import ProxyFix

from fieldwork.config import ConfigError
from fieldwork.errors import api_error, is_api_request

# Set while the session holds flashes nobody has shown yet. The field pages are drawn by the
# service worker's cached shell, which cannot render them: it reads this cookie and asks
# GET /api/session/flashes (accounts/views.py) for them.
FLASH_COOKIE = "fieldwork_flash"
FLASH_COOKIE_MAX_AGE = 3600


def _flash_cookie(response: Response) -> None:
    """Keep the flash cookie in step with the session's queued flashes."""
    # Flashes are queued (flash()) and shown (get_flashed_messages()) only in a modified
    # session: any other response leaves the cookie as it is, and does not touch the session
    # (reading it would add "Vary: Cookie" to every static file).
    if not session.modified or any(c.startswith(FLASH_COOKIE + "=")
                                   for c in response.headers.getlist("Set-Cookie")):
        return
    if session.get("_flashes"):
        response.set_cookie(FLASH_COOKIE, "1", max_age=FLASH_COOKIE_MAX_AGE, path="/",
                            secure=_secure_cookies(), httponly=False, samesite="Lax")
    elif FLASH_COOKIE in request.cookies:
        forget_flash_cookie(response)


def forget_flash_cookie(response: Response) -> None:
    """Clear the flash cookie: the flashes were handed to the page."""
    response.delete_cookie(FLASH_COOKIE, path="/", secure=_secure_cookies(), httponly=False,
                           samesite="Lax")


# A permanent session is re-sent on every response by default (SESSION_REFRESH_EACH_REQUEST),
# so that it expires PERMANENT_SESSION_LIFETIME after the last request, not after the login.
# But the session lives in the cookie: a response to a request that started before another
# request changed the session (a sync call running while the page took its flashes) would
# send the old session back, and the flashes would show again on the next page. So an
# unchanged session is re-sent only when its cookie is older than this: the expiry still
# slides with use (to within these minutes), and no ordinary burst of requests can revive a
# removed key.
SESSION_REFRESH_AFTER_SECONDS = 600


class SlidingSession(SecureCookieSession):
    issued_at: float | None = None


class SlidingSessionInterface(SecureCookieSessionInterface):
    session_class = SlidingSession

    def open_session(self, app: Flask, request: Any) -> SlidingSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, issued = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        opened = self.session_class(data)
        opened.issued_at = issued.timestamp()
        return opened

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        issued = getattr(session, "issued_at", None)
        return issued is None or time.time() - issued >= SESSION_REFRESH_AFTER_SECONDS


def _secure_cookies() -> bool:
    # As the session cookie (config.py: Secure in production), and on any https request.
    return bool(current_app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _tile_origin(url: str) -> str:
    parts = urlsplit(url.replace("{s}", "a"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def trusted_proxies(app: Flask) -> int:
    """How many reverse proxies stand in front of the app (FIELDWORK_TRUSTED_PROXIES, 0 by
    default). Behind nginx set 1: otherwise every request seems to come from the proxy, so the
    per-address login limit is shared by the whole city and the audit log records no real
    addresses. Never set it higher than the real number: X-Forwarded-For is forgeable."""
    value = app.config.get("TRUSTED_PROXIES")
    if value is None:
        value = os.environ.get("FIELDWORK_TRUSTED_PROXIES", "0").strip() or "0"
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if not 0 <= count <= 5:
        raise ConfigError("FIELDWORK_TRUSTED_PROXIES 应为 0 到 5 之间的整数（反向代理的层数）")
    return count


# JSON escapes that no stored text may contain: NUL (PostgreSQL cannot store it in text) and
# surrogates that are not part of a pair (they cannot be encoded as UTF-8 at all).
_JSON_NUL = re.compile(rb"\\u0000")
_JSON_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def unstorable(value: Any) -> bool:
    """True for text that no database column can hold: NUL, or an unpaired surrogate."""
    if not isinstance(value, str):
        return False
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refuse_unstorable_text():
    """Refuse, with a 400 and a reason, requests carrying text that cannot be stored. Without
    this a NUL in a query, form or JSON string reached PostgreSQL and became a 500."""
    suspicious = any(unstorable(v) for v in (request.view_args or {}).values()) or any(
        unstorable(v) for _k, values in request.args.lists() for v in [_k, *values])
    # A push answers such text per record (fieldwork/records.py: value_errors), so that one
    # bad record does not fail the whole batch.
    if not suspicious and request.mimetype == "application/json" and \
            request.endpoint != "sync.push":
        body = request.get_data(cache=True)  # the view reads the cached copy
        suspicious = bool(_JSON_NUL.search(body) or _JSON_LONE_SURROGATE.search(body))
    if not suspicious and request.mimetype in _FORM_TYPES:
        suspicious = any(unstorable(v) for _k, values in request.form.lists()
                         for v in [_k, *values])
    if not suspicious:
        return None
    message = _("提交的内容含有无法保存的字符（如空字符），请删除后重试")
    if is_api_request():
        return api_error(400, "bad_text", message)
    return render_template("error.html", status=400, message=message), 400


def init_security(app: Flask) -> None:
    app.session_interface = SlidingSessionInterface()
    app.before_request(_refuse_unstorable_text)
    # SQLite transactions (BEGIN/SAVEPOINT semantics) are set up in fieldwork/dbsetup.py.
    proxies = trusted_proxies(app)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies)
    tiles = _tile_origin(app.config.get("MAP_TILES_URL", ""))
    img_src = " ".join(filter(None, ["'self'", "data:", "blob:", tiles]))
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {img_src}",
            "connect-src 'self'",
            "font-src 'self'",
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "geolocation=(self), camera=(self), microphone=()"
        )
        if app.config["FIELDWORK_ENV"] == "production":
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        _flash_cookie(response)
        return response

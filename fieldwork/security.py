"""Response headers: a strict Content-Security-Policy and the usual hardening."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix


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
        from fieldwork.config import ConfigError

        raise ConfigError("FIELDWORK_TRUSTED_PROXIES 应为 0 到 5 之间的整数（反向代理的层数）")
    return count


def init_security(app: Flask) -> None:
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
        return response

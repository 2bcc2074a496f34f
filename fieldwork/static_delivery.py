"""Light pages for phones on weak networks: compression and cache headers.

* Static files (CSS, JS, SVG, the manifest's icons) are compressed once per file version with
  Brotli at its best level (gzip for clients without Brotli) and kept in memory, with an ETag
  per encoding so revalidation still answers 304.
* A static URL carrying the content hash that ``templating.asset()`` adds (``?v=<sha256>``)
  never changes: ``Cache-Control: public, max-age=31536000, immutable``. Without the hash
  (ES modules importing each other, the service worker's precache list) the file is
  revalidated (``no-cache`` with its ETag: a 304 of a few hundred bytes).
* Pages, JSON and the service worker are compressed per response by Flask-Compress (Brotli at
  a fast level, or gzip). Pages and JSON get ``Cache-Control: no-store`` unless the view set
  its own (the service worker, the manifest and the offline shell say ``no-cache``), so no
  cache, shared or the browser's, keeps personal data.

Call ``init_static_delivery(app)`` from create_app, after the blueprints are registered.
Flask-Compress is optional: without it pages go out uncompressed (static files still are).
"""

from __future__ import annotations

import gzip
import threading
from typing import Any, cast

from flask import Flask, Response, request

try:
    import brotli
except ImportError:  # pragma: no cover - brotli comes with Flask-Compress
    brotli = None

COMPRESSIBLE = {
    "text/html", "text/css", "text/plain", "text/javascript", "application/javascript",
    "application/json", "application/manifest+json", "application/problem+json",
    "image/svg+xml", "text/xml", "application/xml",
}
MIN_SIZE = 512  # below this the headers weigh more than the saving
IMMUTABLE = "public, max-age=31536000, immutable"
# What a page or JSON answer gets when its view set no Cache-Control of its own.
PERSONAL = {"text/html", "application/json", "application/problem+json"}
PERSONAL_CACHE_CONTROL = "no-store"
MAX_CACHED_BYTES = 16 * 1024 * 1024


class _StaticCache:
    """Compressed static files, keyed by (path, ETag, encoding); bounded in total bytes."""

    def __init__(self, limit: int = MAX_CACHED_BYTES) -> None:
        self.limit = limit
        self.data: dict[tuple[str, str, str], bytes] = {}
        self.size = 0
        self.lock = threading.Lock()

    def get_or_make(self, key: tuple[str, str, str], make: Any) -> bytes:
        with self.lock:
            hit = self.data.get(key)
        if hit is not None:
            return hit
        value = make()
        with self.lock:
            if self.size + len(value) > self.limit:  # a new deploy's files: start again
                self.data.clear()
                self.size = 0
            if key not in self.data:
                self.data[key] = value
                self.size += len(value)
        return value


def choose_encoding(accept: str) -> str | None:
    """'br', 'gzip' or None for an Accept-Encoding header (q=0 means refused)."""
    offered: dict[str, float] = {}
    for part in accept.lower().split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        offered[name.strip()] = quality
    for name in ("br", "gzip"):
        if name == "br" and brotli is None:
            continue
        if offered.get(name, offered.get("*", 0.0)) > 0:
            return name
    return None


def compress(data: bytes, encoding: str, *, best: bool) -> bytes:
    if encoding == "br":
        return brotli.compress(data, quality=11 if best else 5)
    return gzip.compress(data, compresslevel=9 if best else 6, mtime=0)


def _add_vary(response: Response, name: str) -> None:
    vary = response.headers.get("Vary", "")
    if name.lower() not in vary.lower():
        response.headers["Vary"] = f"{vary}, {name}" if vary else name


def init_static_delivery(app: Flask) -> None:
    if "fieldwork_static_delivery" in app.extensions:
        return
    cache = app.extensions["fieldwork_static_delivery"] = _StaticCache()

    try:
        from flask_compress import Compress
    except ImportError:
        app.logger.warning("Flask-Compress is not installed: pages are sent uncompressed")
    else:
        app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
        app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "deflate"])
        app.config.setdefault("COMPRESS_BR_LEVEL", 5)
        app.config.setdefault("COMPRESS_MIN_SIZE", MIN_SIZE)
        app.config.setdefault("COMPRESS_MIMETYPES", sorted(COMPRESSIBLE))
        Compress(app)

    # Registered after Flask-Compress, so it runs first (after_request runs in reverse): a
    # static file arrives there already encoded and Flask-Compress leaves it alone.
    @app.after_request
    def deliver(response: Response) -> Response:
        if request.endpoint == "static":
            return _static(response, cache)
        if (response.status_code == 200 and request.method in ("GET", "HEAD")
                and response.headers.get("Cache-Control") == "no-cache"
                and not response.headers.get("ETag") and not response.is_streamed):
            # The service worker, the manifest and the offline page: the browser checks them on
            # every visit; with a validator an unchanged one costs a 304, not the whole file.
            response.add_etag()
            return cast(Response, response.make_conditional(request))  # returns itself
        if response.mimetype in PERSONAL and "Cache-Control" not in response.headers:
            # Pages and JSON name people, households and ID masks: no cache keeps them, not
            # even the browser's own (a shared computer's disk, its back button after logout).
            response.headers["Cache-Control"] = PERSONAL_CACHE_CONTROL
        return response


def _static(response: Response, cache: _StaticCache) -> Response:
    if response.status_code == 200 and request.args.get("v"):
        response.headers["Cache-Control"] = IMMUTABLE
        response.expires = None
    if response.mimetype not in COMPRESSIBLE:
        return response
    _add_vary(response, "Accept-Encoding")
    if response.status_code != 200 or "Content-Encoding" in response.headers:
        return response
    encoding = choose_encoding(request.headers.get("Accept-Encoding", ""))
    etag, weak = response.get_etag()
    if encoding is None or not etag:
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < MIN_SIZE:
        return response
    body = cache.get_or_make((request.path, etag, encoding),
                             lambda: compress(data, encoding, best=True))
    response.set_data(body)
    response.headers["Content-Encoding"] = encoding
    response.set_etag(f"{etag}-{encoding}", weak=bool(weak))
    return cast(Response, response.make_conditional(request))  # returns itself

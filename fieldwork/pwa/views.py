"""The installable app: manifest, service worker and the offline shell."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import gettext as _

from fieldwork.i18n import DEFAULT_LOCALE, LOCALES, client_catalogue, normalise_locale

bp = Blueprint("pwa", __name__)

# What a phone needs to open the app with no network: the shell page and its assets.
SHELL_ASSETS = [
    "css/app.css",
    "vendor/htmx-2.0.11.min.js",
    "js/app.js",
    "js/i18n.js",
    "js/keys.js",
    "js/db.js",
    "js/vault.js",
    "js/outbox.js",
    "js/sync.js",
    "js/sync-ui.js",
    "js/geo.js",
    "js/camera.js",
    "js/visit-form.js",
    "js/member-changes.js",
    "js/discovery-form.js",
    "js/field-kit.js",
    "js/field-app.js",
    "js/pages/common.js",
    "js/pages/mine.js",
    "js/pages/household.js",
    "js/pages/tasks.js",
    "js/task-rows.js",
    "js/pages/visit.js",
    "js/pages/discovery.js",
    "js/pages/device.js",
    "js/schema-form.js",
    "icons/icon.svg",
    "icons/icon-192.png",
    "icons/icon-512.png",
    "icons/maskable-512.png",
]


def _version() -> str:
    """A hash of every static file and template: any change makes a new service worker."""
    cached = current_app.extensions.get("fieldwork_sw_version")
    if cached and not current_app.debug:
        return cached
    digest = hashlib.sha256()
    root = Path(current_app.root_path).parent
    for folder in ("static", "templates", "fieldwork/translations"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix not in (".po", ".pot"):
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    version = digest.hexdigest()[:12]
    current_app.extensions["fieldwork_sw_version"] = version
    return version


@bp.get("/sw.js")
def service_worker():
    source = Path(current_app.static_folder, "sw.js").read_text("utf-8")
    precache = ["/offline", "/manifest.webmanifest"] + CATALOGUE_URLS + [
        url_for("static", filename=name) for name in SHELL_ASSETS
        if Path(current_app.static_folder, name).exists()
    ]
    body = source.replace("__VERSION__", _version()).replace(
        "__PRECACHE__", json.dumps(precache))
    response = Response(body, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


# The client's translations (static/js/i18n.js): one catalogue per locale but Chinese.
CATALOGUE_URLS = [f"/i18n/{locale}.json" for locale in LOCALES if locale != DEFAULT_LOCALE]


@bp.get("/i18n/<locale>.json")
def client_strings(locale: str):
    """{msgid: msgstr} of the strings in static/js; {} for Chinese (the msgids). The ETag is
    the app version: the service worker precaches it, the browser revalidates it cheaply."""
    chosen = normalise_locale(locale)
    if chosen is None:
        abort(404)
    response = Response(json.dumps(client_catalogue(chosen), ensure_ascii=False, sort_keys=True),
                        mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(_version())
    return response.make_conditional(request)


@bp.get("/manifest.webmanifest")
def manifest():
    data = {
        "name": _("南阳解困走访"),
        "short_name": _("解困走访"),
        "description": _("南阳市城镇困难职工居民解困脱困入户走访"),
        "lang": "zh-CN",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f3f5f4",
        "theme_color": "#0b5d4b",
        "icons": [
            {"src": url_for("static", filename="icons/icon-192.png"), "sizes": "192x192",
             "type": "image/png"},
            {"src": url_for("static", filename="icons/icon-512.png"), "sizes": "512x512",
             "type": "image/png"},
            {"src": url_for("static", filename="icons/maskable-512.png"), "sizes": "512x512",
             "type": "image/png", "purpose": "maskable"},
            {"src": url_for("static", filename="icons/icon.svg"), "sizes": "any",
             "type": "image/svg+xml"},
        ],
    }
    response = Response(json.dumps(data, ensure_ascii=False), mimetype="application/manifest+json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/offline")
def offline_shell():
    """The page the service worker shows for any app URL when there is no network; it renders
    from the phone's IndexedDB. It carries nothing of the user who fetched it."""
    response = Response(render_template("offline.html", offline_shell=True))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/device")
def device():
    """What is still on this phone: the shell; static/js/pages/device.js draws it from IndexedDB,
    so whoever holds the phone sees that records wait. Only the phone's signed-in user sees the
    labels of their own records and may export them; logged out, nobody may."""
    response = Response(render_template("offline.html", offline_shell=True))
    response.headers["Cache-Control"] = "no-cache"
    return response

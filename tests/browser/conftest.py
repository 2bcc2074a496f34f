"""Browser tests: Playwright driving the system Chromium against a live fieldwork server.

Fixtures
- ``live_server`` (session): a real app (migrated schema, demo county seeded, CSRF on) served
  on 127.0.0.1 by werkzeug in a thread; ``.url`` and ``.app``. Its own database: a SQLite
  file, or a throwaway PostgreSQL database when TEST_DATABASE_URL is set.
- ``browser`` (session): headless system Chromium (/usr/bin/chromium, or CHROMIUM_PATH).
- ``new_context`` / ``new_page`` (function): factories for a phone-sized context (360×740,
  zh-CN, Asia/Shanghai, touch, geolocation permission, service workers allowed) and for a
  page in it; ``context`` and ``page`` are the defaults made by them.
- ``login(page, username)``: signs a demo account in through the login form.

Every page collects console errors and uncaught exceptions in ``page.console_errors``
(a CSP violation is a console error); the test fails at teardown if any are left. A test
that expects errors asserts on them and then clears the list.

Without Chromium the tests are skipped, unless FIELDWORK_REQUIRE_BROWSER=1 (CI), where
they error instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from fieldwork.devdata.demo import DEMO_PASSWORD
from fieldwork.privacy.crypto import generate_key
from tests.factories import postgres_database

HERE = Path(__file__).resolve().parent
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("FIELDWORK_REQUIRE_BROWSER") == "1"
# No network on the test machines: keep Chromium from calling home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A failing expectation should fail in seconds, not after Playwright's default 30 s.
TIMEOUT_MS = 10_000
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "permissions": ["geolocation"],
    "service_workers": "allow",
}


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    path = shutil.which(CHROMIUM_PATH) if os.sep not in CHROMIUM_PATH else CHROMIUM_PATH
    if not path or not os.access(path, os.X_OK):
        return f"Chromium not found at {CHROMIUM_PATH} (set CHROMIUM_PATH)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark everything under tests/browser/ `browser`; skip it when Chromium is missing."""
    missing = _missing_browser()
    for item in items:
        if HERE not in item.path.resolve().parents:
            continue
        item.add_marker(pytest.mark.browser)
        if missing and not REQUIRE_BROWSER:
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {missing}"))


# ---------------------------------------------------------------- the live server

@dataclass
class LiveServer:
    url: str
    app: Flask


@contextmanager
def _logging_untouched() -> Iterator[None]:
    """Alembic's env.py runs logging.config.fileConfig, which disables every existing logger
    and replaces the root handlers (pytest's capture among them); put them all back."""
    manager = logging.root.manager
    before = {name: (lg.level, lg.disabled, lg.propagate, list(lg.handlers))
              for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root = (logging.root.level, list(logging.root.handlers))
    try:
        yield
    finally:
        for name, lg in list(manager.loggerDict.items()):
            if not isinstance(lg, logging.Logger):
                continue
            lg.level, lg.disabled, lg.propagate, lg.handlers = before.get(
                name, (logging.NOTSET, False, True, [])
            )
        logging.root.level, logging.root.handlers = root


@pytest.fixture(scope="session")
def _live_database_url(request: pytest.FixtureRequest,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The live server's own database, apart from the one the `app` fixture truncates."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base:
        yield from postgres_database(base)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('live-db') / 'fieldwork.db'}"


@pytest.fixture(scope="session")
def live_server(_live_database_url: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """fieldwork on a free port: real migrations, the demo county, CSRF on."""
    import flask_migrate
    from werkzeug.serving import make_server

    from fieldwork import create_app
    from fieldwork.devdata.demo import seed_demo
    from fieldwork.extensions import db

    instance = tmp_path_factory.mktemp("live-instance")
    app = create_app({
        "TESTING": True,
        "FIELDWORK_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": _live_database_url,
        "INSTANCE_PATH": str(instance),
        "PHOTO_DIR": str(instance / "photos"),
        "SECRET_KEY": "browser-test-secret",
        "FIELD_KEY": generate_key(),
        "INDEX_KEY": "browser-test-index-key",
        "DEMO_MODE": True,
        "WTF_CSRF_ENABLED": True,  # the browser submits real tokens
        "RATELIMIT_ENABLED": False,
    })
    with app.app_context():
        with _logging_untouched():
            flask_migrate.upgrade()
        seed_demo()
        db.session.remove()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        with app.app_context():
            db.engine.dispose()  # let the throwaway PostgreSQL database be dropped


# ---------------------------------------------------------------- the browser

@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    missing = _missing_browser()
    if missing:
        # Only reached with FIELDWORK_REQUIRE_BROWSER=1: CI must never skip these silently.
        pytest.fail(f"FIELDWORK_REQUIRE_BROWSER=1 but {missing}", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM_PATH, headless=True,
                                      args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., Any]]:
    """new_context(geolocation={"latitude":…, "longitude":…, "accuracy":…}, **overrides):
    a phone-sized context on the live server; pass permissions=[] to deny geolocation."""
    contexts = []

    def make(**overrides: Any) -> Any:
        options = {**PHONE, "base_url": live_server.url, **overrides}
        ctx = browser.new_context(**options)
        ctx.set_default_timeout(TIMEOUT_MS)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def new_page(new_context: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """new_page(context=None, **context_options): a page whose console errors and uncaught
    exceptions land in page.console_errors; any left at the end fail the test."""
    pages = []

    def make(context: Any = None, **context_options: Any) -> Any:
        ctx = context or new_context(**context_options)
        page = ctx.new_page()
        errors: list[str] = []
        page.console_errors = errors
        page.on("console", lambda msg: errors.append(
            f"console.error {msg.text} {msg.location.get('url') or ''}".rstrip()
        ) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"uncaught {exc}"))
        pages.append(page)
        return page

    yield make
    left = [f"{p.url}: {e}" for p in pages for e in p.console_errors]
    assert not left, "errors in the browser console:\n" + "\n".join(left)


@pytest.fixture
def context(new_context: Callable[..., Any]) -> Any:
    return new_context()


@pytest.fixture
def page(new_page: Callable[..., Any], context: Any) -> Any:
    return new_page(context)


@pytest.fixture
def login() -> Callable[..., None]:
    """login(page, username, password=DEMO_PASSWORD): sign in through the form."""
    from playwright.sync_api import expect

    def do(page: Any, username: str, password: str = DEMO_PASSWORD) -> None:
        page.goto("/login")
        page.locator("input[name=username]").fill(username)
        page.locator("input[name=password]").fill(password)
        page.locator("form:has(input[name=password]) button[type=submit]").click()
        expect(page.locator("details.menu")).to_be_visible()  # signed in: the account menu

    return do

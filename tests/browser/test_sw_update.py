"""A new version of the app reaches a phone that still holds unsent work: the user is asked,
the page reloads under the new service worker, and the work is still there and goes."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from test_offline import (
    OFFLINE_CONSOLE,
    cached_households,
    forget_console_errors,
    idb,
    phone_online,
    record_visit_offline,
    server_visit,
    sync_now_and_wait,
)

pytestmark = pytest.mark.browser

SYNC_API = "**/api/sync/v1/**"
VERSION_KEY = "fieldwork_sw_version"  # fieldwork/pwa/views.py computes it once per app


@pytest.fixture
def new_release(live_server: Any) -> Iterator[Any]:
    """new_release(): the server starts serving a new service worker (as after a deploy that
    changed a static file or template); the old version is back after the test."""
    before = live_server.app.extensions.get(VERSION_KEY)

    def release() -> str:
        version = f"t{secrets.token_hex(5)}"
        live_server.app.extensions[VERSION_KEY] = version
        return version

    yield release
    if before is None:
        live_server.app.extensions.pop(VERSION_KEY, None)
    else:
        live_server.app.extensions[VERSION_KEY] = before


def _caches(page: Any) -> list[str]:
    return page.evaluate("() => caches.keys()")


def test_update_with_unsent_work_waiting(live_server, new_context, new_page, login,
                                         new_release):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[5]
    old_caches = _caches(page)
    assert len(old_caches) == 1 and old_caches[0].startswith("fieldwork-shell-")

    context.set_offline(True)
    visit_id = record_visit_offline(page, household, photo_seeds=(601,))
    # In signal again, but the upload does not get through (the API is unreachable).
    context.route(SYNC_API, lambda route: route.abort())
    context.set_offline(False)
    page.goto("/device")
    entry = page.locator(f"[data-entry='{visit_id}']")
    expect(entry).to_be_visible()

    version = new_release()
    banner = page.locator("[data-update-banner]")
    expect(banner).to_be_hidden()
    page.evaluate("""async () => {
      const reg = await navigator.serviceWorker.getRegistration();
      await reg.update();
    }""")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("新版本已就绪")
    # Nothing reloads by itself while the user may be typing.
    page.evaluate("() => { window.beforeUpdate = true; }")
    assert page.evaluate("() => window.beforeUpdate") is True

    with page.expect_navigation():
        banner.get_by_role("button", name="更新").click()
    expect(entry).to_be_visible()
    assert page.evaluate("() => window.beforeUpdate") is None  # a fresh page
    assert _caches(page) == [f"fieldwork-shell-{version}"]  # the old cache is gone
    assert page.evaluate("() => Boolean(navigator.serviceWorker.controller)")
    assert [e["id"] for e in idb(page, "outbox")] == [visit_id]
    assert len(idb(page, "photos")) == 1
    expect(banner).to_be_hidden()

    context.unroute(SYNC_API)
    forget_console_errors(page, "ERR_FAILED", *OFFLINE_CONSOLE)  # the API was unreachable
    sync_now_and_wait(page)
    expect(entry).to_have_count(0)
    visit = server_visit(live_server, visit_id)
    assert visit is not None and visit["photos_stored"] == 1

    # The new shell works offline too.
    context.set_offline(True)
    page.goto(f"/households/{household['id']}")
    expect(page.locator("[data-offline-app] h1")).to_contain_text(household["head_name"])
    assert re.search(r"/households/\d+$", page.url)
    forget_console_errors(page, *OFFLINE_CONSOLE)

"""The client's strings in a real page: an English page loads /i18n/en.json before its first
render and t() uses it; a Chinese page fetches no catalogue; no catalogue means Chinese."""

from __future__ import annotations

import json
import re

from playwright.sync_api import expect

# Stand-in English for two sync-bar strings (the real msgstrs are filled after the merge);
# everything else the page shows through t() stays the Chinese msgid.
CATALOGUE = {"已全部同步": "All synced", " · 上次同步 {time}": " · last sync {time}"}


def _serve_catalogue(context, requests: list[str], body: dict | None) -> None:
    def handle(route):
        requests.append(route.request.url)
        if body is None:
            route.abort()
        else:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))
    context.route("**/i18n/*.json", handle)


def test_an_english_page_draws_the_sync_bar_from_the_catalogue(new_context, new_page, login):
    # No service worker: the catalogue comes from the network, answered here.
    context = new_context(locale="en-US", service_workers="block")
    requests: list[str] = []
    _serve_catalogue(context, requests, CATALOGUE)
    page = new_page(context)
    login(page, "demo-helper")
    text = page.locator("[data-syncbar] [data-sync-text]")
    expect(text).to_have_text(re.compile(r"^All synced · last sync \d\d:\d\d$"))
    assert any(url.endswith("/i18n/en.json") for url in requests)


def test_a_chinese_page_needs_no_catalogue(new_context, new_page, login):
    context = new_context(service_workers="block")  # zh-CN, as every phone test
    requests: list[str] = []
    _serve_catalogue(context, requests, CATALOGUE)
    page = new_page(context)
    login(page, "demo-helper")
    expect(page.locator("[data-syncbar] [data-sync-text]")).to_contain_text("已全部同步")
    assert requests == []


def test_without_a_catalogue_the_english_page_shows_the_chinese_msgids(new_context, new_page,
                                                                       login):
    context = new_context(locale="en-US", service_workers="block")
    requests: list[str] = []
    _serve_catalogue(context, requests, None)  # offline and not cached
    page = new_page(context)
    login(page, "demo-helper")
    expect(page.locator("[data-syncbar] [data-sync-text]")).to_contain_text("已全部同步")
    assert requests
    # The failed fetch is a warning, never an error that would break the page.
    page.console_errors[:] = [e for e in page.console_errors if "i18n/en.json" not in e]

"""A message the server queued before sending the helper to a field page ("密码已修改" after a
password change) shows on the page the service worker drew from its cached shell, once; and
offline it waits until the phone is back in signal (static/js/field-app.js: showFlashes)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from test_offline import OFFLINE_CONSOLE, forget_console_errors, phone_online

from fieldwork.accounts.models import User
from fieldwork.devdata.demo import DEMO_PASSWORD
from fieldwork.extensions import db
from tests.factories import query

pytestmark = pytest.mark.browser

NEW_PASSWORD = "flash-test-pass-2468"
FLASH = ".flash.flash-success[role=status]"


@pytest.fixture
def restore_password(live_server: Any) -> Iterator[list[str]]:
    """The demo helpers the test names get DEMO_PASSWORD back (the live server is shared)."""
    changed: list[str] = []
    yield changed

    def reset() -> None:
        for username in changed:
            user = db.session.scalar(sa.select(User).where(User.username == username))
            user.set_password(DEMO_PASSWORD)
        db.session.commit()
    query(live_server, reset)


def change_password(page: Page) -> Any:
    """Change the password through the account menu's form; the navigation it ends on."""
    page.locator("details.menu summary").click()
    page.get_by_role("link", name="修改密码").click()
    page.locator("input[name=current]").fill(DEMO_PASSWORD)
    page.locator("input[name=new]").fill(NEW_PASSWORD)
    page.locator("input[name=confirm]").fill(NEW_PASSWORD)
    with page.expect_navigation(url=re.compile(r"/$")) as landed:
        page.get_by_role("button", name="保存新密码").click()
    return landed.value


def flag(page: Page) -> bool:
    return page.evaluate("() => document.cookie.split('; ').includes('fieldwork_flash=1')")


def test_the_flash_shows_on_the_locally_drawn_page_once(live_server, new_context, new_page,
                                                        login, restore_password):
    restore_password.append("helper05")
    _context, page = phone_online(new_context, new_page, login, "helper05")

    response = change_password(page)
    # The start page after the redirect is the cached shell, drawn on the phone.
    assert response is not None and response.from_service_worker
    expect(page.locator("[data-offline-app][data-page=mine][data-drawn]")).to_be_attached()
    flash = page.locator(FLASH)
    expect(flash).to_have_count(1)
    expect(flash).to_have_text("密码已修改")
    # Where base.html puts the flashes: at the top of <main>, before the page.
    assert page.evaluate("() => document.querySelector('#main').firstElementChild"
                         ".matches('.flash.flash-success')")
    assert not flag(page)

    page.reload()
    expect(page.locator("[data-offline-app][data-page=mine][data-drawn]")).to_be_attached()
    expect(page.locator(".flash")).to_have_count(0)
    # Nor does a server-rendered page show it later, out of context.
    page.goto("/account/password")
    expect(page.locator("h1")).to_have_text("修改密码")
    expect(page.locator(".flash")).to_have_count(0)


def test_offline_the_flash_waits_for_the_network(live_server, new_context, new_page, login,
                                                 restore_password):
    restore_password.append("helper06")
    context, page = phone_online(new_context, new_page, login, "helper06")
    # The signal drops as the page lands: the flashes cannot be fetched.
    context.route("**/api/session/flashes", lambda route: route.abort())
    change_password(page)
    expect(page.locator("[data-offline-app][data-page=mine][data-drawn]")).to_be_attached()
    expect(page.locator(".flash-success")).to_have_count(0)
    assert flag(page)  # still waiting
    context.unroute("**/api/session/flashes")

    context.set_offline(True)
    page.reload()
    expect(page.locator("[data-offline-app][data-page=mine][data-drawn]")).to_be_attached()
    expect(page.locator(".flash-success")).to_have_count(0)
    assert flag(page)

    context.set_offline(False)  # back in signal: the page asks and shows it
    expect(page.locator(FLASH)).to_have_text("密码已修改")
    assert not flag(page)
    forget_console_errors(page, "ERR_FAILED", *OFFLINE_CONSOLE)

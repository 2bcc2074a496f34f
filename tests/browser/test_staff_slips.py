"""Staff accounts in a real browser: the county office creates an account, the page shows the
one-time password once with a print button, paper shows only the slip, a reload of the page
does not show the password again, and the new account must change it at first login."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from fieldwork.accounts.models import User
from fieldwork.extensions import db
from tests.factories import query

pytestmark = pytest.mark.browser


def test_the_slip_is_shown_once_and_prints_alone(live_server: Any, new_page, login) -> None:
    username = f"slip-{uuid.uuid4().hex[:8]}"
    helper_place = query(live_server, lambda: db.session.scalar(
        sa.select(User.place_id).where(User.username == "demo-helper")))
    page = new_page()
    login(page, "demo-county")
    page.goto("/manage/staff/new")
    page.locator("#s-username").fill(username)
    page.locator("#s-name").fill("周红")
    page.locator("#s-role").select_option("helper")
    page.locator("#s-place").select_option(str(helper_place))
    page.locator("#s-phone").fill("13912345678")
    page.locator("#s-org").fill("宛城区人社局")
    page.get_by_role("button", name="创建账号并生成初始密码").click()
    slip = page.get_by_test_id("slip")
    expect(slip).to_have_count(1)
    password = page.get_by_test_id("slip-password").inner_text().strip()
    assert len(password) == 10
    expect(slip).to_contain_text("首次登录须修改密码")
    expect(slip).to_contain_text("宛城区人社局")
    expect(page.locator('[data-action="print"]')).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator('[data-action="print"]')).to_be_hidden()
    expect(slip).to_be_visible()
    page.emulate_media(media="screen")
    page.reload()  # sends the form again: answered with the account's page, no password
    expect(page.locator("h1")).to_contain_text("周红")
    assert password not in page.content()

    other = new_page()
    other.goto("/login")
    other.locator("input[name=username]").fill(username)
    other.locator("input[name=password]").fill(password)
    other.locator("form:has(input[name=password]) button[type=submit]").click()
    expect(other).to_have_url(f"{live_server.url}/account/password")

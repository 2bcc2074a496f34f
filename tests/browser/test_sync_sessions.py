"""Sessions on a phone that works offline: a login that expires while the phone is out of
signal loses nothing, and two people sharing one phone never see each other's households
or send each other's records."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect
from test_offline import (
    OFFLINE_CONSOLE,
    cached_households,
    fill_visit,
    forget_console_errors,
    idb,
    meta,
    phone_online,
    query,
    record_visit_offline,
    save_visit,
    server_visit,
    settle,
    user_id,
)

from fieldwork.accounts.models import User
from fieldwork.devdata.demo import DEMO_PASSWORD
from fieldwork.extensions import db
from fieldwork.visits.models import Visit

pytestmark = pytest.mark.browser

SYNC_API = "**/api/sync/v1/**"


def _end_sessions(live_server: Any, username: str) -> None:
    """What a password reset or deactivation does on the server: every session of the user
    ends (the login token rotates), the cookie on the phone is worth nothing any more."""
    def rotate() -> None:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        user.rotate_sessions()
        db.session.commit()
    query(live_server, rotate)


def _log_out(page: Page) -> None:
    page.locator("details.menu summary").click()
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/login"))


def _log_in_here(page: Page, username: str) -> None:
    """Sign in on the login page the browser is showing (keeps its ?next=)."""
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(DEMO_PASSWORD)
    page.locator("form:has(input[name=password]) button[type=submit]").click()


def test_session_expired_while_offline_keeps_the_record_until_login(
        live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[3]

    context.set_offline(True)
    visit_id = record_visit_offline(page, household, photo_seeds=(401,))
    page.goto("/households/mine")
    expect(page.locator("[data-syncbar]")).to_have_attribute("data-waiting", "1")
    _end_sessions(live_server, "demo-helper")  # meanwhile, at the office

    with page.expect_response(re.compile(r"/api/sync/v1/session\b")) as answered:
        context.set_offline(False)
    response = answered.value
    assert response.status == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "unauthenticated"

    bar = page.locator("[data-syncbar]")
    expect(bar).to_have_attribute("data-state", "login_required")
    expect(bar.locator("[data-sync-text]")).to_contain_text("登录已过期")
    expect(bar).to_have_attribute("data-waiting", "1")
    expect(bar).to_have_attribute("data-photos", "1")
    relogin = bar.get_by_role("link", name="重新登录")
    expect(relogin).to_be_visible()
    assert [e["id"] for e in idb(page, "outbox")] == [visit_id]
    assert server_visit(live_server, visit_id) is None
    forget_console_errors(page, *OFFLINE_CONSOLE, "status of 401")

    page.goto("/device")  # the page lists it; its own sync meets the same 401
    expect(page.locator(f"[data-entry='{visit_id}']")).to_contain_text("待上传")
    expect(bar).to_have_attribute("data-state", "login_required")
    forget_console_errors(page, "status of 401")

    bar.get_by_role("link", name="重新登录").click()
    page.wait_for_url(re.compile(r"/login\?next=%2Fdevice$"))
    _log_in_here(page, "demo-helper")
    page.wait_for_url(re.compile(r"/device$"))
    settle(page)
    expect(page.locator(f"[data-entry='{visit_id}']")).to_have_count(0)
    expect(page.locator("[data-syncbar] [data-login-link]")).to_have_count(0)

    visit = server_visit(live_server, visit_id)
    assert visit is not None and visit["helper"] == "demo-helper"
    assert visit["photos_stored"] == 1 == len(visit["photos"])


def test_two_users_on_one_phone(live_server, new_context, new_page, login):
    helper_id = str(user_id(live_server, "demo-helper"))
    community_id = str(user_id(live_server, "demo-community"))
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    helper_households = cached_households(page, "demo-helper")
    household = helper_households[4]

    pushes: list[str] = []  # every record the phone sends, as the request body
    context.on("request", lambda r: pushes.append(r.post_data or "")
               if "/api/sync/v1/push" in r.url else None)

    # One visit goes up at once (online); the next is recorded out of signal.
    sent_household = helper_households[5]
    page.goto(f"/households/{sent_household['id']}/visits/new")
    fill_visit(page, sent_household, photo_seeds=())
    save_visit(page)
    page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}$"))
    sent_id = page.url.rsplit("/", 1)[1]
    settle(page)
    context.set_offline(True)
    visit_id = record_visit_offline(page, household, photo_seeds=(501, 502))

    # Back in signal, but the upload has not gone through yet (the sync API is unreachable)
    # when the helper logs out and hands the phone to the community worker.
    context.route(SYNC_API, lambda route: route.abort())
    context.set_offline(False)
    page.goto("/households/mine")
    _log_out(page)
    assert not [h for h in idb(page, "households") if h["user_id"] == helper_id]
    assert meta(page, "session_user") is None
    assert [(e["id"], e["username"]) for e in idb(page, "outbox")] == [(visit_id, "demo-helper")]
    context.unroute(SYNC_API)
    forget_console_errors(page, "ERR_FAILED", *OFFLINE_CONSOLE)  # the API was unreachable

    login(page, "demo-community")
    expect(page.locator("[data-syncbar] [data-sync-text]")).to_contain_text("上次同步")
    settle(page)  # nothing of *theirs* waits
    community_households = cached_households(page, "demo-community")
    assert community_households
    assert {h["user_id"] for h in idb(page, "households")} == {community_id}

    # Offline, the phone shows the community worker's own list, nothing the helper left.
    context.set_offline(True)
    page.goto("/households/mine")
    expect(page.locator("[data-shell-user]")).to_have_text("李建国")
    links = page.locator("[data-offline-app] .list-link")
    expect(links).to_have_count(len(community_households))
    assert sorted(links.evaluate_all("els => els.map(e => e.getAttribute('href'))")) == sorted(
        f"/households/{h['id']}" for h in community_households)
    expect(page.get_by_text("已保存在本机，待上传")).to_have_count(0)
    page.goto("/device")
    entry = page.locator(f"[data-entry='{visit_id}']")
    expect(entry).to_contain_text("属于账号 demo-helper，请用该账号登录后上传")
    # What the helper sent earlier is not listed for the next person (it names a household).
    expect(page.get_by_text("最近已上传")).to_be_visible()
    expect(page.locator(f'a[href="/visits/{sent_id}"]')).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(f"走访 {sent_household['head_name']}")
    forget_console_errors(page, *OFFLINE_CONSOLE)

    # Back online the phone syncs as the community worker: the helper's record stays put.
    with page.expect_response(re.compile(r"/api/sync/v1/pull\b")):
        context.set_offline(False)
    settle(page)
    expect(entry).to_be_visible()
    assert server_visit(live_server, visit_id) is None
    assert not [body for body in pushes if visit_id in body]
    assert query(live_server, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(Visit).where(
            Visit.helper_id == int(community_id)))) == 0

    # The helper signs in again on the same phone: it goes, as theirs.
    page.goto("/")
    settle(page)
    _log_out(page)
    login(page, "demo-helper")
    settle(page)
    visit = server_visit(live_server, visit_id)
    assert visit is not None and visit["helper"] == "demo-helper"
    assert visit["photos_stored"] == 2
    assert len([body for body in pushes if visit_id in body]) == 1
    assert {h["user_id"] for h in idb(page, "households")} == {helper_id}
    assert idb(page, "outbox") == []


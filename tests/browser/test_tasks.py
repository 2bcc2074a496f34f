"""帮扶人任务清单 on the phone (issue 15 part 3): drawn from the synced households by one
renderer (static/js/pages/tasks.js), linked from 我的帮扶户, each row linking to the household
page; the same list offline after a reload."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect
from test_field_pages import drawn
from test_offline import (
    OFFLINE_CONSOLE,
    cached_households,
    forget_console_errors,
    meta,
    phone_online,
)

pytestmark = pytest.mark.browser

STATE_ORDER = {"overdue": 0, "due": 1, "visited": 2}

_ROWS = """() => [...document.querySelectorAll('#task-list > li[data-task]')].map((li) => ({
  id: li.dataset.task,
  state: li.dataset.state,
  href: li.querySelector('a').getAttribute('href'),
  duty: li.querySelector('[data-duty]')?.textContent || '',
  followUps: li.querySelectorAll('[data-follow-up]').length,
  text: li.innerText,
}))"""


def shown(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(_ROWS)


def expected(households: list[dict[str, Any]]) -> list[str]:
    return [h["id"] for h in sorted(households, key=lambda h: (
        STATE_ORDER[h["visit_state"]], h["head_name"], int(h["id"])))]


def test_the_task_list_is_drawn_from_the_phone_online_and_offline(
        live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    households = cached_households(page, "demo-helper")
    assert households and all("visits_required" in h for h in households)

    page.goto("/households/mine")
    drawn(page, "mine")
    page.get_by_test_id("tasks-link").click()
    drawn(page, "tasks")
    expect(page.locator("h1")).to_have_text("帮扶人任务清单")
    online = shown(page)
    assert [r["id"] for r in online] == expected(households)
    by_id = {h["id"]: h for h in households}
    for r in online:
        h = by_id[r["id"]]
        assert r["href"] == f"/households/{h['id']}"
        assert r["duty"] == f"本月已走访 {h['visits_this_month']} / {h['visits_required']} 次"
        assert h["head_name"] in r["text"] and h["address"] in r["text"]
    summary = page.get_by_test_id("tasks-summary").inner_text()
    assert f"共 {len(households)} 户" in summary
    expect(page.locator("[data-print-tasks]")).to_have_attribute(
        "href", f"/print/helpers/{meta(page, 'session_user')['id']}/tasks")

    context.set_offline(True)
    page.reload()
    drawn(page, "tasks")
    expect(page.locator("[data-offline-note]")).to_contain_text("当前离线")
    assert shown(page) == online
    # A row opens the household page, drawn from the phone too.
    first = online[0]
    page.locator(f"#task-list > li[data-task='{first['id']}'] a").click()
    drawn(page, "household")
    expect(page.locator("h1")).to_contain_text(by_id[first["id"]]["head_name"])
    context.set_offline(False)
    forget_console_errors(page, "ERR_FAILED", *OFFLINE_CONSOLE)


DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "is_mobile": False,
                           "has_touch": False, "device_scale_factor": 1}


def test_the_county_prints_a_helpers_list_from_the_helpers_page(live_server, new_page, login):
    from test_offline import user_id
    from test_print_forms import _print, _squeezed

    helper = user_id(live_server, "demo-helper")
    page = new_page(**DESKTOP)
    login(page, "demo-county")
    page.goto(f"/manage/assignments/helpers/{helper}")
    page.get_by_test_id("helper-tasks-link").click()
    page.wait_for_url(f"**/print/helpers/{helper}/tasks")
    rows = page.locator("[data-testid=task-row]")
    assert rows.count() > 0
    states = [rows.nth(i).get_attribute("data-state") for i in range(rows.count())]
    assert states == sorted(states, key=STATE_ORDER.__getitem__)
    assert _print(page, page.url) >= 1
    assert _squeezed(page) == []

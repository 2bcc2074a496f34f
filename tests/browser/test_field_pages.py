"""One renderer per field page (issue #12): the helper's list shows the same households, in the
same order, with the same search results and "saved on this phone" chips online, offline and on
a slow-3G connection; and the field pages are drawn from the phone, the service worker
answering their navigations from its cache without asking the server first.

No timing here: bench/field_nav.py measures how long each navigation takes under slow-3G.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from test_offline import (
    OFFLINE_CONSOLE,
    cached_households,
    forget_console_errors,
    phone_online,
    record_visit_offline,
)

pytestmark = pytest.mark.browser

STATE_ORDER = {"overdue": 0, "due": 1, "visited": 2}
STATE_CHIP = {"overdue": "逾期未走访", "due": "本月待走访", "visited": "本月已走访"}
PENDING_CHIP = "已保存在本机，待上传"
# Chrome DevTools' "Slow 3G" as the issue names it: 400 ms latency, 400 kbit/s each way.
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400 * 1024 / 8,
           "uploadThroughput": 400 * 1024 / 8}
PUSH = "**/api/sync/v1/push"

_ROWS = """() => [...document.querySelectorAll('#household-list .list-item')].map((li) => ({
  href: li.querySelector('a').getAttribute('href'),
  title: li.querySelector('.list-title').firstChild.textContent.trim(),
  chips: [...li.querySelectorAll('.chip')].map((c) => c.textContent),
  text: li.innerText,
}))"""


def drawn(page: Page, name: str) -> None:
    """The page module `name` has drawn the page (from the phone's data)."""
    expect(page.locator(f"[data-offline-app][data-page={name}][data-drawn]")).to_be_attached()


def rows(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(_ROWS)


def expected_order(households: list[dict[str, Any]]) -> list[str]:
    """The server's order (households/views.py `mine` before #12): state, then name."""
    ordered = sorted(households, key=lambda h: (STATE_ORDER[h["visit_state"]], h["head_name"]))
    return [f"/households/{h['id']}" for h in ordered]


def list_as_shown(page: Page, q: str) -> dict[str, Any]:
    """The list, the progress line, and the list after searching for q."""
    page.goto("/households/mine")
    drawn(page, "mine")
    shown = {"all": rows(page),
             "progress": page.get_by_test_id("my-progress").inner_text()}
    page.locator("#q").fill(q)
    expect(page.locator("#household-list .list-item")).not_to_have_count(len(shown["all"]))
    shown["found"] = rows(page)
    page.locator("#q").fill("不存在的地址")
    expect(page.locator("#household-list .empty")).to_have_text(
        "没有找到与“不存在的地址”相符的帮扶户")
    return shown


def slow_3g(context: BrowserContext, page: Page) -> Any:
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    return cdp


def test_the_list_is_the_same_online_offline_and_on_slow_3g(live_server, new_context, new_page,
                                                            login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    households = cached_households(page, "demo-helper")
    pending = households[3]
    context.set_offline(True)
    record_visit_offline(page, pending)
    # Back in signal, the record stays on the phone (the push is refused on the way).
    context.route(PUSH, lambda route: route.abort())

    q = households[5]["head_name"][-1]
    found = [f"/households/{h['id']}" for h in households
             if q in h["head_name"] or q in h["address"]]
    assert 0 < len(found) < len(households)
    done = sum(h["visit_state"] == "visited" or h is pending for h in households)

    shown: dict[str, dict[str, Any]] = {}
    context.set_offline(False)
    shown["online"] = list_as_shown(page, q)
    context.set_offline(True)
    shown["offline"] = list_as_shown(page, q)
    expect(page.locator("[data-offline-note]")).to_contain_text("当前离线")
    context.set_offline(False)
    cdp = slow_3g(context, page)
    shown["slow-3g"] = list_as_shown(page, q)
    cdp.detach()

    for mode, seen in shown.items():
        assert [r["href"] for r in seen["all"]] == expected_order(households), mode
        assert sorted(r["href"] for r in seen["found"]) == sorted(found), mode
        assert re.fullmatch(rf"\d{{4}}年\d{{1,2}}月：已走访 {done} / {len(households)} 户",
                            seen["progress"]), (mode, seen["progress"])
        for r in seen["all"]:
            h = next(x for x in households if f"/households/{x['id']}" == r["href"])
            assert r["title"] == h["head_name"]
            want = PENDING_CHIP if h is pending else STATE_CHIP[h["visit_state"]]
            assert r["chips"][0] == want, (mode, h["head_name"], r["chips"])
            assert "上次走访：" in r["text"]
    # Identical in every mode, to the letter.
    assert shown["online"] == shown["offline"] == shown["slow-3g"]
    context.unroute(PUSH)
    forget_console_errors(page, "ERR_FAILED", *OFFLINE_CONSOLE)


def test_sort_by_distance_puts_the_nearest_first(live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    located = [h for h in cached_households(page, "demo-helper") if h.get("location")]
    assert len(located) >= 3
    here = located[2]["location"]
    context.set_geolocation({"latitude": here["lat"], "longitude": here["lon"], "accuracy": 10})
    page.goto("/households/mine")
    drawn(page, "mine")
    page.get_by_role("button", name="按距离排序").click()
    first_of_its_state = page.locator(
        f"#household-list .list-item.state-{located[2]['visit_state']}").first
    expect(first_of_its_state.locator("a")).to_have_attribute("href",
                                                               f"/households/{located[2]['id']}")
    expect(first_of_its_state.locator("[data-distance]")).to_contain_text("约 0 m")


def test_field_pages_are_drawn_from_the_phone_without_waiting_for_the_network(
        live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[0]
    paths = {
        "mine": "/households/mine",
        "household": f"/households/{household['id']}",
        "visit": f"/households/{household['id']}/visits/new",
        "device": "/device",
    }
    reached_server: list[str] = []  # navigations the service worker passed on to the network
    context.on("request", lambda r: reached_server.append(r.url)
               if r.service_worker is not None and "/static/" not in r.url
               and "/api/" not in r.url else None)
    cdp = slow_3g(context, page)
    for name, path in [*paths.items(), ("mine", paths["mine"])]:
        response = page.goto(path, wait_until="commit")
        assert response is not None and response.from_service_worker, path
        drawn(page, name)
        assert not [u for u in reached_server if u.endswith(path)], (path, reached_server)
    expect(page.locator("[data-offline-app] h1")).to_have_text("我的帮扶户")
    cdp.detach()


def test_the_household_page_shows_the_file_and_the_pending_visit(live_server, new_context,
                                                                 new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[2]
    page.goto(f"/households/{household['id']}")
    drawn(page, "household")
    main = page.locator("[data-offline-app]")
    expect(main.locator("h1")).to_contain_text(household["head_name"])
    for text in ("家庭档案", household["address"], household["region"]["name"], "家庭成员",
                 "在落实的帮扶措施", "帮扶责任人", "参考位置", "最近走访", "张红梅"):
        expect(main).to_contain_text(text)
    expect(main).to_contain_text(STATE_CHIP[household["visit_state"]])
    context.set_offline(True)
    record_visit_offline(page, household)
    page.goto(f"/households/{household['id']}")
    expect(main.locator("[data-pending]")).to_have_text("本次走访已保存在本机，待上传")
    forget_console_errors(page, *OFFLINE_CONSOLE)
    context.set_offline(False)


def test_first_login_on_a_phone_says_it_is_syncing_then_draws(live_server, new_context,
                                                              new_page, login):
    context = new_context()
    page = new_page(context)
    context.route("**/api/sync/v1/pull*", lambda route: route.abort())  # the pull cannot land
    login(page, "demo-helper")
    expect(page.get_by_test_id("first-sync")).to_contain_text("正在同步…")
    expect(page.locator("#household-list")).to_have_count(0)
    context.unroute("**/api/sync/v1/pull*")
    page.locator("[data-action=sync-now]").click()
    drawn(page, "mine")  # drawn from the first pull, once it has landed
    expect(page.locator("#household-list .list-item").first).to_be_visible()
    expect(page.get_by_test_id("first-sync")).to_have_count(0)
    forget_console_errors(page, "ERR_FAILED")

"""The phone with no network: cold start from the home screen, a visit with photos recorded
offline and sent exactly once when the network is back, an upload cut in the middle.

Real service worker, real IndexedDB, Chromium's own offline emulation (context.set_offline).
The helpers here are shared with test_sync_sessions.py and test_sw_update.py.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image
from playwright.sync_api import BrowserContext, Page, expect

from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households.constants import DIMENSIONS
from fieldwork.photos.models import Photo
from fieldwork.visits.models import Visit
from tests.factories import camera_jpeg, query

pytestmark = pytest.mark.browser

SYNCED = "[data-syncbar][data-state=idle][data-waiting='0'][data-photos='0']"
OFFLINE_CONSOLE = ("ERR_INTERNET_DISCONNECTED",)

# ---------------------------------------------------------------- shared helpers

_IDB_ROWS = """async (store) => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open("fieldwork");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  try {
    return await new Promise((resolve, reject) => {
      const q = db.transaction(store).objectStore(store).getAll();
      q.onsuccess = () => resolve(q.result.map(({ buffer, ...row }) => (
        { ...row, has_bytes: Boolean(buffer) })));
      q.onerror = () => reject(q.error);
    });
  } finally {
    db.close();
  }
}"""

_WORKER_READY = """async () => {
  const reg = await navigator.serviceWorker.ready;
  return { active: Boolean(reg.active), controlled: Boolean(navigator.serviceWorker.controller) };
}"""


def idb(page: Page, store: str) -> list[dict[str, Any]]:
    """Every row of one IndexedDB store of the app (photo bytes left out). Only once the app
    has opened its database: opening it first here would create it without its stores."""
    return page.evaluate(_IDB_ROWS, store)


def meta(page: Page, key: str) -> Any:
    return next((row["value"] for row in idb(page, "meta") if row["key"] == key), None)


def forget_console_errors(page: Page, *patterns: str) -> None:
    """Drop the console errors a test provoked on purpose (e.g. net::ERR_INTERNET_DISCONNECTED
    while offline); every other error still fails the test at teardown."""
    page.console_errors[:] = [e for e in page.console_errors
                              if not any(p in e for p in patterns)]


def user_id(live_server: Any, username: str) -> int:
    return query(live_server, lambda: db.session.scalar(
        sa.select(User.id).where(User.username == username)))


def phone_online(new_context: Callable[..., Any], new_page: Callable[..., Any],
                 login: Callable[..., None], username: str) -> tuple[BrowserContext, Page]:
    """A fresh phone on which `username` logged in once online and opened the app: the service
    worker is installed and controls the page (so the shell is precached) and the first
    sync has pulled the user's households into IndexedDB."""
    context = new_context()
    page = new_page(context)
    login(page, username)  # lands on the user's start page, which syncs
    # A fresh phone has no time of a last sync until its first one has finished.
    expect(page.locator("[data-syncbar] [data-sync-text]")).to_contain_text("上次同步")
    settle(page)
    worker = page.evaluate(_WORKER_READY)
    assert worker["active"]
    if not worker["controlled"]:
        page.reload()
        settle(page)
        assert page.evaluate(_WORKER_READY)["controlled"]
    return context, page


def settle(page: Page) -> None:
    """Wait until the syncs this page started have finished with nothing left to send. The bar
    says "sending" from the moment a page asks for a sync until the server has answered its
    last request, so idle here means no request of the phone is still in flight."""
    expect(page.locator(SYNCED)).to_be_attached()


def cached_households(page: Page, username: str) -> list[dict[str, Any]]:
    """The households the phone keeps for `username`, in id order."""
    session_user = meta(page, "session_user")
    assert session_user and session_user["username"] == username
    rows = [h for h in idb(page, "households") if h["user_id"] == session_user["id"]]
    return sorted(rows, key=lambda h: int(h["id"]))


def fill_discovery(page: Page, head: str, address: str, id_number: str, *,
                   phone: str = "13937702222", members: str = "3",
                   reason: str = "丈夫去年病故，两个孩子上学，靠打零工维持") -> Any:
    """Fill in the discovery form on screen (region and check-in left as they are)."""
    form = page.locator("#discovery-form")
    expect(form).to_be_visible()
    form.locator("#f-address").fill(address)
    form.locator("#f-head_name").fill(head)
    form.locator("#f-id_number").fill(id_number)
    form.locator("#f-contact_phone").fill(phone)
    form.locator("#f-members_count").fill(members)
    form.locator('[data-field=category] label.seg-below_dibao').click()
    form.locator("[data-field=causes] label", has_text="重大疾病").click()
    form.locator("#f-reason").fill(reason)
    return form


def fill_visit(page: Page, household: dict[str, Any], photo_seeds: Iterable[int]) -> None:
    """Fill in the visit form on screen (online page or offline shell), with photos."""
    location = household.get("location")
    if location:
        page.context.set_geolocation({"latitude": location["lat"], "longitude": location["lon"],
                                      "accuracy": 10})
    form = page.locator("form#visit-form")
    expect(form).to_be_visible()
    page.locator("#f-present").fill("户主本人")
    for dim in DIMENSIONS:
        page.locator(f'[data-field="{dim}_status"] label.seg-ok').click()
    page.locator("#f-household_income").fill("1200")
    seeds = list(photo_seeds)
    if seeds:
        page.locator("#f-photo").set_input_files([
            {"name": f"IMG_{seed:04d}.jpg", "mimeType": "image/jpeg", "buffer": camera_jpeg(seed)}
            for seed in seeds
        ])
        expect(page.locator("[data-photo-previews] li")).to_have_count(len(seeds))


def save_visit(page: Page) -> None:
    page.get_by_test_id("save-visit").click()
    expect(page.get_by_test_id("saved-on-phone")).to_contain_text("已保存在本手机")


def record_visit_offline(page: Page, household: dict[str, Any],
                         photo_seeds: Iterable[int] = ()) -> str:
    """With the context offline, open the visit form from the shell, fill it in and save.
    Returns the id of the record now in the outbox."""
    before = {e["id"] for e in idb(page, "outbox")}
    page.goto(f"/households/{household['id']}/visits/new")
    expect(page.locator("[data-offline-note]")).to_be_visible()  # the shell, not the server
    fill_visit(page, household, photo_seeds)
    save_visit(page)
    expect(page.locator("[data-saved-status]")).to_contain_text("联网后会自动上传")
    new = [e for e in idb(page, "outbox") if e["id"] not in before]
    assert len(new) == 1, new
    return new[0]["id"]


def server_visit(live_server: Any, visit_id: str) -> dict[str, Any] | None:
    """The visit as the server holds it, with its photos, or None."""
    def load() -> dict[str, Any] | None:
        visit = db.session.get(Visit, visit_id)
        if visit is None:
            return None
        photos = db.session.scalars(sa.select(Photo).where(Photo.visit_id == visit_id)).all()
        return {"helper": visit.helper.username, "household_id": visit.household_id,
                "photos_declared": visit.photos_declared, "photos_stored": visit.photos_stored,
                "photos": [{"id": p.id, "stored": p.stored,
                            "same_bytes": p.upload_sha256 == p.declared_sha256}
                           for p in photos]}
    return query(live_server, load)


def visits_of(live_server: Any, household_id: int) -> set[str]:
    return set(query(live_server, lambda: db.session.scalars(
        sa.select(Visit.id).where(Visit.household_id == household_id)).all()))


def sync_now_and_wait(page: Page) -> None:
    """Press 立即同步 and wait until that sync has pulled (the last step of every sync) and
    the bar has settled with nothing waiting."""
    with page.expect_response(re.compile(r"/api/sync/v1/pull\b")) as pulled:
        page.locator("[data-syncbar] [data-action=sync-now]").click()
    assert pulled.value.status == 200
    settle(page)


# ---------------------------------------------------------------- the tests


def test_cold_start_offline_after_one_online_visit(live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    assert page.url.endswith("/households/mine")
    online_list = page.locator("#household-list .list-link").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")
    assert online_list
    households = cached_households(page, "demo-helper")
    assert sorted(f"/households/{h['id']}" for h in households) == sorted(online_list)
    assert not any("id_number" in h or "head_id_enc" in h for h in households)

    context.set_offline(True)
    page.close()  # the app is swiped away; later it is opened from the home-screen icon
    page = new_page(context)
    names = [h["head_name"] for h in households]
    for start in ("/?source=pwa", "/households/mine"):
        page.goto(start)
        expect(page.locator("[data-offline-note]")).to_contain_text("当前离线")
        expect(page.locator("[data-shell-user]")).to_have_text("张红梅")
        links = page.locator("[data-offline-app] .list-link")
        expect(links).to_have_count(len(households))
        assert sorted(links.evaluate_all("els => els.map(e => e.getAttribute('href'))")) \
            == sorted(online_list)
        for name in names:
            expect(page.locator("[data-offline-app] .list-title", has_text=name)).to_have_count(1)
    expect(page.locator("[data-syncbar]")).to_have_attribute("data-state", "offline")

    household = households[0]
    page.goto(f"/households/{household['id']}")
    expect(page.locator("[data-offline-app] h1")).to_contain_text(household["head_name"])
    expect(page.locator("[data-offline-app]")).to_contain_text(household["address"])
    page.reload()  # a reload with no network opens the same page from the phone
    expect(page.locator("[data-offline-app] h1")).to_contain_text(household["head_name"])
    page.get_by_test_id("record-visit").click()

    page.wait_for_url(re.compile(rf"/households/{household['id']}/visits/new$"))
    expect(page.get_by_role("heading", name="入户调查表")).to_be_visible()
    expect(page.locator("[data-offline-app]")).to_contain_text(household["head_name"])
    for dim in DIMENSIONS:
        options = page.locator(f'[data-field="{dim}_status"] input[type=radio]')
        expect(options).to_have_count(3)
    expect(page.locator("#f-household_income")).to_be_visible()
    expect(page.get_by_test_id("save-visit")).to_be_visible()
    forget_console_errors(page, *OFFLINE_CONSOLE)


def test_visit_with_two_photos_recorded_offline_syncs_exactly_once(
        live_server, new_context, new_page, login, tmp_path):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[1]
    before = visits_of(live_server, int(household["id"]))

    context.set_offline(True)
    visit_id = record_visit_offline(page, household, photo_seeds=(201, 202))
    page.close()

    page = new_page(context)  # reopened later, still with no network
    page.goto("/households/mine")
    bar = page.locator("[data-syncbar]")
    expect(bar).to_have_attribute("data-state", "offline")
    expect(bar).to_have_attribute("data-waiting", "1")
    expect(bar).to_have_attribute("data-photos", "2")
    expect(bar.locator("[data-sync-text]")).to_contain_text("1 条记录、2 张照片")
    mine = page.locator("[data-offline-app] .list-item", has_text=household["head_name"])
    expect(mine).to_contain_text("已保存在本机，待上传")

    page.goto("/device")
    entry = page.locator(f"[data-testid=outbox-list] [data-entry='{visit_id}']")
    expect(entry).to_contain_text(f"走访 {household['head_name']}")
    expect(entry).to_contain_text("照片 0/2")
    # Keep a copy, as a helper would before the phone is wiped: it is resent further down.
    with page.expect_download() as download:
        page.locator("[data-action=export]").click()
    exported = tmp_path / "unsent.json"
    download.value.save_as(exported)
    payload = json.loads(exported.read_text("utf-8"))
    assert [e["id"] for e in payload["entries"]] == [visit_id]
    assert len(payload["entries"][0]["photos"]) == 2
    assert server_visit(live_server, visit_id) is None
    forget_console_errors(page, *OFFLINE_CONSOLE)

    context.set_offline(False)  # the `online` event sends it, nobody presses anything
    expect(page.locator(SYNCED)).to_be_attached()
    expect(entry).to_have_count(0)
    expect(page.locator(f'a[href="/visits/{visit_id}"]')).to_have_count(1)  # 最近已上传

    visit = server_visit(live_server, visit_id)
    assert visit is not None and visit["helper"] == "demo-helper"
    assert visit["photos_declared"] == 2 and visit["photos_stored"] == 2
    assert len(visit["photos"]) == 2
    assert all(p["stored"] and p["same_bytes"] for p in visit["photos"])
    assert visits_of(live_server, int(household["id"])) == before | {visit_id}

    # The same record again (imported from the exported file): the server says duplicate,
    # the phone lets it go, nothing is stored twice.
    with page.expect_response(re.compile(r"/api/sync/v1/push\b")) as pushed:
        page.locator("#import-file").set_input_files(exported)
    assert [(r["id"], r["status"]) for r in pushed.value.json()["results"]] \
        == [(visit_id, "duplicate")]
    expect(page.locator(f'a[href="/visits/{visit_id}"]')).to_have_count(2)
    expect(page.locator(SYNCED)).to_be_attached()
    sync_now_and_wait(page)  # and a sync with nothing to send sends nothing

    assert visits_of(live_server, int(household["id"])) == before | {visit_id}
    again = server_visit(live_server, visit_id)
    assert again == visit
    assert idb(page, "outbox") == [] and idb(page, "photos") == []


def test_upload_cut_in_the_middle_resumes_and_stores_each_photo_once(
        live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[2]
    photo_url = re.compile(r"/api/sync/v1/photos/(?P<id>[0-9a-f-]{36})$")
    # What the network does to each photo upload, in turn.
    network = ["answer lost", "through", "cut"]
    sent: list[tuple[str, str]] = []  # (photo id, what happened)
    answers: list[tuple[str, int]] = []  # (photo id, HTTP status the phone got)
    page.on("response", lambda r: answers.append((photo_url.search(r.url)["id"], r.status))
            if photo_url.search(r.url) else None)

    def flaky(route: Any) -> None:
        what = network.pop(0) if network else "through"
        sent.append((photo_url.search(route.request.url)["id"], what))
        if what == "answer lost":
            # The photo reaches the server, then the connection drops before the answer
            # comes back: the phone cannot know it was stored.
            route.fetch()
            route.abort("connectionreset")
        elif what == "cut":  # the connection drops while the photo is on its way
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/api/sync/v1/photos/*", flaky)
    page.goto(f"/households/{household['id']}/visits/new")
    fill_visit(page, household, photo_seeds=(301, 302))
    save_visit(page)

    bar = page.locator("[data-syncbar]")
    expect(bar).to_have_attribute("data-state", "error")
    expect(bar.locator("[data-sync-text]")).to_contain_text("同步未完成")
    # The record is on the server, its photos not all: the outbox keeps both photos (the
    # phone cannot tell the first one arrived).
    expect(bar).to_have_attribute("data-waiting", "1")
    expect(bar).to_have_attribute("data-photos", "2")
    visit_id = next(e["id"] for e in idb(page, "outbox"))
    assert [(e["id"], e["state"]) for e in idb(page, "outbox")] == [(visit_id, "accepted")]
    assert len(sent) == 1
    first = sent[0][0]
    visit = server_visit(live_server, visit_id)
    assert visit["photos_declared"] == 2 and visit["photos_stored"] == 1

    # Next round: the first photo again (the server already has it), then the second is cut.
    page.locator("[data-syncbar] [data-action=sync-now]").click()
    expect(bar).to_have_attribute("data-photos", "1")
    expect(bar).to_have_attribute("data-state", "error")
    second = next(p for p, what in sent if what == "cut")
    assert server_visit(live_server, visit_id)["photos_stored"] == 1

    page.locator("[data-syncbar] [data-action=sync-now]").click()
    page.wait_for_url(f"**/visits/{visit_id}")  # the saved panel follows the upload
    settle(page)

    assert sent == [(first, "answer lost"), (first, "through"), (second, "cut"),
                    (second, "through")]
    assert answers == [(first, 200), (second, 201)]  # 200: already stored, a safe repeat
    visit = server_visit(live_server, visit_id)
    assert visit["photos_declared"] == 2 and visit["photos_stored"] == 2
    assert sorted(p["id"] for p in visit["photos"]) == sorted([first, second])
    assert all(p["stored"] and p["same_bytes"] for p in visit["photos"])
    assert idb(page, "outbox") == [] and idb(page, "photos") == []
    forget_console_errors(page, "ERR_CONNECTION_RESET")


def test_manifest_makes_an_installable_app(live_server, page):
    page.goto("/login")
    manifest = page.evaluate("""async () => {
      const href = document.querySelector('link[rel=manifest]').href;
      const res = await fetch(href);
      return { type: res.headers.get('content-type'), body: await res.text() };
    }""")
    assert manifest["type"].startswith("application/manifest+json")
    data = json.loads(manifest["body"])
    assert data["name"] == "南阳解困走访" and data["short_name"] == "解困走访"
    assert data["start_url"].startswith("/") and data["display"] == "standalone"
    maskable = [i for i in data["icons"] if "maskable" in i.get("purpose", "")]
    assert [(i["sizes"], i["type"]) for i in maskable] == [("512x512", "image/png")]
    for icon in data["icons"]:
        response = page.request.get(icon["src"])
        assert response.ok, icon
        assert response.headers["content-type"].startswith(icon["type"])
        if icon["type"] == "image/png":
            image = Image.open(io.BytesIO(response.body()))
            assert image.format == "PNG"
            assert f"{image.width}x{image.height}" == icon["sizes"]
    # And the browser itself loads the maskable icon as an image.
    size = page.evaluate("""async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    }""", maskable[0]["src"])
    assert size == [512, 512]

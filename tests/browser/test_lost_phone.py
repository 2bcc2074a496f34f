"""A lost phone (audit finding 4) and a double tap (finding 6), on a real phone browser.

- Browser storage never holds a full ID number, a name of an unsent record, or a photo in
  plain form: the outbox is sealed with AES-GCM under a non-extractable per-user key.
- The server saying "account deactivated" wipes the user's households, pulled data and
  cached personal pages; unsent records stay (sealed).
- An explicit 401 (login expired) hides the households until the same user signs in again;
  a login that expires out of signal hides nothing (the helper keeps recording visits).
- /device exports only the signed-in user's own records; logged out, nothing.
- The duplicate check shows out-of-scope candidates as advice only (finding 1).
- A double tap on "检查并保存" / "保存走访记录" saves one record.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect
from test_offline import (
    OFFLINE_CONSOLE,
    SYNCED,
    cached_households,
    fill_discovery,
    fill_visit,
    forget_console_errors,
    idb,
    meta,
    phone_online,
    query,
    record_visit_offline,
    server_visit,
    settle,
    user_id,
    visits_of,
)

from fieldwork.accounts.models import User
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import reveal_id
from tests.factories import camera_jpeg

pytestmark = pytest.mark.browser

# Every value of every store of the app's IndexedDB, as text: strings as they are, byte
# buffers decoded (UTF-8 and Latin-1, so a plain JSON or JPEG in a buffer shows), keys
# described. What a person reading the phone's storage would find.
_RAW_IDB = """async () => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open("fieldwork");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const out = [];
  const keys = [];
  const jpegs = [];
  const walk = (v) => {
    if (v == null) return;
    if (["string", "number", "boolean"].includes(typeof v)) { out.push(String(v)); return; }
    if (v instanceof CryptoKey) {
      keys.push({ extractable: v.extractable, type: v.type, algorithm: v.algorithm.name });
      return;
    }
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
      const bytes = v instanceof ArrayBuffer ? new Uint8Array(v)
        : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) jpegs.push(bytes.length);
      out.push(new TextDecoder("utf-8").decode(bytes));
      out.push(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
      return;
    }
    if (Array.isArray(v)) { v.forEach(walk); return; }
    if (typeof v === "object") { for (const [k, x] of Object.entries(v)) { out.push(k); walk(x); } }
  };
  try {
    for (const name of db.objectStoreNames) {
      const rows = await new Promise((resolve, reject) => {
        const q = db.transaction(name).objectStore(name).getAll();
        q.onsuccess = () => resolve(q.result);
        q.onerror = () => reject(q.error);
      });
      walk(rows);
    }
  } finally {
    db.close();
  }
  return { text: out.join("\\n"), keys, jpegs };
}"""

_CACHED_PATHS = """async () => {
  const paths = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const r of await cache.keys()) paths.push(new URL(r.url).pathname);
  }
  return paths;
}"""


def _set_active(live_server: Any, username: str, active: bool) -> None:
    from fieldwork.accounts.services import deactivate_user

    def change() -> None:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if active:
            user.active = True
        else:
            deactivate_user(user)  # what the office does for a lost phone
        db.session.commit()
    query(live_server, change)


def _rotate(live_server: Any, username: str) -> None:
    def rotate() -> None:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        user.rotate_sessions()
        db.session.commit()
    query(live_server, rotate)


def _reports_of(live_server: Any, head_name: str) -> list[DiscoveryReport]:
    return query(live_server, lambda: list(db.session.scalars(sa.select(DiscoveryReport).where(
        DiscoveryReport.head_name == head_name))))


def test_browser_storage_holds_no_id_number_name_or_photo(live_server, new_context, new_page,
                                                           login):
    head, address = "郑秀兰", "工业路17号院5号楼1单元302"
    id_number = make_test_id_number("411302", date(1972, 3, 8), 415)
    context = new_context(permissions=[])  # no position: nothing "nearby" to confirm
    page = new_page(context)
    login(page, "demo-community")
    page.goto("/discovery/new")
    settle(page)
    context.set_offline(True)
    form = fill_discovery(page, head, address, id_number)
    form.locator("#f-photo").set_input_files([
        {"name": "IMG_0420.jpg", "mimeType": "image/jpeg", "buffer": camera_jpeg(420)}])
    expect(form.locator("[data-photo-previews] img")).to_have_count(1)
    form.get_by_test_id("save-discovery").click()
    expect(page.get_by_test_id("saved-on-phone")).to_be_visible()

    raw = page.evaluate(_RAW_IDB)
    assert re.search(r"\d{17}[\dX]", raw["text"]) is None, "an 18-character ID number is stored"
    assert id_number not in raw["text"] and id_number[-8:] not in raw["text"]
    assert head not in raw["text"] and address not in raw["text"]
    assert raw["jpegs"] == []  # the photo is sealed too
    assert raw["keys"] and all(not k["extractable"] for k in raw["keys"])
    assert all(k["algorithm"] == "AES-GCM" for k in raw["keys"])
    [entry] = idb(page, "outbox")
    assert "record" not in entry and entry["sealed"]
    # The phone itself still knows what it holds: its own user sees the label on /device.
    page.goto("/device")
    expect(page.locator(f"[data-entry='{entry['id']}']")).to_contain_text(f"新发现 {head}")
    forget_console_errors(page, *OFFLINE_CONSOLE)

    with page.expect_response(re.compile(r"/api/sync/v1/pull\b")):
        context.set_offline(False)
    expect(page.locator(SYNCED)).to_be_attached()
    [report] = _reports_of(live_server, head)
    assert report.id == entry["id"] and report.address == address
    assert query(live_server, lambda: reveal_id(
        db.session.get(DiscoveryReport, report.id).id_enc)) == id_number
    assert report.photos_declared == 1 == report.photos_stored
    assert idb(page, "outbox") == [] and idb(page, "photos") == []
    sent = meta(page, "sent_log")
    assert sent and head not in json.dumps(sent, ensure_ascii=False)


def test_a_deactivated_account_wipes_the_phone_but_keeps_its_unsent_work(
        live_server, new_context, new_page, login):
    uid = str(user_id(live_server, "demo-helper"))
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    households = cached_households(page, "demo-helper")
    assert households
    household = households[6]
    # A personal page some earlier version (or a proxy) left in the app's cache.
    page.evaluate("""async () => {
      const cache = await caches.open("fieldwork-runtime-old");
      await cache.put("/households/mine", new Response("<h1>我的帮扶户</h1>"));
    }""")
    context.set_offline(True)
    visit_id = record_visit_offline(page, household)
    page.goto("/households/mine")
    expect(page.locator("[data-offline-app]")).to_contain_text(household["head_name"])

    _set_active(live_server, "demo-helper", False)  # the phone is reported lost
    try:
        with page.expect_response(re.compile(r"/api/sync/v1/session\b")) as answered:
            context.set_offline(False)
        assert answered.value.status == 401
        assert answered.value.json()["error"]["code"] == "account_disabled"
        bar = page.locator("[data-syncbar]")
        expect(bar).to_have_attribute("data-state", "account_disabled")
        expect(bar.locator("[data-sync-text]")).to_contain_text("此账号已停用")
        # The list on screen goes at once, without waiting for the next page.
        expect(page.locator("[data-offline-app]")).to_contain_text("需要登录")
        expect(page.locator("main")).not_to_contain_text(household["head_name"])
        forget_console_errors(page, "status of 401", *OFFLINE_CONSOLE)

        assert [h for h in idb(page, "households") if h["user_id"] == uid] == []
        keys = {row["key"] for row in idb(page, "meta")}
        assert not [k for k in keys if k.endswith(f":{uid}") and not k.startswith("revoked:")]
        assert meta(page, "session_user") is None
        assert "/households/mine" not in page.evaluate(_CACHED_PATHS)
        assert "/offline" in page.evaluate(_CACHED_PATHS)  # the app itself still opens
        # The unsent visit stays, sealed, for the office to recover; never sent as this user.
        [entry] = idb(page, "outbox")
        assert entry["id"] == visit_id and "record" not in entry
        assert server_visit(live_server, visit_id) is None

        # Whoever holds the phone now sees no household, offline or not.
        context.set_offline(True)
        page.goto("/households/mine")
        expect(page.locator("[data-offline-app]")).to_contain_text("需要登录")
        expect(page.locator("main")).not_to_contain_text(household["head_name"])
        page.goto(f"/households/{household['id']}")
        expect(page.locator("main")).not_to_contain_text(household["address"])
        page.goto("/device")
        item = page.locator(f"[data-entry='{visit_id}']")
        expect(item).to_contain_text("走访记录")
        expect(item).not_to_contain_text(household["head_name"])
        expect(page.locator("[data-action=export]")).to_have_count(0)
        forget_console_errors(page, *OFFLINE_CONSOLE)
    finally:
        _set_active(live_server, "demo-helper", True)
    context.set_offline(False)


def test_an_expired_login_hides_households_until_the_same_user_signs_in(
        live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[7]
    context.set_offline(True)
    page.goto("/households/mine")
    _rotate(live_server, "demo-helper")  # the login ends while the helper is out of signal
    # Out of signal nothing has told the phone: the helper keeps working.
    row = page.locator("[data-offline-app] .list-item", has_text=household["head_name"])
    expect(row).to_be_visible()
    visit_id = record_visit_offline(page, household)

    page.goto("/households/mine")
    with page.expect_response(re.compile(r"/api/sync/v1/session\b")) as answered:
        context.set_offline(False)
    assert answered.value.json()["error"]["code"] == "unauthenticated"
    expect(page.locator("[data-syncbar]")).to_have_attribute("data-state", "login_required")
    expect(page.get_by_test_id("login-again")).to_be_visible()  # the list on screen goes too
    forget_console_errors(page, "status of 401", *OFFLINE_CONSOLE)
    uid = str(user_id(live_server, "demo-helper"))
    assert meta(page, f"locked:{uid}")
    assert cached_households(page, "demo-helper")  # kept, only hidden

    context.set_offline(True)
    for path in ("/households/mine", f"/households/{household['id']}",
                 f"/households/{household['id']}/visits/new"):
        page.goto(path)
        expect(page.get_by_test_id("login-again")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text(household["head_name"])
    page.goto("/device")
    expect(page.locator(f"[data-entry='{visit_id}']")).to_contain_text("待上传")
    expect(page.locator("main")).not_to_contain_text(household["head_name"])
    expect(page.locator("[data-action=export]")).to_have_count(0)
    forget_console_errors(page, *OFFLINE_CONSOLE)

    context.set_offline(False)
    login(page, "demo-helper")  # the same user again: the visit goes, the list shows again
    settle(page)
    assert server_visit(live_server, visit_id) is not None
    assert meta(page, f"locked:{uid}") is None
    context.set_offline(True)
    page.goto("/households/mine")
    expect(page.locator("[data-offline-app] .list-item", has_text=household["head_name"])) \
        .to_be_visible()
    # Every sync started before the new login met the same 401 (load, online, worker).
    forget_console_errors(page, "status of 401", *OFFLINE_CONSOLE)
    context.set_offline(False)


_PLANT_OTHER = """async () => {
  const outbox = await import("/static/js/outbox.js");
  await outbox.append({ user: { id: "990001", username: "someone-else" }, label: "走访 别人家",
    record: { type: "visit", id: crypto.randomUUID(), household_id: "1",
              visited_at: new Date().toISOString(), location: null, answers: {}, notes: "",
              photos: [], supersedes: null } });
}"""


def test_device_export_needs_the_owners_login_and_gives_only_their_records(
        live_server, new_context, new_page, login, tmp_path):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[8]
    page.evaluate(_PLANT_OTHER)  # a record another user left on this shared phone
    context.set_offline(True)
    visit_id = record_visit_offline(page, household)
    context.route("**/api/sync/v1/**", lambda route: route.abort())  # nothing leaves yet
    context.set_offline(False)
    page.goto("/device")
    with page.expect_download() as download:
        page.locator("[data-action=export]").click()
    exported = tmp_path / "mine.json"
    download.value.save_as(exported)
    payload = json.loads(exported.read_text("utf-8"))
    assert [(e["id"], e["username"]) for e in payload["entries"]] == [(visit_id, "demo-helper")]
    assert payload["entries"][0]["record"]["household_id"] == str(household["id"])

    page.goto("/households/mine")
    page.locator("details.menu summary").click()
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto("/device")
    expect(page.locator(f"[data-entry='{visit_id}']")).to_contain_text("属于账号 demo-helper")
    expect(page.locator("[data-export-login]")).to_be_visible()
    expect(page.locator("[data-action=export]")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(household["head_name"])
    context.unroute("**/api/sync/v1/**")
    forget_console_errors(page, "ERR_FAILED", *OFFLINE_CONSOLE)


def test_out_of_scope_duplicates_show_only_the_advice(live_server, new_context, new_page,
                                                      login):
    """The answer shape of the duplicate check (finding 1) is the server's; here the browser
    is given it as documented and must render it without name, address or link."""
    context = new_context(permissions=[])
    page = new_page(context)
    login(page, "demo-community")
    page.goto("/discovery/new")
    settle(page)
    answer = {"candidates": [
        {"in_scope": False, "reason": "same_id", "county": "邓州市",
         "advice": "该身份证号已在邓州市登记，请与县民政部门核实后再上报"},
        {"in_scope": True, "household_id": 1, "head_name": "王秀英", "address": "和平路1号",
         "status": "enrolled", "why": ["similar_name_address"]},
    ]}
    page.route("**/api/sync/v1/discovery/check", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(answer, ensure_ascii=False)))
    form = fill_discovery(page, "冯桂芝", "建设路9号", make_test_id_number(
        "411302", date(1980, 1, 2), 33))
    form.get_by_test_id("save-discovery").click()
    box = page.get_by_test_id("duplicate-candidates")
    outside = box.locator("[data-out-of-scope]")
    expect(outside).to_contain_text("该身份证号已在邓州市登记，请与县民政部门核实后再上报")
    expect(outside).to_contain_text("身份证号相同")
    expect(outside.locator("a")).to_have_count(0)
    inside = box.locator("[data-in-scope]")
    expect(inside.get_by_role("link", name="王秀英")).to_have_attribute("href", "/households/1")
    expect(page.get_by_test_id("saved-on-phone")).to_have_count(0)


_TAP_TWICE = """(selector) => {
  const form = document.querySelector(selector);
  form.querySelector("[type=submit]").click();
  form.requestSubmit();  // a second tap that gets through whatever the button's state
}"""


def test_a_double_tap_on_check_and_save_reports_once(live_server, new_context, new_page, login):
    head = "褚玉梅"
    context = new_context(permissions=[])
    page = new_page(context)
    login(page, "demo-community")
    page.goto("/discovery/new")
    settle(page)
    fill_discovery(page, head, "光武路203号", make_test_id_number("411302", date(1966, 5, 4), 58))
    page.evaluate(_TAP_TWICE, "#discovery-form")
    expect(page.get_by_test_id("saved-on-phone")).to_be_visible()
    expect(page.locator("[data-saved-status]")).to_have_text("已上传到服务器")
    settle(page)
    assert len(_reports_of(live_server, head)) == 1


def test_a_double_tap_on_save_visit_records_once(live_server, new_context, new_page, login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[9]
    before = visits_of(live_server, int(household["id"]))
    page.goto(f"/households/{household['id']}/visits/new")
    fill_visit(page, household, photo_seeds=())
    page.evaluate(_TAP_TWICE, "#visit-form")
    page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}$"))
    settle(page)
    assert len(visits_of(live_server, int(household["id"])) - before) == 1


_PLANT_LEGACY = """async ({ uid, idNumber, head }) => {
  // An entry as the app wrote it before the outbox was sealed (database version 1 shape).
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open("fieldwork");
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const id = crypto.randomUUID();
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]).buffer;
  await new Promise((resolve, reject) => {
    const t = db.transaction(["outbox", "photos", "meta"], "readwrite");
    t.objectStore("outbox").add({ id, type: "discovery", user_id: uid, username: "demo-community",
      label: `新发现 ${head}`, created_at: new Date().toISOString(), state: "pending",
      errors: null, flags: [], photo_ids: ["p-" + id], attempts: 0,
      record: { type: "discovery", id, answers: { head_name: head, id_number: idNumber } } });
    t.objectStore("photos").put({ id: "p-" + id, record_id: id, user_id: uid, mime: "image/jpeg",
      sha256: "", bytes: 8, buffer: jpeg, state: "waiting", error: null });
    t.objectStore("meta").put({ key: "sent_log", value: [{ id: "x", type: "visit", user_id: uid,
      label: `走访 ${head}`, created_at: "", sent_at: "", flags: [] }] });
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
  });
  db.close();
  return id;
}"""


def test_records_left_in_plain_text_by_an_older_version_are_sealed(live_server, new_context,
                                                                   new_page, login):
    head = "卫春花"
    id_number = make_test_id_number("411302", date(1958, 11, 30), 71)
    context = new_context(permissions=[])
    page = new_page(context)
    login(page, "demo-community")
    settle(page)
    uid = str(user_id(live_server, "demo-community"))
    context.route("**/api/sync/v1/**", lambda route: route.abort())  # the phone cannot send
    entry_id = page.evaluate(_PLANT_LEGACY, {"uid": uid, "idNumber": id_number, "head": head})
    assert id_number in page.evaluate(_RAW_IDB)["text"]
    page.get_by_role("button", name="立即同步").click()  # the next sync seals first
    expect(page.locator("[data-syncbar]")).to_have_attribute("data-state", "error")
    raw = page.evaluate(_RAW_IDB)
    assert id_number not in raw["text"] and head not in raw["text"]
    assert raw["jpegs"] == []
    [entry] = idb(page, "outbox")
    assert entry["id"] == entry_id and "record" not in entry and "label" not in entry
    # Still the same record for the phone: /device shows its label to its own user.
    page.goto("/device")
    expect(page.locator(f"[data-entry='{entry_id}']")).to_contain_text(f"新发现 {head}")
    expect(page.get_by_text(f"走访 {head}")).to_be_visible()  # the sent list, unsealed
    context.unroute("**/api/sync/v1/**")
    forget_console_errors(page, "ERR_FAILED")


_PLANT_REJECTED = """async ({ uid, username, householdId }) => {
  const outbox = await import("/static/js/outbox.js");
  const id = crypto.randomUUID();
  await outbox.append({ user: { id: uid, username }, label: "走访 退回的",
    record: { type: "visit", id, household_id: householdId, visited_at: new Date().toISOString(),
              location: null, answers: { household_income: 2400 }, notes: "邻居说他去外地打工了",
              photos: [], supersedes: null } });
  const entry = await outbox.get(id);
  await outbox.update({ ...entry, state: "rejected", errors: { notes: "请补充说明" } });
  return id;
}"""


def test_a_rejected_sealed_record_opens_for_correction(live_server, new_context, new_page,
                                                       login):
    context, page = phone_online(new_context, new_page, login, "demo-helper")
    household = cached_households(page, "demo-helper")[10]
    context.route("**/api/sync/v1/**", lambda route: route.abort())  # nothing leaves
    rejected = page.evaluate(_PLANT_REJECTED, {
        "uid": str(user_id(live_server, "demo-helper")), "username": "demo-helper",
        "householdId": str(household["id"])})
    page.goto("/device")
    item = page.locator(f"[data-entry='{rejected}']")
    expect(item).to_contain_text("走访 退回的")
    expect(item).to_contain_text("请补充说明")
    item.get_by_role("link", name="修改后重新提交").click()
    page.wait_for_url(re.compile(rf"/households/{household['id']}/visits/new\?fix="))
    expect(page.locator("#f-notes")).to_have_value("邻居说他去外地打工了")
    expect(page.locator("[name=household_income]")).to_have_value("2400")
    context.unroute("**/api/sync/v1/**")
    forget_console_errors(page, "ERR_FAILED")

// Pages built on the phone from IndexedDB: the offline shell (any app URL with no network),
// the device page and the discovery form. The server never sees what these render.
import { getMeta, tx } from "./db.js";
import * as outbox from "./outbox.js";
import { el, renderField } from "./schema-form.js";
import { open as unseal } from "./vault.js";

const STATE_LABEL = { visited: "本月已走访", due: "本月待走访", overdue: "逾期未走访" };
const STATE_CHIP = { visited: "chip-ok", due: "chip-warn", overdue: "chip-bad" };
const DIM_SHORT = { income: "收入", housing: "住房", education: "教育", medical: "医疗", employment: "就业", elderly: "养老" };
const ORDER = { overdue: 0, due: 1, visited: 2 };

export async function sessionUser() {
  return getMeta("session_user");
}

/** The server answered 401 for this user: their households stay hidden until they sign in
 * again (a login that merely expired out of signal hides nothing: the helper keeps working). */
export async function isLocked(user) {
  return Boolean(user && await getMeta(`locked:${String(user.id)}`));
}

// Offline, the device page exports only for the phone's user and only this long after the
// server last confirmed their login (the server's own session lifetime).
const OFFLINE_EXPORT_WINDOW_MS = 12 * 3600_000;

export async function householdsOf(userId) {
  return tx("households", "readonly", (s, p) => p(s.households.index("user_id").getAll(String(userId))));
}

export async function householdOf(userId, id) {
  return tx("households", "readonly", (s, p) => p(s.households.get([String(userId), String(id)])));
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export { fmtTime };

function offlineNote() {
  return el("p", { class: "flash flash-warning", role: "status", "data-offline-note": "1" },
    navigator.onLine ? "网络不稳定，以下内容来自本机保存的数据" : "当前离线：以下内容来自本机保存的数据，保存的记录会在联网后自动上传");
}

async function pendingVisits(userId) {
  const entries = await outbox.list();
  const out = new Map();
  for (const e of entries) {
    const householdId = e.household_id ?? e.record?.household_id;
    if (e.user_id === String(userId) && e.type === "visit") out.set(String(householdId), e);
  }
  return out;
}

function loginAgain(root) {
  root.replaceChildren(el("section", { class: "card", "data-testid": "login-again" },
    el("h1", { text: "登录已过期" }),
    el("p", { text: "为保护帮扶户的信息，本机保存的帮扶户资料在重新登录之前不再显示。" }),
    el("p", { text: "未上传的记录仍加密保存在本机，不会丢失，重新登录后会自动上传。" }),
    el("p", {}, el("a", { class: "btn btn-primary", href: `/login?next=${encodeURIComponent(location.pathname)}`, text: "重新登录" }), " ",
      el("a", { class: "btn", href: "/device", text: "本机记录" }))));
}

function needLogin(root) {
  root.replaceChildren(el("section", { class: "card" },
    el("h1", { text: "需要登录" }),
    el("p", { text: "这部手机上还没有登录过的账号数据。请在有网络时登录一次，之后即可离线使用。" }),
    el("p", {}, el("a", { class: "btn btn-primary", href: "/login", text: "去登录" }))));
}

async function renderList(root, user) {
  const [households, pending] = await Promise.all([householdsOf(user.id), pendingVisits(user.id)]);
  households.sort((a, b) => (ORDER[a.visit_state] - ORDER[b.visit_state]) || a.head_name.localeCompare(b.head_name, "zh"));
  const done = households.filter((h) => h.visit_state === "visited" || pending.has(h.id)).length;
  const list = el("ul", { class: "list", "aria-label": "帮扶户列表" });
  for (const h of households) {
    const local = pending.get(h.id);
    const state = local ? "visited" : h.visit_state;
    list.append(el("li", { class: `list-item state-${state}` },
      el("a", { class: "list-link", href: `/households/${h.id}` },
        el("span", { class: "list-title" }, h.head_name, " ", el("small", { class: "muted", text: `${h.members_count}人` })),
        el("span", { class: "list-sub", text: h.address }),
        el("span", { class: "list-meta" },
          local ? el("span", { class: "chip chip-ok", text: "已保存在本机，待上传" })
                : el("span", { class: `chip ${STATE_CHIP[state]}`, text: STATE_LABEL[state] }),
          el("span", { class: "muted", text: `上次走访：${h.last_visit_at ? fmtTime(h.last_visit_at).slice(0, 10) : "无"}` }),
          h.open_problems?.length ? el("span", { class: "chip chip-warn", text: `待解决：${h.open_problems.map((d) => DIM_SHORT[d]).join("、")}` }) : null))));
  }
  root.replaceChildren(
    offlineNote(),
    el("section", { class: "page-head" },
      el("h1", { text: "我的帮扶户" }),
      el("p", { class: "progress-line", "data-testid": "my-progress", text: `本月：已走访 ${done} / ${households.length} 户` })),
    households.length ? list : el("p", { class: "empty", text: "本机没有保存的帮扶户，请联网同步一次" }));
}

async function renderHousehold(root, user, id) {
  const h = await householdOf(user.id, id);
  if (!h) return notCached(root);
  const pending = (await pendingVisits(user.id)).get(String(id));
  root.replaceChildren(
    offlineNote(),
    el("section", { class: "page-head" },
      el("h1", {}, h.head_name, " ", el("small", { class: "muted", text: h.file_no || "" })),
      el("p", { class: "list-meta" },
        pending ? el("span", { class: "chip chip-ok", text: "本次走访已保存在本机，待上传" })
                : el("span", { class: `chip ${STATE_CHIP[h.visit_state]}`, text: STATE_LABEL[h.visit_state] }),
        el("span", { class: "chip", text: h.category_label || "" })),
      user.role === "helper" ? el("a", { class: "btn btn-primary btn-big", href: `/households/${h.id}/visits/new`, "data-testid": "record-visit", text: "登记本次走访" }) : null),
    el("section", { class: "card" },
      el("h2", { text: "家庭档案" }),
      el("dl", { class: "facts" },
        el("dt", { text: "住址" }), el("dd", { text: h.address }),
        el("dt", { text: "所在社区" }), el("dd", { text: h.region?.name || "" }),
        el("dt", { text: "家庭人口" }), el("dd", { text: `${h.members_count} 人` }),
        el("dt", { text: "人均月收入" }), el("dd", { text: h.per_capita_income != null ? `${h.per_capita_income} 元` : "—" }),
        el("dt", { text: "上次走访" }), el("dd", { text: h.last_visit_at ? fmtTime(h.last_visit_at) : "无" }))),
    el("section", { class: "card" },
      el("h2", { text: "在落实的帮扶措施" }),
      h.measures?.length ? el("ul", { class: "plain" }, h.measures.map((m) => el("li", {}, el("span", { class: "chip", text: DIM_SHORT[m.area] || m.area }), " ", m.name)))
                         : el("p", { class: "muted", text: "暂无帮扶措施" })));
}

function notCached(root) {
  root.replaceChildren(offlineNote(), el("section", { class: "card" },
    el("h1", { text: "离线时无法打开此页面" }),
    el("p", { text: "这个页面需要网络。您仍然可以查看帮扶户、登记走访和上报新发现，记录会保存在本机。" }),
    el("p", {}, el("a", { class: "btn", href: "/households/mine", text: "我的帮扶户" }), " ",
      el("a", { class: "btn", href: "/device", text: "本机记录" }))));
}

async function renderVisitForm(root, user, id) {
  const h = await householdOf(user.id, id);
  const forms = await getMeta(`forms:${user.id}`);
  const settings = await getMeta(`settings:${user.id}`, {});
  if (!h || !forms?.visit) return notCached(root);
  const schema = structuredClone(forms.visit);
  for (const f of schema.fields) {
    if (f.options_from === "household.measures") f.options = (h.measures || []).map((m) => ({ value: m.id, label: m.name }));
  }
  const form = buildVisitForm(h, schema, settings);
  root.replaceChildren(offlineNote(), el("section", { class: "page-head" },
    el("h1", { text: "入户调查表" }),
    el("p", { class: "muted" }, el("a", { href: `/households/${h.id}`, text: h.head_name }), ` · ${h.address}`)), form);
  const { initVisitForm } = await import("./visit-form.js");
  initVisitForm(form, { household: h, schema, user });
}

/** The visit form's DOM, matching templates/visits/form.html. */
export function buildVisitForm(h, schema, settings = {}) {
  const form = el("form", { class: "visit-form", id: "visit-form", novalidate: true, "data-household-id": h.id,
    "data-members": h.members_count, "data-form-version": schema.version });
  form.append(el("div", { "data-form-errors": "1", role: "alert" }));
  form.append(el("section", { class: "card gps", "aria-live": "polite", "data-gps": "1" },
    el("h2", { text: "定位签到" }),
    el("p", { class: "gps-status", "data-gps-status": "1", "data-state": "idle", text: "打开本页时会自动定位；定位失败也可以保存，记录会被标注" }),
    ...["lat", "lon", "accuracy_m", "location_captured_at"].map((n) => el("input", { type: "hidden", name: n })),
    el("button", { type: "button", class: "btn btn-small", "data-action": "locate", text: "重新定位" })));
  const basic = el("section", { class: "card" },
    el("div", { class: "field" }, el("label", { for: "f-visited-at", text: "走访时间" }),
      el("input", { id: "f-visited-at", name: "visited_at_local", type: "datetime-local" }),
      el("input", { type: "hidden", name: "visited_at" })));
  for (const f of schema.fields.filter((x) => x.group === "basic")) basic.append(renderField(f));
  form.append(basic);
  for (const g of schema.groups.filter((x) => x.name !== "basic")) {
    const section = el("section", { class: "card" }, el("h2", { text: g.label }));
    for (const f of schema.fields.filter((x) => x.group === g.name)) {
      section.append(renderField(f));
      if (f.name === "household_income") {
        section.append(el("p", { class: "computed", "data-per-capita": "1", "aria-live": "polite" },
          "人均月收入：", el("output", { name: "per_capita", text: "—" }), ` 元（${h.members_count} 人）`));
      }
    }
    form.append(section);
  }
  const caption = el("select", { name: "photo_caption", class: "visually-hidden", "aria-hidden": "true", tabindex: "-1", "data-caption-template": "1" },
    ...[["household", "家庭成员"], ["document", "证件材料"], ["living", "居住条件"], ["other", "其他"]].map(([v, t]) => el("option", { value: v, text: t })));
  form.append(el("section", { class: "card" },
    el("h2", { text: "照片" }),
    el("div", { class: "field" },
      el("label", { for: "f-photo", class: "btn btn-block", text: "拍照或选择照片" }),
      el("input", { id: "f-photo", class: "visually-hidden", type: "file", name: "photo", accept: "image/*", capture: "environment", multiple: true, "data-max-px": settings.max_photo_px || 1600 }),
      el("ul", { class: "photo-previews", "data-photo-previews": "1" }), caption),
    el("div", { class: "field" }, el("label", { for: "f-notes", text: "备注" }),
      el("textarea", { id: "f-notes", name: "notes", maxlength: 2000, rows: 2 }))));
  form.append(el("div", { class: "sticky-actions" },
    el("button", { class: "btn btn-primary btn-big", type: "submit", "data-testid": "save-visit", text: "保存走访记录" })));
  return form;
}

// ---------------------------------------------------------------- device page

const { humanBytes } = outbox;

const STATE_TEXT = { pending: "待上传", accepted: "记录已上传，照片待上传", rejected: "被退回，需要修改" };

function b64(buffer) {
  let s = "";
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function unb64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

/** The unsent records of one user (the one signed in), unsealed, with their photos. */
export async function exportUnsent(owner) {
  if (!owner) throw new Error("导出需要登录本人账号");
  const entries = (await outbox.list()).filter((e) => e.user_id === String(owner.id));
  const data = [];
  for (const e of entries) {
    const photos = [];
    for (const p of await outbox.photosOf(e.id, { withBytes: true })) {
      if (p.state === "stored" || !p.buffer) continue;
      photos.push({ id: p.id, mime: p.mime, sha256: p.sha256, bytes: p.bytes, data: b64(await outbox.photoBytes(p)) });
    }
    const { record, label } = await outbox.contents(e);
    data.push({ id: e.id, type: e.type, user_id: e.user_id, username: e.username, label,
                created_at: e.created_at, state: e.state, record, photos });
  }
  return { format: "fieldwork-outbox", version: 1, exported_at: new Date().toISOString(), entries: data };
}

export async function importUnsent(payload) {
  if (payload?.format !== "fieldwork-outbox" || !Array.isArray(payload.entries)) throw new Error("不是本系统导出的文件");
  let added = 0, skipped = 0;
  for (const e of payload.entries) {
    if (await outbox.get(e.id)) { skipped++; continue; }
    await outbox.append({ record: e.record, user: { id: e.user_id, username: e.username }, label: e.label,
      photos: e.photos.map((p) => ({ id: p.id, mime: p.mime, sha256: p.sha256, bytes: p.bytes, buffer: unb64(p.data) })) });
    added++;
  }
  return { added, skipped };
}

const deviceRenders = new WeakMap();

/** Who may export from this page: on the page the server rendered, the user it is logged in
 * as (nobody when logged out); on the offline shell, the phone's user, unless a 401 hid their
 * data or the server has not confirmed their login for OFFLINE_EXPORT_WINDOW_MS. */
async function exportOwner(root, user) {
  const serverUser = root.dataset.exportUser;
  if (serverUser !== undefined) {
    if (!serverUser) return null;
    return { id: serverUser, username: root.dataset.exportUsername || "" };
  }
  if (!user || await isLocked(user)) return null;
  const confirmed = await getMeta(`session_ok:${user.id}`);
  if (!confirmed || Date.now() - Date.parse(confirmed) > OFFLINE_EXPORT_WINDOW_MS) return null;
  return user;
}

async function labelOf(e) {
  try { return (await outbox.contents(e)).label; } catch (_) { return ""; }
}

async function sentLabel(s) {
  if (!s.sealed_label) return s.label || "";
  try { return await unseal(s.user_id, s.sealed_label); } catch (_) { return ""; }
}

async function renderDevice(root) {
  // Renders overlap (every outbox change starts one): only the latest one may paint.
  const generation = (deviceRenders.get(root) || 0) + 1;
  deviceRenders.set(root, generation);
  let user = await sessionUser();
  const owner = await exportOwner(root, user);
  if (root.dataset.exportUser !== undefined) user = owner;  // the server's login decides
  if (await isLocked(user)) user = null;
  const entries = await outbox.list();
  // What was sent lately, for the person holding the phone only: its labels name households.
  const sent = [];
  if (user) {
    for (const s of (await getMeta("sent_log", [])).filter((x) => x.user_id === String(user.id))) {
      sent.push({ ...s, label: await sentLabel(s) });
    }
  }
  const list = el("ul", { class: "list", "data-testid": "outbox-list" });
  for (const e of entries) {
    const photos = await outbox.photosOf(e.id);
    const waiting = photos.filter((p) => p.state !== "stored");
    const mine = user && e.user_id === String(user.id);
    // Labels name households: only their own user sees them.
    const label = mine ? await labelOf(e) : "";
    const item = el("li", { class: `list-item state-${e.state === "rejected" ? "overdue" : "due"}`, "data-entry": e.id, "data-state": e.state },
      el("div", { class: "list-link" },
        el("span", { class: "list-title", text: label || (e.type === "visit" ? "走访记录" : "新发现上报") }),
        el("span", { class: "list-sub", text: `${fmtTime(e.created_at)} · ${STATE_TEXT[e.state] || e.state} · 照片 ${photos.length - waiting.length}/${photos.length}` }),
        mine ? null : el("span", { class: "chip chip-warn", text: `属于账号 ${e.username}，请用该账号登录后上传` }),
        e.errors ? el("ul", { class: "error-list" }, Object.entries(e.errors).map(([k, v]) => el("li", { class: "error", text: v === "conflict" ? "记录编号冲突" : `${v}` }))) : null,
        waiting.filter((p) => p.state === "failed").map((p) => el("p", { class: "error", text: `照片未能上传：${p.error}` }))));
    if (e.state === "rejected" && mine) {
      const actions = el("div", { class: "list-actions" });
      if (e.type === "visit") actions.append(el("a", { class: "btn btn-small", href: `/households/${e.household_id ?? e.record?.household_id}/visits/new?fix=${e.id}`, text: "修改后重新提交" }));
      const del = el("button", { type: "button", class: "btn btn-small btn-quiet", text: "删除此记录" });
      del.addEventListener("click", async () => {
        if (confirm("删除后无法恢复，确定删除这条被退回的记录吗？")) { await outbox.remove(e.id); renderDevice(root); }
      });
      actions.append(del);
      item.append(actions);
    }
    list.append(item);
  }
  const exportBtn = owner
    ? el("button", { type: "button", class: "btn", "data-action": "export", text: "导出我未上传的记录" })
    : el("a", { class: "btn", href: "/login?next=%2Fdevice", "data-export-login": "1", text: "登录后可导出本人未上传的记录" });
  if (owner) exportBtn.addEventListener("click", async () => {
    const payload = await exportUnsent(owner);
    const blob = new Blob([JSON.stringify(payload)], { type: "application/json" });
    const a = el("a", { href: URL.createObjectURL(blob), download: `fieldwork-unsent-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(a);
    a.click();
    a.remove();
  });
  const importInput = el("input", { type: "file", accept: "application/json,.json", id: "import-file", class: "visually-hidden" });
  const importStatus = el("p", { class: "muted", role: "status" });
  importInput.addEventListener("change", async () => {
    const file = importInput.files?.[0];
    if (!file) return;
    try {
      const result = await importUnsent(JSON.parse(await file.text()));
      importStatus.textContent = `已导入 ${result.added} 条，已存在而跳过 ${result.skipped} 条；联网后会自动上传`;
      renderDevice(root);
      window.dispatchEvent(new CustomEvent("fieldwork:request-sync"));
    } catch (err) {
      importStatus.textContent = `导入失败：${err.message}`;
    }
  });
  const storage = el("p", { class: "muted", "data-storage": "1" });
  if (navigator.storage?.estimate) {
    const [{ usage, quota }, persisted] = await Promise.all([navigator.storage.estimate(), navigator.storage.persisted?.() ?? false]);
    storage.textContent = `本机存储：已用 ${humanBytes(usage || 0)} / 可用 ${humanBytes(quota || 0)}${persisted ? "（已设为持久保存）" : "（浏览器可能在空间不足时清理，请及时上传）"}`;
    if (quota && usage / quota > 0.8) storage.className = "flash flash-warning";
  }
  if (deviceRenders.get(root) !== generation) return;
  root.replaceChildren(
    el("section", { class: "card" },
      el("h2", { text: entries.length ? `还有 ${entries.length} 条记录保存在本机` : "本机没有待上传的记录" }),
      entries.length ? list : null,
      el("div", { class: "button-row" }, exportBtn, el("label", { for: "import-file", class: "btn", text: "导入记录文件" }), importInput),
      importStatus, storage),
    el("section", { class: "card" },
      el("h2", { text: "最近已上传" }),
      sent.length ? el("ul", { class: "plain" }, sent.slice(0, 20).map((s) => el("li", {},
        `${fmtTime(s.sent_at)} · ${s.label || s.type}`, s.type === "visit" ? el("a", { href: `/visits/${s.id}`, text: " 查看" }) : null)))
        : el("p", { class: "muted", text: "暂无" })));
}

// ---------------------------------------------------------------- discovery

async function renderDiscoveryPage(root, context) {
  let user = await sessionUser();
  if (!user && context && navigator.onLine) {
    // Straight after login the first sync may not have stored the session yet.
    try { user = (await (await import("./sync.js")).session()).user; } catch (_) { /* offline */ }
  }
  let schema = context?.schema;
  let regions = context?.regions;
  if (!schema && user) {
    const forms = await getMeta(`forms:${user.id}`);
    schema = forms?.discovery;
    regions = await getMeta(`regions:${user.id}`, []);
  }
  if (!user || !schema) return user ? notCached(root) : needLogin(root);
  const { initDiscoveryForm, buildDiscoveryForm } = await import("./discovery-form.js");
  const form = buildDiscoveryForm(schema, regions || []);
  root.replaceChildren(...(context ? [] : [offlineNote()]), form);
  initDiscoveryForm(form, { schema, user });
}

/** The device page follows the outbox, whoever changes it: this page, another tab, or the
 * service worker sending in the background (those tell through the BroadcastChannel). */
function followOutbox(root) {
  const refresh = () => renderDevice(root);
  window.addEventListener("fieldwork:outbox", refresh);
  outbox.channelFor()?.addEventListener("message", (e) => {
    if (e.data?.type === "outbox-changed") refresh();
  });
  return refresh();
}

// ---------------------------------------------------------------- router

/** A list or household page on screen goes as soon as the server says the login expired or
 * the account is deactivated (a form being filled in stays: its work is the user's). */
function hideOnLogout(root, rendering) {
  const gone = (state) => {
    if (state !== "login_required" && state !== "account_disabled") return;
    window.removeEventListener("fieldwork:sync", onPage);
    outbox.channelFor()?.removeEventListener("message", onChannel);
    route();
  };
  const onPage = (e) => gone(e.detail?.state);
  const onChannel = (e) => { if (e.data?.type === "sync-status") gone(e.data.state); };
  window.addEventListener("fieldwork:sync", onPage);
  outbox.channelFor()?.addEventListener("message", onChannel);
  return rendering;
}

async function route() {
  const devicePage = document.querySelector("[data-device-page]");
  if (devicePage) return followOutbox(devicePage);
  const discovery = document.querySelector("[data-discovery-page]");
  if (discovery) return renderDiscoveryPage(discovery, JSON.parse(discovery.dataset.context));
  const root = document.querySelector("[data-offline-app]");
  if (!root) return;
  const user = await sessionUser();
  const name = document.querySelector("[data-shell-user]");
  if (name && user) name.textContent = user.name;
  for (const a of document.querySelectorAll("[data-role-link]")) {
    a.hidden = Boolean(user) && a.dataset.roleLink !== user.role && !(a.dataset.roleLink === "community_worker" && ["street_reviewer", "county_officer"].includes(user.role));
  }
  const path = location.pathname;
  if (path === "/device") return followOutbox(root);
  if (!user) return needLogin(root);
  let m;
  if (path === "/discovery/new") return renderDiscoveryPage(root, null);
  if (await isLocked(user)) return loginAgain(root);
  if (path === "/" || path === "/households/mine") return hideOnLogout(root, renderList(root, user));
  if ((m = path.match(/^\/households\/(\d+)\/visits\/new$/))) return renderVisitForm(root, user, m[1]);
  if ((m = path.match(/^\/households\/(\d+)$/))) return hideOnLogout(root, renderHousehold(root, user, m[1]));
  return notCached(root);
}

route();

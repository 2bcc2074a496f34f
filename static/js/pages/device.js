// The device page (本机记录): what is still on this phone, export and import of unsent
// records. Whoever holds the phone sees that records wait; only their own user sees their
// labels and may export them.
import { getMeta } from "../db.js";
import { EVENTS, MESSAGES, META } from "../keys.js";
import * as outbox from "../outbox.js";
import { open as unseal } from "../vault.js";
import { el, fmtTime, isLocked, sessionUser, t } from "./common.js";

// The device page exports only for the phone's user and only this long after the server
// last confirmed their login (the server's own session lifetime).
const OFFLINE_EXPORT_WINDOW_MS = 12 * 3600_000;

const { humanBytes } = outbox;

const STATE_TEXT = () => ({ pending: t("待上传"), accepted: t("记录已上传，照片待上传"), rejected: t("被退回，需要修改") });

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
  if (!owner) throw new Error(t("导出需要登录本人账号"));
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
  if (payload?.format !== "fieldwork-outbox" || !Array.isArray(payload.entries)) throw new Error(t("不是本系统导出的文件"));
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

/** Who may export from this page: the phone's user, unless a 401 hid their data or the server
 * has not confirmed their login for OFFLINE_EXPORT_WINDOW_MS (a logout forgets the user). */
async function exportOwner(user) {
  if (!user || await isLocked(user)) return null;
  const confirmed = await getMeta(META.sessionOk(user.id));
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
  const owner = await exportOwner(user);
  if (await isLocked(user)) user = null;
  const entries = await outbox.list();
  // What was sent lately, for the person holding the phone only: its labels name households.
  const sent = [];
  if (user) {
    for (const s of (await getMeta(META.sentLog, [])).filter((x) => x.user_id === String(user.id))) {
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
        el("span", { class: "list-title", text: label || (e.type === "visit" ? t("走访记录") : t("新发现上报")) }),
        el("span", { class: "list-sub", text: `${fmtTime(e.created_at)} · ${STATE_TEXT()[e.state] || e.state} · ${t("照片 {done}/{total}", { done: photos.length - waiting.length, total: photos.length })}` }),
        mine ? null : el("span", { class: "chip chip-warn", text: t("属于账号 {username}，请用该账号登录后上传", { username: e.username }) }),
        e.errors ? el("ul", { class: "error-list" }, Object.entries(e.errors).map(([k, v]) => el("li", { class: "error", text: v === "conflict" ? t("记录编号冲突") : `${v}` }))) : null,
        waiting.filter((p) => p.state === "failed").map((p) => el("p", { class: "error", text: t("照片未能上传：{error}", { error: p.error }) }))));
    if (e.state === "rejected" && mine) {
      const actions = el("div", { class: "list-actions" });
      if (e.type === "visit") actions.append(el("a", { class: "btn btn-small", href: `/households/${e.household_id ?? e.record?.household_id}/visits/new?fix=${e.id}`, text: t("修改后重新提交") }));
      const del = el("button", { type: "button", class: "btn btn-small btn-quiet", text: t("删除此记录") });
      del.addEventListener("click", async () => {
        if (confirm(t("删除后无法恢复，确定删除这条被退回的记录吗？"))) { await outbox.remove(e.id); renderDevice(root); }
      });
      actions.append(del);
      item.append(actions);
    }
    list.append(item);
  }
  const exportBtn = owner
    ? el("button", { type: "button", class: "btn", "data-action": "export", text: t("导出我未上传的记录") })
    : el("a", { class: "btn", href: "/login?next=%2Fdevice", "data-export-login": "1", text: t("登录后可导出本人未上传的记录") });
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
      importStatus.textContent = t("已导入 {added} 条，已存在而跳过 {skipped} 条；联网后会自动上传", result);
      renderDevice(root);
      window.dispatchEvent(new CustomEvent(EVENTS.requestSync));
    } catch (err) {
      importStatus.textContent = t("导入失败：{message}", { message: err.message });
    }
  });
  const storage = el("p", { class: "muted", "data-storage": "1" });
  if (navigator.storage?.estimate) {
    const [{ usage, quota }, persisted] = await Promise.all([navigator.storage.estimate(), navigator.storage.persisted?.() ?? false]);
    storage.textContent = `${t("本机存储：已用 {used} / 可用 {quota}", { used: humanBytes(usage || 0), quota: humanBytes(quota || 0) })}${persisted ? t("（已设为持久保存）") : t("（浏览器可能在空间不足时清理，请及时上传）")}`;
    if (quota && usage / quota > 0.8) storage.className = "flash flash-warning";
  }
  if (deviceRenders.get(root) !== generation) return;
  root.replaceChildren(
    el("section", { class: "page-head" },
      el("h1", { text: t("本机记录") }),
      el("p", { class: "muted", text: t("这里列出保存在这部手机上、还没有上传完成的记录。清除浏览器数据或换手机之前，请先导出。") })),
    el("section", { class: "card" },
      el("h2", { text: entries.length ? t("还有 {count} 条记录保存在本机", { count: entries.length }) : t("本机没有待上传的记录") }),
      entries.length ? list : null,
      el("div", { class: "button-row" }, exportBtn, el("label", { for: "import-file", class: "btn", text: t("导入记录文件") }), importInput),
      importStatus, storage),
    el("section", { class: "card" },
      el("h2", { text: t("最近已上传") }),
      sent.length ? el("ul", { class: "plain" }, sent.slice(0, 20).map((s) => el("li", {},
        `${fmtTime(s.sent_at)} · ${s.label || s.type}`, s.type === "visit" ? el("a", { href: `/visits/${s.id}`, text: ` ${t("查看")}` }) : null)))
        : el("p", { class: "muted", text: t("暂无") })));
}

/** The device page follows the outbox, whoever changes it: this page, another tab, or the
 * service worker sending in the background (those tell through the BroadcastChannel). */
export function render(root) {
  const refresh = () => renderDevice(root);
  window.addEventListener(EVENTS.outbox, refresh);
  outbox.channelFor()?.addEventListener("message", (e) => {
    if (e.data?.type === MESSAGES.outboxChanged) refresh();
  });
  return refresh();
}


// The sync bar on every page, and everything that makes the outbox send by itself:
// on load, after a save, when the phone comes online, every few minutes, on "sync now",
// and through the service worker's Background Sync where the browser has it.
import { syncNow, resetBackoff, forgetUser } from "./sync.js";
import * as outbox from "./outbox.js";
import { getMeta } from "./db.js";
import { humanBytes } from "./outbox.js";
import { t } from "./i18n.js";
import { EVENTS, MESSAGES, META, SYNC_TAG } from "./keys.js";

const INTERVAL_MS = 3 * 60_000;

function hhmm(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

export function initSyncBar() {
  const bar = document.querySelector("[data-syncbar]");
  if (!bar) return;
  const text = bar.querySelector("[data-sync-text]");
  const progress = bar.querySelector("[data-sync-progress]");
  let lastStatus = { state: navigator.onLine ? "idle" : "offline" };
  let renders = 0;
  let asked = 0; // syncs this page asked for that have not finished yet

  async function render(status = lastStatus) {
    lastStatus = status;
    // Renders overlap (each reads IndexedDB): only the latest one may paint, or a slow
    // "sending" could land after "idle" and leave the bar stale.
    const generation = ++renders;
    const user = await getMeta(META.sessionUser);
    const sum = await outbox.summary(user ? user.id : null);
    const lastSync = user ? await getMeta(META.lastSync(user.id)) : null;
    if (generation !== renders) return;
    const waiting = sum.records + sum.accepted;
    let state = status.state;
    if (asked && state === "idle") state = "sending";
    if (!navigator.onLine && state !== "sending") state = "offline";
    bar.dataset.state = state;
    bar.dataset.waiting = String(waiting);
    bar.dataset.photos = String(sum.photos);
    progress.hidden = state !== "sending" || !status.total;
    if (!progress.hidden) { progress.max = status.total; progress.value = status.sent || 0; }
    const pending = waiting || sum.photos
      ? t("本机待上传：{records} 条记录、{photos} 张照片（{size}）",
          { records: waiting, photos: sum.photos, size: humanBytes(sum.photoBytes) }) : "";
    const rejected = sum.rejected ? t("；{rejected} 条被退回，请查看", { rejected: sum.rejected }) : "";
    if (state === "sending") {
      const pct = status.total ? Math.round((100 * (status.sent || 0)) / status.total) : null;
      text.textContent = `${t("正在同步…")}${pct != null ? ` ${pct}%` : ""}${pending ? `　${pending}` : ""}`;
    } else if (state === "offline") {
      text.textContent = waiting || sum.photos
        ? t("离线：{records} 条记录、{photos} 张照片保存在本机，联网后自动上传", { records: waiting, photos: sum.photos })
        : t("离线：可以继续走访，记录会保存在本机");
    } else if (state === "login_required") {
      text.textContent = t("登录已过期，请重新登录后继续同步")
        + (waiting ? t("（{records} 条记录保存在本机，不会丢失）", { records: waiting }) : "");
    } else if (state === "account_disabled") {
      text.textContent = t("此账号已停用，本机保存的帮扶户资料已清除")
        + (waiting ? t("（{records} 条未上传的记录已加密保存在本机，请联系管理员）", { records: waiting }) : "");
    } else if (state === "error") {
      const secs = status.retry_in_ms ? Math.round(status.retry_in_ms / 1000) : null;
      text.textContent = t("同步未完成")
        + (status.hint ? t("（{hint}）", { hint: status.hint }) : "")
        + (secs ? t("，{secs} 秒后重试", { secs }) : "")
        + (pending ? t("。{pending}", { pending }) : "");
    } else if (pending) {
      text.textContent = pending + rejected;
    } else {
      text.textContent = t("已全部同步")
        + (lastSync ? t(" · 上次同步 {time}", { time: hhmm(lastSync) }) : "") + rejected;
    }
    let login = bar.querySelector("[data-login-link]");
    const needsLogin = state === "login_required" || state === "account_disabled";
    if (needsLogin && !login) {
      login = document.createElement("a");
      login.dataset.loginLink = "";
      login.className = "btn btn-small btn-primary";
      login.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      login.textContent = t("重新登录");
      bar.append(login);
    } else if (!needsLogin && login) login.remove();
  }

  // The bar says "sending" from the moment this page asks for a sync until that sync (and any
  // that had to queue behind it) has finished: "idle" then means the server is done too.
  const run = async (reason) => {
    if (!navigator.onLine) return render({ state: "offline" });
    asked += 1;
    render({ state: "sending", reason });
    try {
      return await syncNow({ reason });
    } finally {
      asked -= 1;
      render();
    }
  };

  window.addEventListener(EVENTS.sync, (e) => render(e.detail));
  window.addEventListener(EVENTS.outbox, () => render());
  outbox.channelFor()?.addEventListener("message", (e) => {
    if (e.data?.type === MESSAGES.syncStatus) render(e.data);
    else render();
  });
  window.addEventListener("online", () => { resetBackoff(); run("online"); });
  window.addEventListener("offline", () => render({ state: "offline" }));
  window.addEventListener(EVENTS.requestSync, () => {
    // The page tries at once, without waiting for a service worker that may never be ready
    // (refused, private mode); Background Sync keeps trying after the page is closed.
    run("save");
    navigator.serviceWorker?.ready
      .then((reg) => reg.sync?.register(SYNC_TAG))
      .catch(() => { /* not supported or not allowed: the page's own triggers cover it */ });
  });
  bar.querySelector('[data-action="sync-now"]').addEventListener("click", () => { resetBackoff(); run("manual"); });
  setInterval(() => run("interval"), INTERVAL_MS);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") run("visible"); });
  render();
  run("load");
}

/** Logging out forgets this user's households on the phone; unsent records stay. */
export function initLogout() {
  for (const form of document.querySelectorAll("form[data-logout]")) {
    form.addEventListener("submit", async (event) => {
      if (form.dataset.cleared) return;
      event.preventDefault();
      const user = await getMeta(META.sessionUser);
      if (user) await forgetUser(user.id);
      form.dataset.cleared = "1";
      form.submit();
    });
  }
}

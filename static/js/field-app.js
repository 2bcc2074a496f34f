// The field pages' one renderer, online and offline alike. The server (or, at once, the
// service worker's cached copy) answers every field URL with the same shell (templates/
// offline.html: no user data in it); this router picks the page module, which draws from
// IndexedDB and the outbox; the sync started on load (sync-ui.js) then pulls in the
// background and the page is drawn again from the fresher data.
import { EVENTS, MESSAGES, META, REPORTER_ROLES as REPORTERS } from "./keys.js";
import { catalogueLocale, loadCatalogue, ready, t } from "./i18n.js";
import { setMeta } from "./db.js";
import * as outbox from "./outbox.js";
import { el, hasPulled, isLocked, loginAgain, needLogin, notCached, sessionUser, syncing } from "./pages/common.js";

const ENDED = new Set(["login_required", "account_disabled"]);

/** The page module and its arguments for a path, or null when it is no field page. */
export function pageFor(path) {
  let m;
  if (path === "/device") return { name: "device", args: [] };
  if (path === "/" || path === "/households/mine") return { name: "mine", args: [], live: true };
  if (path === "/households/mine/tasks") return { name: "tasks", args: [], live: true };
  if ((m = path.match(/^\/households\/(\d+)\/visits\/new$/))) return { name: "visit", args: [m[1]] };
  if ((m = path.match(/^\/households\/(\d+)$/))) return { name: "household", args: [m[1]], live: true };
  if (path === "/discovery/new") return { name: "discovery", args: [] };
  return null;
}

const modules = {
  mine: () => import("./pages/mine.js"),
  household: () => import("./pages/household.js"),
  tasks: () => import("./pages/tasks.js"),
  visit: () => import("./pages/visit.js"),
  discovery: () => import("./pages/discovery.js"),
  device: () => import("./pages/device.js"),
};

/** A CSRF token of the current login (the cached shell's may be of an older one). */
async function freshCsrf(sync) {
  try { return (await sync.session()).csrf_token; } catch (_) { /* the sync API is unreachable */ }
  try {
    const html = await (await fetch("/offline", { cache: "no-store", credentials: "same-origin" })).text();
    const meta = new DOMParser().parseFromString(html, "text/html").querySelector('meta[name="csrf-token"]');
    if (meta?.content) return meta.content;
  } catch (_) { /* offline */ }
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

const LANGUAGES = [["zh_Hans_CN", "简体中文"], ["en", "English"]];

/** The language buttons of the server's menu (templates/_language.html). */
function languages(user) {
  const csrf = el("input", { type: "hidden", name: "csrf_token" });
  const chosen = el("input", { type: "hidden", name: "locale" });
  const form = el("form", { method: "post", action: "/language", class: "lang-form" }, csrf, chosen,
    el("input", { type: "hidden", name: "next", value: location.pathname + location.search }),
    LANGUAGES.map(([code, label]) => el("button", { type: "button", class: "btn btn-quiet btn-small", value: code,
      "aria-pressed": catalogueLocale(document.documentElement.lang) === catalogueLocale(code) ? "true" : null, text: label })));
  form.addEventListener("click", async (event) => {
    const button = event.target.closest("button[value]");
    if (!button) return;
    chosen.value = button.value;
    csrf.value = await freshCsrf(await import("./sync.js"));
    // The cached shell keeps its language: the phone's session says which one to load.
    await setMeta(META.sessionUser, { ...user, locale: button.value });
    form.submit();
  });
  return form;
}

/** The shell was cached in one language; the user's own choice wins. */
async function useLocaleOf(user) {
  if (!user?.locale || catalogueLocale(user.locale) === catalogueLocale(document.documentElement.lang)) return;
  document.documentElement.lang = catalogueLocale(user.locale) === "en" ? "en" : "zh-CN";
  await loadCatalogue(user.locale);
}

function header(user) {
  const name = document.querySelector("[data-shell-user]");
  if (name) name.textContent = user?.name || "";
  for (const a of document.querySelectorAll("[data-role-link]")) {
    a.hidden = Boolean(user) && a.dataset.roleLink !== user.role
      && !(a.dataset.roleLink === "community_worker" && REPORTERS.includes(user.role));
  }
  document.querySelector("[data-shell-menu]")?.remove();
  if (!user) return;
  // Online, the shell keeps what the server's menu offered: the password page and logging out.
  const csrf = el("input", { type: "hidden", name: "csrf_token" });
  const logout = el("form", { method: "post", action: "/logout", "data-logout": "1" }, csrf,
    el("button", { class: "btn btn-quiet", type: "submit", text: t("退出登录") }));
  logout.addEventListener("submit", async (event) => {
    if (logout.dataset.cleared) return;
    event.preventDefault();
    const sync = await import("./sync.js");
    csrf.value = await freshCsrf(sync);
    await sync.forgetUser(user.id);
    logout.dataset.cleared = "1";
    if (csrf.value) logout.submit();
    else location.assign("/login");
  });
  const menu = el("details", { class: "menu", "data-shell-menu": "1" },
    el("summary", { "aria-label": t("账号菜单"), text: user.name || user.username || "" }),
    el("div", { class: "menu-body" },
      el("p", { class: "muted", text: [user.role_label, user.place?.name].filter(Boolean).join(" · ") }),
      el("a", { href: "/device", text: t("本机记录") }),
      el("a", { href: "/account/password", text: t("修改密码") }),
      languages(user),
      logout));
  (name || document.querySelector(".topbar"))?.after(menu);
  if (name) name.hidden = true;
}

function justSignedIn() {
  try { return new URL(document.referrer).pathname === "/login"; } catch (_) { return false; }
}

/** The user of this phone: the last session seen here, or after a new login (or with none
 * seen yet) the server's answer. While that first sync runs, "正在同步…" is on screen. */
async function whoIsHere(root) {
  const user = await sessionUser();
  if (!navigator.onLine || (user && !justSignedIn())) return user;
  if (!user || !await hasPulled(user.id)) syncing(root);
  // A sync asks the server who is signed in and forgets other users' households. Through
  // syncNow, which runs one sync at a time: asking in parallel with the sync started on load
  // would mint a second CSRF token for the fresh session.
  await (await import("./sync.js")).syncNow({ reason: "signed-in" });
  return sessionUser();
}

/** Resolves at the end of the next sync this page hears of. */
function nextSync() {
  return new Promise((resolve) => {
    const done = (e) => {
      if (e.detail?.state === "sending") return;
      window.removeEventListener(EVENTS.sync, done);
      resolve(e.detail?.state);
    };
    window.addEventListener(EVENTS.sync, done);
  });
}

/** A list or household page on screen goes as soon as the server says the login expired or
 * the account is deactivated (a form being filled in stays: its work is the user's). */
function follow(page, user, redraw) {
  const onState = async (state) => {
    if (ENDED.has(state)) { stop(); route(); return; }
    if (state !== "idle") return;
    const now = await sessionUser();
    if (now && String(now.id) !== String(user.id)) { stop(); route(); } else if (page.live) redraw(true);
  };
  const onPage = (e) => onState(e.detail?.state);
  const onChannel = (e) => { if (e.data?.type === MESSAGES.syncStatus) onState(e.data.state); };
  const stop = () => {
    window.removeEventListener(EVENTS.sync, onPage);
    outbox.channelFor()?.removeEventListener("message", onChannel);
  };
  window.addEventListener(EVENTS.sync, onPage);
  outbox.channelFor()?.addEventListener("message", onChannel);
}

const FLASH_COOKIE = "fieldwork_flash";
let flashesAsked = false;

/** The messages the server queued before sending the browser to this page ("密码已修改"), shown
 * as base.html shows them: the cached shell has none in it. The server sets FLASH_COOKIE
 * while some wait (fieldwork/security.py); offline, they wait until the phone is online. */
export async function showFlashes(main = document.getElementById("main")) {
  if (!main || flashesAsked || !document.cookie.split("; ").includes(`${FLASH_COOKIE}=1`)) return;
  if (!navigator.onLine) {
    window.addEventListener("online", () => showFlashes(main), { once: true });
    return;
  }
  flashesAsked = true;
  let flashes;
  try {
    const response = await fetch("/api/session/flashes", { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    flashes = await response.json();
  } catch (_) {
    // Not handed over: the cookie stays, and the next page (or the network coming back) asks again.
    flashesAsked = false;
    window.addEventListener("online", () => showFlashes(main), { once: true });
    return;
  }
  main.prepend(...flashes.map(({ category, message }) =>
    el("div", { class: `flash flash-${String(category).replace(/[^\w-]/g, "")}`, role: "status", text: message })));
}

export async function route(root = document.querySelector("[data-offline-app]")) {
  if (!root) return;
  await ready;
  const page = pageFor(location.pathname);
  if (page?.name === "device") {
    const holder = await sessionUser();
    await useLocaleOf(holder);
    header(holder);
    root.dataset.page = "device";
    await (await modules.device()).render(root);
    root.dataset.drawn = "1";
    return root;
  }
  const user = await whoIsHere(root);
  await useLocaleOf(user);
  header(user);
  if (!user) return needLogin(root);
  if (!page) return notCached(root);
  if (page.name !== "discovery" && await isLocked(user)) return loginAgain(root);
  if (!await hasPulled(user.id) && navigator.onLine) {
    // First login on this phone and the first pull has not landed: say so, and try again
    // when the next sync (the bar's retry, "立即同步", the network coming back) ends.
    syncing(root);
    const sync = await import("./sync.js");
    const state = await sync.syncNow({ reason: "first" });
    if (ENDED.has(state)) return route(root);
    if (!await hasPulled(user.id)) { await nextSync(); return route(root); }
  }
  const mod = await modules[page.name]();
  // root.dataset.drawn counts the draws: the first from the phone, later ones after a pull.
  // A later draw goes off screen first and replaces the page only when it differs (a pull
  // that changed nothing leaves the page, and what the user is pointing at, alone).
  const draw = async (again = false) => {
    if (!again) await mod.render(root, user, ...page.args);
    else {
      const next = root.cloneNode(false);
      await mod.render(next, user, ...page.args);
      if (next.innerHTML === root.innerHTML) return;
      const focused = document.activeElement?.id;
      root.replaceChildren(...next.childNodes);
      if (focused) document.getElementById(focused)?.focus();
    }
    root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
  };
  follow(page, user, draw);
  root.dataset.page = page.name;
  await draw();
  return root;
}

route();
showFlashes();


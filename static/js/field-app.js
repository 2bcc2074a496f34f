// The field pages' one renderer, online and offline alike. The server (or, at once, the
// service worker's cached copy) answers every field URL with the same shell (templates/
// offline.html: no user data in it); this router picks the page module, which draws from
// IndexedDB and the outbox; the sync started on load (sync-ui.js) then pulls in the
// background and the page is drawn again from the fresher data.
import { ready, t } from "./i18n.js";
import * as outbox from "./outbox.js";
import { el, hasPulled, isLocked, loginAgain, needLogin, notCached, sessionUser, syncing } from "./pages/common.js";

const REPORTERS = ["community_worker", "street_reviewer", "county_officer"];
const ENDED = new Set(["login_required", "account_disabled"]);

/** The page module and its arguments for a path, or null when it is no field page. */
export function pageFor(path) {
  let m;
  if (path === "/device") return { name: "device", args: [] };
  if (path === "/" || path === "/households/mine") return { name: "mine", args: [], live: true };
  if ((m = path.match(/^\/households\/(\d+)\/visits\/new$/))) return { name: "visit", args: [m[1]] };
  if ((m = path.match(/^\/households\/(\d+)$/))) return { name: "household", args: [m[1]], live: true };
  if (path === "/discovery/new") return { name: "discovery", args: [] };
  return null;
}

const modules = {
  mine: () => import("./pages/mine.js"),
  household: () => import("./pages/household.js"),
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
      el("a", { href: "/device", text: t("本机记录") }),
      el("a", { href: "/password", text: t("修改密码") }),
      logout));
  (name || document.querySelector(".topbar"))?.after(menu);
  if (name) name.hidden = true;
}

function justSignedIn() {
  try { return new URL(document.referrer).pathname === "/login"; } catch (_) { return false; }
}

async function whoIsHere() {
  let user = await sessionUser();
  if (navigator.onLine && justSignedIn()) {
    // A new login: the phone's last user may be someone else, the server decides.
    try {
      const sync = await import("./sync.js");
      user = (await sync.session()).user;
      await sync.forgetOtherUsers(user.id);
    } catch (_) { /* the background sync will tell */ }
  }
  if (!user && navigator.onLine) {
    // Straight after the login the first sync may not have stored the session yet.
    try { user = (await (await import("./sync.js")).session()).user; } catch (_) { /* offline or signed out */ }
  }
  return user;
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
  const onChannel = (e) => { if (e.data?.type === "sync-status") onState(e.data.state); };
  const stop = () => {
    window.removeEventListener("fieldwork:sync", onPage);
    outbox.channelFor()?.removeEventListener("message", onChannel);
  };
  window.addEventListener("fieldwork:sync", onPage);
  outbox.channelFor()?.addEventListener("message", onChannel);
}

export async function route(root = document.querySelector("[data-offline-app]")) {
  if (!root) return;
  await ready;
  const page = pageFor(location.pathname);
  if (page?.name === "device") {
    header(await sessionUser());
    root.dataset.page = "device";
    await (await modules.device()).render(root);
    root.dataset.drawn = "1";
    return root;
  }
  const user = await whoIsHere();
  header(user);
  if (!user) return needLogin(root);
  if (!page) return notCached(root);
  if (page.name !== "discovery" && await isLocked(user)) return loginAgain(root);
  if (!await hasPulled(user.id) && navigator.onLine) {
    // First login on this phone: nothing to draw until the first pull lands.
    syncing(root);
    const state = await (await import("./sync.js")).syncNow({ reason: "first" });
    if (ENDED.has(state)) return route(root);
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


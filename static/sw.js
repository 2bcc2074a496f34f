// fieldwork service worker (served at /sw.js, scope /). The server fills in VERSION and
// PRECACHE: a new static file or template means a new worker and a fresh cache.
import { syncNow } from "/static/js/sync.js";
import { getMeta } from "/static/js/db.js";
import { META, REPORTER_ROLES as REPORTERS } from "/static/js/keys.js";
import { t } from "/static/js/i18n.js";

const VERSION = "__VERSION__";
const PRECACHE = __PRECACHE__;
const SHELL_CACHE = `fieldwork-shell-${VERSION}`;
const RUNTIME_CACHE = `fieldwork-runtime-${VERSION}`;
const OFFLINE_URL = "/offline";
const NETWORK_TIMEOUT_MS = 6000;
const NEVER_CACHE = ["/api/", "/photos/", "/sw.js", "/login", "/logout", "/language", "/healthz"];

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL_CACHE);
    await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload", credentials: "same-origin" })));
  })());
  // No skipWaiting here: the page asks the user first (see app.js), so a form being
  // filled in is never reloaded under their hands.
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("fieldwork-") && name !== SHELL_CACHE && name !== RUNTIME_CACHE) {
        await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data?.type === "SKIP_WAITING") self.skipWaiting();
  if (event.data?.type === "SYNC") event.waitUntil(syncNow({ reason: "worker" }));
});

self.addEventListener("sync", (event) => {
  if (event.tag === "fieldwork-outbox") event.waitUntil(syncNow({ reason: "background" }));
});

function timeout(ms) {
  return new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ms));
}

async function fromShell(request) {
  const cache = await caches.open(SHELL_CACHE);
  return cache.match(request, { ignoreSearch: true });
}

// The field pages draw on the phone from IndexedDB (static/js/field-app.js): for them the
// cached shell answers at once, with no network wait; the page then pulls in the background.
const HELPER_PAGES = [/^\/$/, /^\/households\/mine$/, /^\/households\/mine\/tasks$/, /^\/households\/\d+$/, /^\/households\/\d+\/visits\/new$/];

async function localFirst(url) {
  if (url.pathname === "/device") return true;
  const helperPage = HELPER_PAGES.some((re) => re.test(url.pathname));
  if (!helperPage && url.pathname !== "/discovery/new") return false;
  // Whose pages these are is known only to the phone's last session (the server decides
  // otherwise: no session → the login page; an office role → the office pages).
  let user = null;
  try { user = await getMeta(META.sessionUser); } catch (_) { return false; }
  if (!user) return false;
  return helperPage ? user.role === "helper" : REPORTERS.includes(user.role);
}

async function navigate(request) {
  if (await localFirst(new URL(request.url))) {
    const shell = await fromShell(OFFLINE_URL);
    if (shell) return shell;
  }
  try {
    const response = await Promise.race([fetch(request), timeout(NETWORK_TIMEOUT_MS)]);
    if (response.status < 500) return response;
    throw new Error(`HTTP ${response.status}`);
  } catch (_) {
    // No network (or too slow): the offline shell renders the page from IndexedDB.
    const shell = await fromShell(OFFLINE_URL);
    return shell || new Response(t("离线且没有缓存的页面"), { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }
}

async function staticAsset(request) {
  const cached = await fromShell(request);
  if (cached) return cached;
  const runtime = await caches.open(RUNTIME_CACHE);
  const hit = await runtime.match(request);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok) runtime.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (NEVER_CACHE.some((p) => url.pathname.startsWith(p))) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(request));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(staticAsset(request));
  }
});

// Page enhancements shared by every page. No inline scripts (strict CSP).
import { initSyncBar, initLogout } from "./sync-ui.js";
import { ready, t } from "./i18n.js";
import { WORKER_MESSAGES } from "./keys.js";

// htmx sends the CSRF token on every request it makes.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (token) event.detail.headers["X-CSRFToken"] = token;
});

// "Sort by distance" on the helper's list: one quick fix, then htmx reloads the list.
document.addEventListener("click", async (event) => {
  const button = event.target.closest('[data-action="sort-nearby"]');
  if (!button) return;
  const { quickPosition } = await import("./geo.js");
  button.disabled = true;
  const pos = await quickPosition();
  button.disabled = false;
  const form = button.form;
  if (!pos) { button.textContent = t("无法定位"); return; }
  form.querySelector('[data-near="lat"]').value = pos.lat.toFixed(6);
  form.querySelector('[data-near="lon"]').value = pos.lon.toFixed(6);
  if (window.htmx) window.htmx.trigger(form, "nearby");
  else form.submit();
});

// The service worker: offline pages, and sending the outbox when the page is closed.
async function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  let reg;
  try {
    reg = await navigator.serviceWorker.register("/sw.js", { type: "module", scope: "/" });
  } catch (err) {
    console.warn("fieldwork: service worker not available", err);
    return;
  }
  if (!reg) return; // registration stubbed out (a browser's or a test's "no service workers")
  const banner = document.querySelector("[data-update-banner]");
  const offer = (worker) => {
    if (!banner || !worker) return;
    banner.hidden = false;
    banner.querySelector('[data-action="apply-update"]').onclick = () => worker.postMessage({ type: WORKER_MESSAGES.skipWaiting });
  };
  // A new version waits until the user says so: unsent work lives in IndexedDB and survives,
  // but a half-filled form on screen would not survive a reload under the user's hands.
  if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
  reg.addEventListener("updatefound", () => {
    const worker = reg.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
    });
  });
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (reloading || !banner || banner.hidden) return;
    reloading = true;
    location.reload();
  });
}

// The sync bar speaks the page's language from its first paint.
await ready;
initLogout();
initSyncBar();
registerWorker();

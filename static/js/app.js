// Page enhancements shared by every page. No inline scripts (strict CSP).
import { initSyncBar, initLogout } from "./sync-ui.js";
import { ready } from "./i18n.js";
import { WORKER_MESSAGES } from "./keys.js";

// htmx sends the CSRF token on every request it makes.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content;
  if (token) event.detail.headers["X-CSRFToken"] = token;
});

// A form or button with data-confirm asks first (撤销批次, 停用账号, 重置密码): these act at
// once and cannot be taken back by the back button.
document.addEventListener("submit", (event) => {
  const message = event.submitter?.dataset.confirm || event.target.dataset?.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
}, true);

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

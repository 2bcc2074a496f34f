// Client strings, translated like the server's: the msgid IS the Chinese text (zh needs no
// catalogue) and other locales come from GET /i18n/<locale>.json ({msgid: msgstr}, built by the
// server from the t("…") calls in static/js; the service worker precaches it).
//
// Usage:  import { t, ready } from "./i18n.js";
//         await ready;                       // once, before a page's first render
//         t("已保存 {count} 条", { count: 3 })  // → "Saved 3" in English, the msgid in Chinese
//
// No top-level await here on purpose: sync.js imports this module and it runs inside the
// service worker, where a top-level await anywhere in the module graph stops the worker from
// starting. Pages `await ready` (their own top-level await is fine); in a worker the locale is
// zh unless `loadCatalogue(locale)` says otherwise. A missing msgid, or no catalogue at all
// (offline before the worker cached it), falls back to the Chinese msgid.

const FETCH_TIMEOUT_MS = 4000;
let catalogue = {};

/** "en", "en-GB" → "en"; anything Chinese, empty or unknown → "zh" (no catalogue needed). */
export function catalogueLocale(lang) {
  const v = String(lang || "").toLowerCase();
  return v.startsWith("en") ? "en" : "zh";
}

/** The URL of a locale's catalogue (also in the service worker's precache list). */
export function catalogueUrl(locale) {
  return `/i18n/${locale}.json`;
}

async function fetchCatalogue(url) {
  // The precached copy first (no round trip on a slow network); then the network.
  if (typeof caches !== "undefined") {
    try {
      const hit = await caches.match(url);
      if (hit) return await hit.json();
    } catch (_) { /* no cache storage (private mode, tests): the network decides */ }
  }
  // A weak signal must not hold the page: past the timeout it shows the msgids.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch(url, { credentials: "same-origin", signal: abort.signal });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return await response.json();
  } finally {
    clearTimeout(timer);
  }
}

/** Load (or switch to) a locale's catalogue; never rejects: on failure t() shows msgids. */
export async function loadCatalogue(locale) {
  const which = catalogueLocale(locale);
  if (which === "zh") {
    catalogue = {};
    return catalogue;
  }
  try {
    const data = await fetchCatalogue(catalogueUrl(which));
    catalogue = data && typeof data === "object" ? data : {};
  } catch (err) {
    console.warn("fieldwork: no catalogue for", which, err);
    catalogue = {};
  }
  return catalogue;
}

/** Settles once the page's catalogue is loaded (at once in a worker, or for Chinese pages). */
export const ready = typeof document !== "undefined" && document.documentElement
  ? loadCatalogue(document.documentElement.lang)
  : Promise.resolve(catalogue);

/** The translation of msgid with {name} placeholders filled from params. */
export function t(msgid, params) {
  const text = Object.prototype.hasOwnProperty.call(catalogue, msgid) && catalogue[msgid]
    ? catalogue[msgid] : msgid;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole);
}

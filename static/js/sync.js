// The sender and the puller: records in order, then their photos; the phone's copy of its
// households refreshed with the pull cursor. Runs in pages and in the service worker.
import { deviceId, getMeta, setMeta, tx } from "./db.js";
import * as outbox from "./outbox.js";
import { seal } from "./vault.js";
import { CACHE_PREFIX, EVENTS, MESSAGES, META, STORES, SYNC_LOCK, USER_DATA_META } from "./keys.js";

const API = "/api/sync/v1";
const MAX_BATCH = 100;
const MAX_BATCH_BYTES = 1_500_000;
const BACKOFF_BASE_MS = 5_000;
const BACKOFF_MAX_MS = 5 * 60_000;

export class LoginRequired extends Error {}
/** The server says this account is deactivated (or this device revoked): the phone forgets
 * the user's households and pulled data; unsent records stay, sealed (never lose work). */
export class AccountDisabled extends Error {}
const REVOKED_CODES = new Set(["account_disabled", "device_revoked"]);
class NetworkError extends Error {
  constructor(message, hint = null) {
    super(message);
    this.hint = hint; // the server's own words, in the user's language, when it gave any
  }
}

/** An answer that says nothing about the record itself (a stale CSRF token, a password that
 * must be changed first, too many requests): try again later, never reject the record. */
function notAboutTheRecord(status, data) {
  return status === 403 || status === 408 || status === 429 || data?.error?.code === "csrf";
}

/** What sync.js takes from its surroundings: the network and the timer. The unit tests point
 * fetch at a local HTTP server and the timer at a recorder (tests/js); nothing else sets them. */
export const io = {
  fetch: (...args) => fetch(...args),
  setTimeout: (...args) => setTimeout(...args),
  clearTimeout: (...args) => clearTimeout(...args),
};

let running = null;
let queued = null;
let failures = 0;
let retryTimer = null;

function emit(status) {
  const msg = { type: MESSAGES.syncStatus, ...status, at: new Date().toISOString() };
  outbox.channelFor()?.postMessage(msg);
  if (typeof window !== "undefined") window.dispatchEvent(new CustomEvent(EVENTS.sync, { detail: msg }));
}

async function api(path, { method = "GET", body, csrf, headers = {} } = {}) {
  let res;
  // The installation's id lets the server say "this phone's account is deactivated" even
  // when the phone's cookies have expired (finding 4 of the audit).
  const device = await deviceId();
  try {
    res = await io.fetch(API + path, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json", "X-Fieldwork-Device": device, ...(csrf ? { "X-CSRFToken": csrf } : {}), ...headers },
      body,
    });
  } catch (err) {
    throw new NetworkError(err.message || "network");
  }
  let data = null;
  try { data = await res.json(); } catch (_) { /* a proxy's HTML error page */ }
  if (res.status === 401 || res.status === 403) {
    if (REVOKED_CODES.has(data?.error?.code)) throw new AccountDisabled(data.error.message);
    if (res.status === 401) throw new LoginRequired();
  }
  if (res.status >= 500 || (!data && !res.ok)) throw new NetworkError(`HTTP ${res.status}`);
  if (notAboutTheRecord(res.status, data)) throw new NetworkError(`HTTP ${res.status}`, data?.error?.message);
  return { status: res.status, data };
}

/** The session user and a CSRF token, or LoginRequired. */
export async function session() {
  const { data } = await api("/session");
  const uid = String(data.user.id);
  await tx(STORES.meta, "readwrite", (s) => {
    s.meta.put({ key: META.sessionUser, value: data.user });
    // The same user is signed in again: what an explicit 401 hid shows again.
    s.meta.delete(META.locked(uid));
    s.meta.delete(META.revoked(uid));
    s.meta.put({ key: META.sessionOk(uid), value: new Date().toISOString() });
  });
  return data;
}

/** Hide this user's households on the phone until they sign in again (an explicit 401). */
export async function lockUser(userId) {
  await setMeta(META.locked(String(userId)), new Date().toISOString());
}

export async function isLocked(userId) {
  return Boolean(await getMeta(META.locked(String(userId))));
}

/** Pages other than the app shell and static files that a cache may hold: gone. */
export async function purgePersonalCaches() {
  if (typeof caches === "undefined") return;
  for (const name of await caches.keys()) {
    if (!name.startsWith(CACHE_PREFIX)) continue;
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const path = new URL(request.url).pathname;
      if (!(path.startsWith("/static/") || path === "/offline" || path === "/manifest.webmanifest")) {
        await cache.delete(request);
      }
    }
  }
}

/** The account is deactivated (or the device revoked): forget its households, forms, regions,
 * cursors and sent list, and cached pages. Its unsent records stay, sealed, for the office. */
export async function wipeUser(userId) {
  const uid = String(userId);
  await forgetUser(uid);
  await tx(STORES.meta, "readwrite", (s) => {
    for (const key of USER_DATA_META) s.meta.delete(key(uid));
    s.meta.put({ key: META.revoked(uid), value: new Date().toISOString() });
  });
  await purgePersonalCaches();
}

function uploadWithProgress(url, photo, csrf, onProgress) {
  // XMLHttpRequest reports upload progress; the service worker has only fetch.
  if (typeof XMLHttpRequest === "undefined") {
    return io.fetch(url, {
      method: "PUT", credentials: "same-origin", body: photo.buffer,
      headers: { "Content-Type": photo.mime, "X-Content-SHA256": photo.sha256, "X-CSRFToken": csrf, Accept: "application/json" },
    }).then(async (res) => ({ status: res.status, data: await res.json().catch(() => null) }),
            (err) => { throw new NetworkError(err.message); });
  }
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Content-Type", photo.mime);
    xhr.setRequestHeader("X-Content-SHA256", photo.sha256);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      resolve({ status: xhr.status, data });
    };
    xhr.onerror = () => reject(new NetworkError("upload interrupted"));
    xhr.onabort = () => reject(new NetworkError("upload aborted"));
    xhr.ontimeout = () => reject(new NetworkError("upload timed out"));
    xhr.timeout = 120_000;
    xhr.send(photo.buffer);
  });
}

async function pushRecords(user, csrf) {
  const entries = (await outbox.list()).filter((e) => e.user_id === String(user.id) && e.state === "pending");
  const device = await deviceId();
  const records = new Map(); // unsealed only for the time of the request
  for (const e of entries) records.set(e.id, (await outbox.contents(e)).record);
  let i = 0;
  while (i < entries.length) {
    const batch = [];
    let size = 0;
    while (i < entries.length && batch.length < MAX_BATCH) {
      const s = JSON.stringify(records.get(entries[i].id)).length;
      if (batch.length && size + s > MAX_BATCH_BYTES) break;
      batch.push(entries[i]);
      size += s;
      i += 1;
    }
    const body = JSON.stringify({ device_id: device, sent_at: new Date().toISOString(), records: batch.map((e) => records.get(e.id)) });
    const { status, data } = await api("/push", { method: "POST", body, csrf, headers: { "Content-Type": "application/json" } });
    if (status !== 200) {
      // The request as a whole was refused: send the records one by one to find the culprit.
      if (batch.length > 1) {
        for (const e of batch) await pushOne(e, records.get(e.id), device, csrf);
        continue;
      }
      batch[0].state = "rejected";
      batch[0].errors = { record: data?.error?.message || `HTTP ${status}` };
      await outbox.update(batch[0]);
      continue;
    }
    await applyResults(batch, data.results);
  }
}

async function pushOne(entry, record, device, csrf) {
  const body = JSON.stringify({ device_id: device, sent_at: new Date().toISOString(), records: [record] });
  const { status, data } = await api("/push", { method: "POST", body, csrf, headers: { "Content-Type": "application/json" } });
  if (status === 200) return applyResults([entry], data.results);
  entry.state = "rejected";
  entry.errors = { record: data?.error?.message || `HTTP ${status}` };
  return outbox.update(entry);
}

async function applyResults(batch, results) {
  const byId = new Map(results.map((r) => [r.id, r]));
  for (const entry of batch) {
    const r = byId.get(entry.id);
    if (!r) continue;
    entry.attempts += 1;
    if (r.status === "rejected") {
      entry.state = "rejected";
      entry.errors = r.errors || {};
    } else {
      entry.state = "accepted";
      entry.flags = r.flags || [];
      const missing = new Set(r.missing_photos || []);
      for (const photo of await outbox.photosOf(entry.id, { withBytes: true })) {
        if (!missing.has(photo.id) && photo.state !== "stored") {
          await outbox.putPhoto({ ...photo, state: "stored", buffer: null });
        }
      }
    }
    await outbox.update(entry);
  }
}

async function uploadPhotos(user, csrf, progress) {
  const entries = (await outbox.list()).filter((e) => e.user_id === String(user.id) && e.state === "accepted");
  for (const entry of entries) {
    const photos = await outbox.photosOf(entry.id, { withBytes: true });
    for (const photo of photos) {
      if (photo.state === "stored" || photo.state === "failed") continue;
      const before = progress.sent;
      const plain = { ...photo, buffer: await outbox.photoBytes(photo) };
      const { status, data } = await uploadWithProgress(`${API}/photos/${photo.id}`, plain, csrf, (loaded) => {
        progress.sent = before + loaded;
        emit({ state: "sending", ...progress });
      });
      if (status === 401 || status === 403) {
        if (REVOKED_CODES.has(data?.error?.code)) throw new AccountDisabled(data.error.message);
        if (status === 401) throw new LoginRequired();
      }
      if (notAboutTheRecord(status, data)) throw new NetworkError(`HTTP ${status}`, data?.error?.message);
      if (status === 200 || status === 201) {
        progress.sent = before + photo.bytes;
        await outbox.putPhoto({ ...photo, state: "stored", buffer: null, error: null });
      } else if (status === 404) {
        // The server does not know the record (yet): send the record again, then retry.
        entry.state = "pending";
        await outbox.update(entry);
        break;
      } else if (status >= 500 || status === 0) {
        throw new NetworkError(`HTTP ${status}`);
      } else {
        // 400/409/413: this photo can never be stored as it is; keep it visible to the user.
        await outbox.putPhoto({ ...photo, state: "failed", error: data?.error?.message || `HTTP ${status}` });
      }
    }
    const after = await outbox.photosOf(entry.id);
    if (entry.state === "accepted" && after.every((p) => p.state === "stored")) {
      await rememberSent(entry);
      await outbox.remove(entry.id);
    } else if (after.some((p) => p.state === "failed")) {
      entry.errors = { photos: after.filter((p) => p.state === "failed").map((p) => p.error).join("；") };
      await outbox.update(entry);
    }
  }
}

async function rememberSent(entry) {
  const { label } = await outbox.contents(entry);
  const sealedLabel = await seal(entry.user_id, label || "");
  const log = await getMeta(META.sentLog, []);
  log.unshift({ id: entry.id, type: entry.type, sealed_label: sealedLabel, user_id: entry.user_id,
                created_at: entry.created_at, sent_at: new Date().toISOString(), flags: entry.flags });
  await setMeta(META.sentLog, log.slice(0, 50));
}

/** Refresh the phone's households for this user (cursor-based; full replace when told). */
export async function pull(user) {
  const key = META.cursor(user.id);
  const cursor = await getMeta(key);
  const device = await deviceId();
  const qs = new URLSearchParams({ device_id: device });
  if (cursor) qs.set("since", cursor);
  const { status, data } = await api(`/pull?${qs}`);
  if (status !== 200) throw new NetworkError(`HTTP ${status}`);
  const uid = String(user.id);
  await tx([STORES.households, STORES.meta], "readwrite", async (s, p) => {
    if (data.full) {
      const keys = await p(s.households.index("user_id").getAllKeys(uid));
      for (const k of keys) s.households.delete(k);
    }
    for (const id of data.removed) s.households.delete([uid, String(id)]);
    for (const h of data.households) s.households.put({ ...h, id: String(h.id), user_id: uid });
    s.meta.put({ key, value: data.cursor });
    s.meta.put({ key: META.forms(uid), value: data.forms });
    s.meta.put({ key: META.settings(uid), value: data.settings });
    s.meta.put({ key: META.regions(uid), value: data.regions || [] });
    s.meta.put({ key: META.pulledAt(uid), value: data.server_time });
  });
  return data;
}

/** Forget the cached households of every other user (privacy on a shared phone). */
export async function forgetOtherUsers(userId) {
  const uid = String(userId);
  await tx(STORES.households, "readwrite", async (s, p) => {
    const keys = await p(s.households.getAllKeys());
    for (const k of keys) if (k[0] !== uid) s.households.delete(k);
  });
}

export async function forgetUser(userId) {
  const uid = String(userId);
  await tx([STORES.households, STORES.meta], "readwrite", async (s, p) => {
    const keys = await p(s.households.index("user_id").getAllKeys(uid));
    for (const k of keys) s.households.delete(k);
    s.meta.delete(META.cursor(uid));
    // The list of what was sent names households too.
    const log = await p(s.meta.get(META.sentLog));
    if (log) s.meta.put({ key: META.sentLog, value: log.value.filter((e) => e.user_id !== uid) });
  });
  await setMeta(META.sessionUser, null);
}

async function withLock(fn) {
  // One sender at a time across tabs and the service worker. Wait for the lock rather than
  // give up: the sender holding it may have read the outbox before a record just saved.
  if (typeof navigator !== "undefined" && navigator.locks) {
    return navigator.locks.request(SYNC_LOCK, () => fn());
  }
  return fn();
}

function scheduleRetry() {
  io.clearTimeout(retryTimer);
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures - 1, 10));
  retryTimer = io.setTimeout(() => syncNow({ reason: "retry" }), delay);
  return delay;
}

/** Send everything this user has waiting, then pull. Safe to call at any time, from anywhere. */
export function syncNow({ reason = "manual", pullToo = true } = {}) {
  if (running) {
    // Asked while a sync runs (a save, the network coming back): that sync may have read the
    // outbox already, so one more follows it. Further asks share that one.
    queued ||= running.then(() => { queued = null; return syncNow({ reason, pullToo }); });
    return queued;
  }
  running = withLock(async () => {
    emit({ state: "sending", reason, sent: 0 });
    try {
      await outbox.sealLegacy();
      const { user, csrf_token: csrf } = await session();
      await forgetOtherUsers(user.id);
      const before = await outbox.summary(user.id);
      const progress = { sent: 0, total: before.photoBytes };
      await pushRecords(user, csrf);
      await uploadPhotos(user, csrf, progress);
      // A 404 on a photo put its record back to pending: one more round fixes it.
      if ((await outbox.summary(user.id)).records) {
        await pushRecords(user, csrf);
        await uploadPhotos(user, csrf, progress);
      }
      if (pullToo) await pull(user);
      failures = 0;
      const now = new Date().toISOString();
      await setMeta(META.lastSync(user.id), now);
      emit({ state: "idle", last_sync: now, ...(await outbox.summary(user.id)) });
      return "ok";
    } catch (err) {
      if (err instanceof LoginRequired || err instanceof AccountDisabled) {
        // The server answered: this phone's last user is no longer signed in here.
        const last = await getMeta(META.sessionUser);
        const revoked = err instanceof AccountDisabled;
        if (last && revoked) await wipeUser(last.id);
        else if (last) await lockUser(last.id);
        const state = revoked ? "account_disabled" : "login_required";
        emit({ state, message: err.message, ...(await outbox.summary()) });
        return state;
      }
      failures += 1;
      const delay = scheduleRetry();
      const offline = typeof navigator !== "undefined" && navigator.onLine === false;
      emit({ state: offline ? "offline" : "error", retry_in_ms: delay, message: err.message, hint: err.hint || null, ...(await outbox.summary()) });
      return "error";
    }
  }).finally(() => { running = null; });
  return running;
}

/** Resolves once no sync started here is running or queued (it never rejects). */
export async function settled() {
  while (running || queued) {
    try { await (queued || running); } catch (_) { /* its outcome is on the sync bar */ }
  }
}

export function resetBackoff() {
  failures = 0;
  io.clearTimeout(retryTimer);
}

// IndexedDB: the phone's copy of its households and the outbox of unsent records.
// Used by the pages and by the service worker. Photo bytes are ArrayBuffers (Safari's
// IndexedDB handles Blobs poorly), kept in their own store so lists never load them.
// Store names and meta keys: keys.js.
import { DB_NAME, META, STORES } from "./keys.js";

const DB_VERSION = 2;
let opening = null;

function upgrade(db, oldVersion) {
  // Each step only adds: unsent work survives every upgrade.
  if (oldVersion < 1) {
    const outbox = db.createObjectStore(STORES.outbox, { keyPath: "seq", autoIncrement: true });
    outbox.createIndex("id", "id", { unique: true });
    outbox.createIndex("user_id", "user_id");
    const photos = db.createObjectStore(STORES.photos, { keyPath: "id" });
    photos.createIndex("record_id", "record_id");
    const households = db.createObjectStore(STORES.households, { keyPath: ["user_id", "id"] });
    households.createIndex("user_id", "user_id");
    db.createObjectStore(STORES.meta, { keyPath: "key" });
  }
  if (oldVersion < 2) {
    // Per-user AES-GCM keys (non-extractable CryptoKeys) that seal the outbox: vault.js.
    db.createObjectStore(STORES.keys, { keyPath: "user_id" });
  }
}

export function openDb() {
  if (opening) return opening;
  opening = new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = (e) => upgrade(req.result, e.oldVersion);
    req.onsuccess = () => {
      const db = req.result;
      // A newer page wants to upgrade: let it (our data stays; we reopen next time).
      db.onversionchange = () => { db.close(); opening = null; };
      resolve(db);
    };
    req.onerror = () => { opening = null; reject(req.error); };
    req.onblocked = () => console.warn("fieldwork: database upgrade waits for other tabs");
  });
  return opening;
}

function promisify(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Run fn(stores, req) in one transaction; resolves with fn's result once it has committed.
 * If fn throws or rejects, the transaction is aborted (nothing of it is written) and tx
 * rejects with fn's error. fn may only await IndexedDB requests of this transaction: awaiting
 * anything else lets the transaction commit early (IndexedDB's rule, not ours). */
export async function tx(storeNames, mode, fn) {
  const db = await openDb();
  const names = Array.isArray(storeNames) ? storeNames : [storeNames];
  const t = db.transaction(names, mode);
  const stores = Object.fromEntries(names.map((n) => [n, t.objectStore(n)]));
  let result;
  const done = new Promise((resolve, reject) => {
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("transaction aborted"));
  });
  try {
    result = await fn(stores, promisify);
  } catch (err) {
    // Without this, the requests fn made before failing would still commit: a partial write.
    try { t.abort(); } catch (_) { /* already committed or aborted */ }
    done.catch(() => { /* the abort is reported as fn's own error, below */ });
    throw err;
  }
  return done;
}

export const req = promisify;

export async function getMeta(key, fallback = null) {
  const row = await tx(STORES.meta, "readonly", (s, p) => p(s.meta.get(key)));
  return row ? row.value : fallback;
}

export async function setMeta(key, value) {
  return tx(STORES.meta, "readwrite", (s, p) => p(s.meta.put({ key, value })));
}

export async function deviceId() {
  let id = await getMeta(META.deviceId);
  if (!id) {
    id = crypto.randomUUID();
    await setMeta(META.deviceId, id);
  }
  return id;
}

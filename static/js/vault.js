// What the phone keeps of people's details while records wait to be sent (the record itself,
// its label, its photos) is sealed with AES-GCM under a per-user key. The key is a
// non-extractable CryptoKey kept in IndexedDB ("keys" store): scripts can use it on this
// phone, but nothing can read it out, and the stored records hold no plain ID number, name
// or photo. Used by pages and by the service worker.
import { tx } from "./db.js";
import { STORES } from "./keys.js";

const ALGO = "AES-GCM";
const keys = new Map(); // user id -> Promise<CryptoKey>

async function loadKey(uid) {
  const row = await tx(STORES.keys, "readonly", (s, p) => p(s.keys.get(uid)));
  if (row) return row.key;
  const fresh = await crypto.subtle.generateKey({ name: ALGO, length: 256 }, false, ["encrypt", "decrypt"]);
  // Another tab or the service worker may have made one meanwhile: the first one stays.
  let key = fresh;
  await tx(STORES.keys, "readwrite", async (s, p) => {
    const again = await p(s.keys.get(uid));
    if (again) key = again.key;
    else s.keys.put({ user_id: uid, key: fresh, created_at: new Date().toISOString() });
  });
  return key;
}

export function userKey(userId) {
  const uid = String(userId);
  if (!keys.has(uid)) {
    const p = loadKey(uid);
    keys.set(uid, p);
    p.catch(() => keys.delete(uid));
  }
  return keys.get(uid);
}

/** Seal bytes (ArrayBuffer or view) for a user: {alg, iv, data} with data an ArrayBuffer. */
export async function sealBytes(userId, bytes) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: ALGO, iv }, await userKey(userId), bytes);
  return { alg: "A256GCM", iv, data };
}

export async function openBytes(userId, sealed) {
  return crypto.subtle.decrypt({ name: ALGO, iv: sealed.iv }, await userKey(userId), sealed.data);
}

export async function seal(userId, value) {
  return sealBytes(userId, new TextEncoder().encode(JSON.stringify(value)));
}

export async function open(userId, sealed) {
  return JSON.parse(new TextDecoder().decode(await openBytes(userId, sealed)));
}

export function isSealed(value) {
  return Boolean(value && value.alg === "A256GCM" && value.iv && value.data);
}

// The one outbox: every visit and discovery report is written here first, online or not.
// Entries leave only after the server has answered for the record and all its photos.
import { tx } from "./db.js";

/**
 * Append a record and its photos in one transaction.
 * photos: [{id, mime, buffer: ArrayBuffer, sha256, bytes}]
 */
export async function append({ record, photos = [], user, label = "" }) {
  const entry = {
    id: record.id,
    type: record.type,
    user_id: String(user.id),
    username: user.username,
    label,
    created_at: new Date().toISOString(),
    record,
    state: "pending", // pending → accepted (photos may still be missing) → gone; or rejected
    errors: null,
    flags: [],
    photo_ids: photos.map((p) => p.id),
    attempts: 0,
  };
  await tx(["outbox", "photos"], "readwrite", (s) => {
    s.outbox.add(entry);
    for (const p of photos) {
      s.photos.put({ id: p.id, record_id: record.id, user_id: String(user.id), mime: p.mime,
                     sha256: p.sha256, bytes: p.bytes, buffer: p.buffer, state: "waiting",
                     error: null });
    }
  });
  notify();
  return entry;
}

/** Every entry in the order it was made (without photo bytes). */
export async function list() {
  return tx("outbox", "readonly", (s, p) => p(s.outbox.getAll()));
}

export async function get(id) {
  return tx("outbox", "readonly", (s, p) => p(s.outbox.index("id").get(id)));
}

export async function update(entry) {
  await tx("outbox", "readwrite", (s, p) => p(s.outbox.put(entry)));
  notify();
}

/** Photo rows of a record, without their bytes unless withBytes. */
export async function photosOf(recordId, { withBytes = false } = {}) {
  const rows = await tx("photos", "readonly", (s, p) => p(s.photos.index("record_id").getAll(recordId)));
  return withBytes ? rows : rows.map(({ buffer, ...rest }) => ({ ...rest, has_bytes: Boolean(buffer) }));
}

export async function putPhoto(row) {
  await tx("photos", "readwrite", (s, p) => p(s.photos.put(row)));
  notify();
}

/** Remove a finished entry and its photos. */
export async function remove(id) {
  await tx(["outbox", "photos"], "readwrite", async (s, p) => {
    const entry = await p(s.outbox.index("id").get(id));
    if (entry) s.outbox.delete(entry.seq);
    const keys = await p(s.photos.index("record_id").getAllKeys(id));
    for (const k of keys) s.photos.delete(k);
  });
  notify();
}

/** Counts for the sync bar: records and photos still on this phone (bytes too). */
export async function summary(userId = null) {
  return tx(["outbox", "photos"], "readonly", async (s, p) => {
    const entries = await p(s.outbox.getAll());
    const mine = userId == null ? entries : entries.filter((e) => e.user_id === String(userId));
    const photos = [];
    await new Promise((resolve, reject) => {
      const cursor = s.photos.openCursor();
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c) return resolve();
        const { buffer, ...row } = c.value;
        photos.push(row);
        c.continue();
      };
      cursor.onerror = () => reject(cursor.error);
    });
    const ids = new Set(mine.map((e) => e.id));
    const waiting = photos.filter((ph) => ids.has(ph.record_id) && ph.state !== "stored");
    return {
      records: mine.filter((e) => e.state === "pending").length,
      accepted: mine.filter((e) => e.state === "accepted").length,
      rejected: mine.filter((e) => e.state === "rejected").length,
      photos: waiting.length,
      photoBytes: waiting.reduce((n, ph) => n + (ph.bytes || 0), 0),
      total: entries.length,
      otherUsers: entries.length - mine.length,
    };
  });
}

export function humanBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

let channel = null;
export function channelFor() {
  if (!channel && "BroadcastChannel" in self) channel = new BroadcastChannel("fieldwork-sync");
  return channel;
}

/** Tell every page and the service worker that the outbox changed. */
export function notify(detail = {}) {
  const msg = { type: "outbox-changed", ...detail };
  channelFor()?.postMessage(msg);
  if (typeof window !== "undefined") window.dispatchEvent(new CustomEvent("fieldwork:outbox", { detail: msg }));
}

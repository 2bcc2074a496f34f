// The one outbox: every visit and discovery report is written here first, online or not.
// Entries leave only after the server has answered for the record and all its photos.
import { tx } from "./db.js";
import { isSealed, open, openBytes, seal, sealBytes } from "./vault.js";
import { CHANNEL, EVENTS, MESSAGES, META, STORES } from "./keys.js";

/**
 * Append a record and its photos in one transaction. The record, its label and the photo
 * bytes are sealed under the user's key (vault.js): the outbox holds no plain ID number,
 * name or photo. Saving the same record id again is a no-op (a double tap saves once).
 * photos: [{id, mime, buffer: ArrayBuffer, sha256, bytes}]
 */
export async function append({ record, photos = [], user, label = "" }) {
  const uid = String(user.id);
  const sealed = await seal(uid, { record, label });
  const sealedPhotos = [];
  for (const p of photos) sealedPhotos.push({ ...p, buffer: await sealBytes(uid, p.buffer) });
  const entry = {
    id: record.id,
    type: record.type,
    user_id: uid,
    username: user.username,
    // Only what the phone's own pages need without the key: which household a visit is for.
    household_id: record.type === "visit" ? String(record.household_id) : null,
    created_at: new Date().toISOString(),
    sealed,
    state: "pending", // pending → accepted (photos may still be missing) → gone; or rejected
    errors: null,
    flags: [],
    photo_ids: photos.map((p) => p.id),
    attempts: 0,
  };
  let existing = null;
  await tx([STORES.outbox, STORES.photos], "readwrite", async (s, p) => {
    existing = await p(s.outbox.index("id").get(record.id));
    if (existing) return;
    s.outbox.add(entry);
    for (const ph of sealedPhotos) {
      s.photos.put({ id: ph.id, record_id: record.id, user_id: uid, mime: ph.mime,
                     sha256: ph.sha256, bytes: ph.bytes, buffer: ph.buffer, state: "waiting",
                     error: null });
    }
  });
  if (existing) return existing;
  notify();
  return entry;
}

/** The record and label of an entry, unsealed with its user's key. */
export async function contents(entry) {
  if (entry.sealed) return open(entry.user_id, entry.sealed);
  return { record: entry.record, label: entry.label || "" }; // written before sealing existed
}

/** The bytes of a photo row (unsealed), or null once they are gone. */
export async function photoBytes(row) {
  if (!row.buffer) return null;
  return isSealed(row.buffer) ? openBytes(row.user_id, row.buffer) : row.buffer;
}

/** Seal what an older version of the app left in plain text (records, labels, photos, and
 * the labels of the list of what was sent). */
export async function sealLegacy() {
  const log = await tx(STORES.meta, "readonly", (s, p) => p(s.meta.get(META.sentLog)));
  if (log?.value?.some((x) => x.label != null)) {
    const sealedLog = [];
    for (const { label, ...rest } of log.value) {
      sealedLog.push(label == null ? rest : { ...rest, sealed_label: await seal(rest.user_id, label) });
    }
    await tx(STORES.meta, "readwrite", (s) => s.meta.put({ key: META.sentLog, value: sealedLog }));
  }
  const entries = (await list()).filter((e) => !e.sealed && e.record);
  for (const e of entries) {
    const { record, label, ...rest } = e;
    const sealedEntry = { ...rest, household_id: record.type === "visit" ? String(record.household_id) : null,
                          sealed: await seal(e.user_id, { record, label: label || "" }) };
    const photos = [];
    for (const ph of await photosOf(e.id, { withBytes: true })) {
      if (ph.buffer && !isSealed(ph.buffer)) photos.push({ ...ph, user_id: e.user_id, buffer: await sealBytes(e.user_id, ph.buffer) });
    }
    await tx([STORES.outbox, STORES.photos], "readwrite", (s) => {
      s.outbox.put(sealedEntry);
      for (const ph of photos) s.photos.put(ph);
    });
  }
}

/** Every entry in the order it was made (without photo bytes). */
export async function list() {
  return tx(STORES.outbox, "readonly", (s, p) => p(s.outbox.getAll()));
}

export async function get(id) {
  return tx(STORES.outbox, "readonly", (s, p) => p(s.outbox.index("id").get(id)));
}

export async function update(entry) {
  await tx(STORES.outbox, "readwrite", (s, p) => p(s.outbox.put(entry)));
  notify();
}

/** Photo rows of a record, without their bytes unless withBytes. */
export async function photosOf(recordId, { withBytes = false } = {}) {
  const rows = await tx(STORES.photos, "readonly", (s, p) => p(s.photos.index("record_id").getAll(recordId)));
  return withBytes ? rows : rows.map(({ buffer, ...rest }) => ({ ...rest, has_bytes: Boolean(buffer) }));
}

export async function putPhoto(row) {
  await tx(STORES.photos, "readwrite", (s, p) => p(s.photos.put(row)));
  notify();
}

/** Remove a finished entry and its photos. */
export async function remove(id) {
  await tx([STORES.outbox, STORES.photos], "readwrite", async (s, p) => {
    const entry = await p(s.outbox.index("id").get(id));
    if (entry) s.outbox.delete(entry.seq);
    const keys = await p(s.photos.index("record_id").getAllKeys(id));
    for (const k of keys) s.photos.delete(k);
  });
  notify();
}

/** Counts for the sync bar: records and photos still on this phone (bytes too). */
export async function summary(userId = null) {
  return tx([STORES.outbox, STORES.photos], "readonly", async (s, p) => {
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
  if (!channel && "BroadcastChannel" in self) channel = new BroadcastChannel(CHANNEL);
  return channel;
}

/** Tell every page and the service worker that the outbox changed. */
export function notify(detail = {}) {
  const msg = { type: MESSAGES.outboxChanged, ...detail };
  channelFor()?.postMessage(msg);
  if (typeof window !== "undefined") window.dispatchEvent(new CustomEvent(EVENTS.outbox, { detail: msg }));
}

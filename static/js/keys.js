// The names the client's modules share, defined once: window events, the BroadcastChannel,
// service-worker messages, IndexedDB stores and the keys of the "meta" store. Import these
// rather than spelling a string again: a typo then fails loudly (undefined) instead of
// listening to an event nobody sends or reading a key nobody writes.
//
//   import { EVENTS, CHANNEL, STORES, META } from "./keys.js";
//   window.addEventListener(EVENTS.outbox, render);
//   await getMeta(META.forms(user.id));
//   tx([STORES.households, STORES.meta], "readwrite", (s) => s.meta.put(...));
//
// Safe in the service worker (no DOM, no top-level await).

/** CustomEvents dispatched on `window` of a page (detail: the message below). */
export const EVENTS = Object.freeze({
  outbox: "fieldwork:outbox", // the outbox changed (detail: {type: MESSAGES.outboxChanged})
  sync: "fieldwork:sync", // a sync reports its state (detail: {type: MESSAGES.syncStatus, state, …})
  requestSync: "fieldwork:request-sync", // a page saved something: sync now (sync-ui.js listens)
});

/** The BroadcastChannel between tabs and the service worker; its messages' `type`s. */
export const CHANNEL = "fieldwork-sync";
export const MESSAGES = Object.freeze({
  outboxChanged: "outbox-changed",
  syncStatus: "sync-status",
});

/** postMessage types a page sends to the service worker. */
export const WORKER_MESSAGES = Object.freeze({
  skipWaiting: "SKIP_WAITING", // activate the waiting worker (the user said "update")
  sync: "SYNC", // send the outbox from the worker
});

/** Background Sync tag of the outbox, and the Web Lock held by whoever is sending. */
export const SYNC_TAG = "fieldwork-outbox";
export const SYNC_LOCK = "fieldwork-sync";

/** Prefix of the service worker's cache names (the version follows); sync.js purges by it. */
export const CACHE_PREFIX = "fieldwork-";

/** IndexedDB: the database and its object stores (db.js's tx() hands them out by name). */
export const DB_NAME = "fieldwork";
export const STORES = Object.freeze({
  outbox: "outbox", // keyPath seq (autoIncrement); unique index "id", index "user_id"
  photos: "photos", // keyPath id; index "record_id"
  households: "households", // keyPath [user_id, id]; index "user_id"
  meta: "meta", // keyPath key: {key, value}, the keys below
  keys: "keys", // keyPath user_id: the user's non-extractable AES-GCM key (vault.js)
});

/** Keys of the "meta" store. Per-user keys are functions of the user id. */
export const META = Object.freeze({
  deviceId: "device_id", // this installation's id (X-Fieldwork-Device)
  sessionUser: "session_user", // the last user the server confirmed on this phone, or null
  sentLog: "sent_log", // the last 50 records sent (labels sealed)
  cursor: (uid) => `cursor:${uid}`, // the pull cursor
  forms: (uid) => `forms:${uid}`, // the form definitions of the last pull
  settings: (uid) => `settings:${uid}`,
  regions: (uid) => `regions:${uid}`,
  pulledAt: (uid) => `pulled_at:${uid}`, // server time of the last pull
  lastSync: (uid) => `last_sync:${uid}`, // when a sync last finished
  sessionOk: (uid) => `session_ok:${uid}`, // when the server last confirmed this user
  locked: (uid) => `locked:${uid}`, // set by a 401: hide this user's households until login
  revoked: (uid) => `revoked:${uid}`, // the account is deactivated / the device revoked
});

/** The per-user meta keys a deactivated account's data is wiped from (sync.js wipeUser). */
export const USER_DATA_META = Object.freeze([
  META.forms, META.settings, META.regions, META.pulledAt, META.lastSync, META.sessionOk, META.locked,
]);

/** Roles that report newly found households (主动发现): the same list as the server's
 * fieldwork.access.roles.REPORTERS (tests/test_client_catalogue.py compares them). */
export const REPORTER_ROLES = Object.freeze(["community_worker", "street_reviewer", "county_officer"]);

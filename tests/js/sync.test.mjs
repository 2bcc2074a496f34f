// sync.js against a local server that speaks the sync protocol (harness.mjs SyncServer):
// send order, batching, per-record results, backoff, photo upload and the 404 re-push.
import { test, beforeEach, before, after } from "node:test";
import assert from "node:assert/strict";
import { USER, SyncServer, freshDatabase, js, photo, visit } from "./harness.mjs";

const outbox = await import(js("outbox.js"));
const sync = await import(js("sync.js"));
const { getMeta } = await import(js("db.js"));
const { META } = await import(js("keys.js"));

let server;
let timers; // the delays sync.js asked its timer for

before(() => { outbox.channelFor()?.unref?.(); });
after(() => outbox.channelFor()?.close());

beforeEach(async () => {
  await freshDatabase();
  if (server) await server.stop();
  server = await new SyncServer().start();
  timers = [];
  sync.io.fetch = server.fetch;
  sync.io.setTimeout = (_fn, ms) => { timers.push(ms); return timers.length; };
  sync.io.clearTimeout = () => {};
  sync.resetBackoff();
});

after(async () => { if (server) await server.stop(); });

const save = (record, extra = {}) => outbox.append({ record, user: USER, label: `label ${record.id}`, ...extra });

test("records are sent in the order they were saved, then leave the outbox", async () => {
  for (const n of [5, 2, 9]) await save(visit(n));
  assert.equal(await sync.syncNow(), "ok");
  assert.deepEqual(server.pushes(), [[visit(5).id, visit(2).id, visit(9).id]]);
  assert.deepEqual(await outbox.list(), []);
  // What was sent is remembered (label sealed), newest first.
  const log = await getMeta(META.sentLog);
  assert.deepEqual(log.map((e) => e.id), [visit(9).id, visit(2).id, visit(5).id]);
  assert.ok(log.every((e) => e.sealed_label && e.label === undefined));
  // The session was asked first, the pull came last.
  assert.equal(server.requests[0].path, "/session");
  assert.equal(server.requests.at(-1).path, "/pull");
  assert.equal(server.requests[1].headers["x-csrftoken"], "csrf-1");
});

test("nothing leaves the outbox without the server's answer", async () => {
  await save(visit(1));
  server.on("POST", "/push", () => ({ status: 502, body: undefined }));
  assert.equal(await sync.syncNow(), "error");
  const [entry] = await outbox.list();
  assert.equal(entry.state, "pending");
  assert.equal(entry.id, visit(1).id);
  // A connection that fails outright keeps it too.
  sync.io.fetch = () => Promise.reject(new TypeError("fetch failed"));
  assert.equal(await sync.syncNow(), "error");
  assert.equal((await outbox.list()).length, 1);
});

test("a rejected record stays visible with the server's reasons; the others go", async () => {
  for (const n of [1, 2, 3]) await save(visit(n));
  server.reject.set(visit(2).id, { answers: "收入一项未填" });
  assert.equal(await sync.syncNow(), "ok");
  const left = await outbox.list();
  assert.equal(left.length, 1);
  assert.equal(left[0].id, visit(2).id);
  assert.equal(left[0].state, "rejected");
  assert.deepEqual(left[0].errors, { answers: "收入一项未填" });
  assert.equal((await outbox.summary(USER.id)).rejected, 1);
  // It is not sent again blindly.
  const before = server.pushes().length;
  await sync.syncNow();
  assert.equal(server.pushes().length, before);
});

test("a duplicate (already accepted) counts as accepted", async () => {
  await save(visit(1));
  server.accepted.set(visit(1).id, visit(1));
  let answered;
  server.on("POST", "/push", (req) => { answered = req.json.records.length; });
  assert.equal(await sync.syncNow(), "ok");
  assert.equal(answered, 1);
  assert.deepEqual(await outbox.list(), []);
});

test("at most 100 records a request, in order", async () => {
  for (let n = 1; n <= 230; n += 1) await save(visit(n));
  assert.equal(await sync.syncNow(), "ok");
  const pushes = server.pushes();
  assert.deepEqual(pushes.map((p) => p.length), [100, 100, 30]);
  assert.deepEqual(pushes.flat(), Array.from({ length: 230 }, (_, i) => visit(i + 1).id));
  assert.deepEqual(await outbox.list(), []);
});

test("a batch stays under the byte limit", async () => {
  const notes = "x".repeat(600_000); // three of these exceed the 1.5 MB a request carries
  for (let n = 1; n <= 5; n += 1) await save(visit(n, { notes }));
  assert.equal(await sync.syncNow(), "ok");
  assert.deepEqual(server.pushes().map((p) => p.length), [2, 2, 1]);
});

test("a request refused as a whole is retried record by record to find the culprit", async () => {
  for (const n of [1, 2, 3]) await save(visit(n));
  const tooBig = visit(2).id;
  server.on("POST", "/push", (req) => {
    if (req.json.records.some((r) => r.id === tooBig)) {
      return { status: 413, body: { error: { code: "too_large", message: "记录太大" } } };
    }
  });
  assert.equal(await sync.syncNow(), "ok");
  assert.deepEqual(server.pushes(), [[visit(1).id, tooBig, visit(3).id], [visit(1).id], [tooBig], [visit(3).id]]);
  const left = await outbox.list();
  assert.deepEqual(left.map((e) => [e.id, e.state, e.errors]), [[tooBig, "rejected", { record: "记录太大" }]]);
});

test("failures back off: 5 s, 10 s, 20 s … capped at 5 minutes; reset by resetBackoff", async () => {
  await save(visit(1));
  server.on("POST", "/push", () => ({ status: 503, body: { error: { code: "busy", message: "busy" } } }));
  for (let i = 0; i < 9; i += 1) assert.equal(await sync.syncNow(), "error");
  assert.deepEqual(timers, [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  sync.resetBackoff();
  await sync.syncNow();
  assert.equal(timers.at(-1), 5_000);
});

test("answers not about the record (429, csrf) retry later and never reject the record", async () => {
  await save(visit(1));
  server.on("POST", "/push", () => ({ status: 429, body: { error: { code: "rate", message: "请稍后再试" } } }));
  assert.equal(await sync.syncNow(), "error");
  assert.equal((await outbox.list())[0].state, "pending");
  assert.equal(timers.length, 1);
});

test("photos follow their record; the entry leaves once all are stored", async () => {
  const p1 = photo("11111111-1111-4111-8111-111111111111", "first photo");
  const p2 = photo("22222222-2222-4222-8222-222222222222", "second photo");
  const record = visit(1, { photos: [p1, p2].map(({ id, sha256, bytes }) => ({ id, sha256, bytes })) });
  await save(record, { photos: [p1, p2] });
  assert.equal(await sync.syncNow(), "ok");
  const puts = server.requests.filter((r) => r.method === "PUT");
  assert.deepEqual(puts.map((r) => r.path), [`/photos/${p1.id}`, `/photos/${p2.id}`]);
  // The server got the plain bytes (unsealed on the phone just for the upload).
  assert.equal(puts[0].raw.toString(), "first photo");
  assert.equal(puts[0].headers["x-content-sha256"], p1.sha256);
  assert.deepEqual(await outbox.list(), []);
  assert.equal(server.photos.size, 2);
});

test("a photo answered 404 (record unknown to the server) makes the record be pushed again", async () => {
  const p1 = photo("33333333-3333-4333-8333-333333333333");
  const record = visit(1, { photos: [{ id: p1.id, sha256: p1.sha256, bytes: p1.bytes }] });
  await save(record, { photos: [p1] });
  // The server accepts the record, then loses it (a restore from backup) before the photo.
  let lost = false;
  server.on("PUT", `/photos/${p1.id}`, () => {
    if (!lost) { lost = true; server.accepted.clear(); }
  });
  assert.equal(await sync.syncNow(), "ok");
  const sequence = server.requests.filter((r) => r.path !== "/session" && r.path !== "/pull")
    .map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(sequence, ["POST /push", `PUT /photos/${p1.id}`, "POST /push", `PUT /photos/${p1.id}`]);
  assert.deepEqual(await outbox.list(), []);
  assert.ok(server.accepted.has(record.id));
});

test("a photo the server can never take is marked failed and keeps its record visible", async () => {
  const p1 = photo("44444444-4444-4444-8444-444444444444");
  await save(visit(1, { photos: [{ id: p1.id, sha256: p1.sha256, bytes: p1.bytes }] }), { photos: [p1] });
  server.on("PUT", `/photos/${p1.id}`, () => ({ status: 400, body: { error: { code: "image", message: "不是图片" } } }));
  assert.equal(await sync.syncNow(), "ok");
  const [entry] = await outbox.list();
  assert.equal(entry.state, "accepted");
  assert.deepEqual(entry.errors, { photos: "不是图片" });
  const [row] = await outbox.photosOf(entry.id);
  assert.equal(row.state, "failed");
});

test("an expired login keeps the records and hides the user's households until login", async () => {
  await save(visit(1));
  await sync.syncNow(); // the phone now knows its user
  await save(visit(2));
  server.on("GET", "/session", () => ({ status: 401, body: { error: { code: "login_required", message: "请登录" } } }));
  assert.equal(await sync.syncNow(), "login_required");
  assert.deepEqual((await outbox.list()).map((e) => e.id), [visit(2).id]);
  assert.ok(await sync.isLocked(USER.id));
  assert.ok(await getMeta(META.locked(USER.id)));
});

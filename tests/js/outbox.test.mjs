// The outbox: append (sealed, once), in order, removed only with its photos.
import { test, beforeEach, after } from "node:test";
import assert from "node:assert/strict";
import { USER, freshDatabase, js, photo, visit } from "./harness.mjs";

const outbox = await import(js("outbox.js"));
const { tx } = await import(js("db.js"));
const { EVENTS, MESSAGES, CHANNEL } = await import(js("keys.js"));

beforeEach(freshDatabase);
after(() => outbox.channelFor()?.close());

const rawRows = (store) => tx(store, "readonly", (s, p) => p(s[store].getAll()));

test("append keeps records in the order they were made", async () => {
  for (const n of [3, 1, 2]) await outbox.append({ record: visit(n), user: USER, label: `label ${n}` });
  const entries = await outbox.list();
  assert.deepEqual(entries.map((e) => e.id), [visit(3).id, visit(1).id, visit(2).id]);
  assert.ok(entries.every((e) => e.state === "pending" && e.user_id === "7" && e.attempts === 0));
  assert.deepEqual(entries.map((e) => e.household_id), ["h1", "h1", "h1"]);
});

test("the stored record, label and photo bytes are sealed; contents() opens them", async () => {
  const record = visit(1, { notes: "王芳 411302199001011234" });
  const ph = photo("p1", "the photo's bytes");
  await outbox.append({ record, user: USER, label: "王芳家", photos: [ph] });
  const [row] = await rawRows("outbox");
  assert.equal(row.record, undefined);
  assert.equal(row.label, undefined);
  assert.ok(!JSON.stringify(row).includes("411302199001011234"));
  assert.deepEqual(await outbox.contents(row), { record, label: "王芳家" });
  const [photoRow] = await rawRows("photos");
  assert.equal(photoRow.state, "waiting");
  assert.equal(photoRow.record_id, record.id);
  assert.notDeepEqual(new Uint8Array(photoRow.buffer.data), new Uint8Array(ph.buffer));
  assert.deepEqual(new Uint8Array(await outbox.photoBytes(photoRow)), new Uint8Array(ph.buffer));
});

test("saving the same record id twice keeps one entry (a double tap saves once)", async () => {
  const first = await outbox.append({ record: visit(1), user: USER });
  const second = await outbox.append({ record: visit(1, { notes: "again" }), user: USER });
  assert.equal(second.id, first.id);
  assert.equal((await outbox.list()).length, 1);
  assert.equal((await outbox.contents((await outbox.list())[0])).record.notes, "");
});

test("remove takes the entry and its photos, nothing else", async () => {
  await outbox.append({ record: visit(1), user: USER, photos: [photo("p1"), photo("p2")] });
  await outbox.append({ record: visit(2), user: USER, photos: [photo("p3")] });
  await outbox.remove(visit(1).id);
  assert.deepEqual((await outbox.list()).map((e) => e.id), [visit(2).id]);
  assert.deepEqual((await rawRows("photos")).map((p) => p.id), ["p3"]);
});

test("summary counts this user's pending, accepted and rejected records and waiting photos", async () => {
  await outbox.append({ record: visit(1), user: USER, photos: [photo("p1", "12345")] });
  await outbox.append({ record: visit(2), user: USER });
  await outbox.append({ record: visit(3), user: { id: 8, username: "other" } });
  const [a, b] = await outbox.list();
  await outbox.update({ ...a, state: "accepted" });
  await outbox.update({ ...b, state: "rejected", errors: { answers: "不完整" } });
  const sum = await outbox.summary(7);
  assert.deepEqual(sum, { records: 0, accepted: 1, rejected: 1, photos: 1, photoBytes: 5,
                          total: 3, otherUsers: 1 });
  assert.equal((await outbox.summary()).records, 1);
});

test("every change is announced on the channel the pages and the worker listen to", async () => {
  const listener = new BroadcastChannel(CHANNEL);
  const heard = new Promise((resolve) => { listener.onmessage = (e) => resolve(e.data); });
  await outbox.append({ record: visit(1), user: USER });
  assert.deepEqual(await heard, { type: MESSAGES.outboxChanged });
  listener.close();
  assert.equal(EVENTS.outbox, "fieldwork:outbox");
});

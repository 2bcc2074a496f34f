// db.tx: one transaction, committed whole or not at all.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { freshDatabase, js } from "./harness.mjs";

const { tx, getMeta, setMeta } = await import(js("db.js"));

beforeEach(freshDatabase);

test("tx resolves with the callback's result once committed", async () => {
  const result = await tx("meta", "readwrite", (s, p) => {
    s.meta.put({ key: "a", value: 1 });
    return p(s.meta.put({ key: "b", value: 2 })).then(() => "done");
  });
  assert.equal(result, "done");
  assert.equal(await getMeta("a"), 1);
  assert.equal(await getMeta("b"), 2);
});

test("tx aborts, writing nothing, when the callback throws after writing", async () => {
  await setMeta("kept", "before");
  const boom = new Error("boom");
  await assert.rejects(tx("meta", "readwrite", (s) => {
    s.meta.put({ key: "partial", value: 1 });
    s.meta.put({ key: "kept", value: "overwritten" });
    throw boom;
  }), (err) => err === boom);
  assert.equal(await getMeta("partial"), null);
  assert.equal(await getMeta("kept"), "before");
});

test("tx aborts when the callback rejects after awaiting its own requests", async () => {
  await assert.rejects(tx(["meta", "households"], "readwrite", async (s, p) => {
    await p(s.meta.put({ key: "first", value: 1 }));
    s.households.put({ user_id: "7", id: "h1" });
    await p(s.meta.get("first"));
    throw new Error("late failure");
  }), /late failure/);
  assert.equal(await getMeta("first"), null);
  const households = await tx("households", "readonly", (s, p) => p(s.households.getAll()));
  assert.deepEqual(households, []);
});

test("a failed request aborts the whole transaction", async () => {
  // The outbox's id index is unique: the second add fails, and the first must not stay.
  await assert.rejects(tx("outbox", "readwrite", async (s, p) => {
    s.outbox.add({ id: "r1", user_id: "7" });
    await p(s.outbox.add({ id: "r1", user_id: "7" }));
  }));
  assert.deepEqual(await tx("outbox", "readonly", (s, p) => p(s.outbox.getAll())), []);
});

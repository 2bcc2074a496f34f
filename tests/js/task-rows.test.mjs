// task-rows.js: the phone's 帮扶人任务清单 as data, the same rules as the printed list
// (fieldwork/supervision/tasks.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { js } from "./harness.mjs";

const { followUp, monthOf, tally, taskRows } = await import(js("task-rows.js"));

test("a measure starting or ending in the month is to follow up, others not", () => {
  assert.equal(followUp({ start_date: "2026-12-01", end_date: null }, 202612), "starts");
  assert.equal(followUp({ start_date: "2026-12-15", end_date: "2026-12-31" }, 202612), "starts");
  assert.equal(followUp({ start_date: "2025-01-01", end_date: "2026-12-31" }, 202612), "ends");
  assert.equal(followUp({ start_date: "2025-01-01", end_date: "2027-01-31" }, 202612), "");
  assert.equal(followUp({ start_date: "2025-12-01", end_date: null }, 202612), "");
  // No pull yet, no month: nothing is marked.
  assert.equal(followUp({ start_date: "2026-12-01" }, null), "");
});

test("rows go overdue, due, visited, then by the head's name in code point order, then id", () => {
  const h = (id, head_name, visit_state, measures = []) => ({ id: String(id), head_name, visit_state, measures });
  const rows = taskRows([h(1, "甲一", "visited"), h(2, "乙二", "due"), h(3, "丙三", "overdue"),
    h(4, "丁四", "due"), h(5, "丁四", "due")], 202612);
  assert.deepEqual(rows.map((r) => r.household.id), ["3", "4", "5", "2", "1"]);
  assert.deepEqual(tally(rows), { overdue: 1, due: 3, visited: 1 });
});

test("each row's measures carry their follow-up reason", () => {
  const [row] = taskRows([{ id: "1", head_name: "甲", visit_state: "due", measures: [
    { name: "低保", start_date: "2025-01-01", end_date: null },
    { name: "教育救助", start_date: "2026-12-01", end_date: null }] }], 202612);
  assert.deepEqual(row.measures.map((m) => [m.name, m.follow_up]), [["低保", ""], ["教育救助", "starts"]]);
});

test("the month of a pull is taken in Nanyang time", () => {
  assert.equal(monthOf("2026-11-30T16:30:00Z"), 202612);  // 00:30 on 1 December in Nanyang
  assert.equal(monthOf("2026-11-30T15:30:00Z"), 202611);
  assert.equal(monthOf(null), null);
});

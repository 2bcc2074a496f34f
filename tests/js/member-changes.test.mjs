// member-changes.js: what the visit form sends as answers.member_changes, and how a member
// reads on the household page and the visit form.
import { test } from "node:test";
import assert from "node:assert/strict";
import { js } from "./harness.mjs";

const { entryOf, memberLine } = await import(js("member-changes.js"));

test("an entry keeps typed values trimmed, leaves blanks out and sends the member id as a number", () => {
  assert.deepEqual(entryOf("death", { member_id: "12", date: " 2026-11-20 " }),
    { kind: "death", member_id: 12, date: "2026-11-20" });
  assert.deepEqual(entryOf("move_in", { name: " 张桂兰 ", relation: "parent", birth_date: "1950-02-03", gender: "", date: "", note: "  " }),
    { kind: "move_in", name: "张桂兰", relation: "parent", birth_date: "1950-02-03" });
  // Not a row id: sent as typed, for the server to refuse with its message.
  assert.deepEqual(entryOf("move_out", { member_id: "x1" }), { kind: "move_out", member_id: "x1" });
});

test("a member reads as sex and age, then health, schooling (boarding) and work, and the flags", () => {
  const line = memberLine({ name: "王小明", gender: "男", age: 13, health: "", disability: "",
    schooling: "初中", boarding: true, employment: "", flags: [] });
  assert.deepEqual(line, { who: "男 · 13岁", facts: ["初中（寄宿）"], flags: [] });
  const head = memberLine({ gender: "女", age: null, health: "慢性病", disability: "肢体残疾2级",
    schooling: "", boarding: false, employment: "灵活就业", flags: [{ code: "screening", label: "两癌筛查对象" }] });
  assert.deepEqual(head, { who: "女", facts: ["慢性病", "肢体残疾2级", "灵活就业"], flags: ["两癌筛查对象"] });
});

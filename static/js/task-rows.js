// The helper's task list (帮扶人任务清单) as data: which pulled households, in which order,
// with which measures to follow up. The same rules as the printed list
// (fieldwork/supervision/tasks.py); static/js/pages/tasks.js draws it. No imports: node tests
// it as it is (tests/js/task-rows.test.mjs).

/** The month (202612) of an instant, in Nanyang time: the month the pulled visit states are about. */
export function monthOf(iso) {
  if (!iso) return null;
  const parts = new Intl.DateTimeFormat("en", { timeZone: "Asia/Shanghai", year: "numeric", month: "numeric" })
    .formatToParts(new Date(iso));
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return get("year") * 100 + get("month");
}

const monthOfDay = (day) => (day ? Number(day.slice(0, 4)) * 100 + Number(day.slice(5, 7)) : null);

/** Why a measure in force is followed up in the month: "starts" (new this month: check it
 * reaches the household), "ends" (tell the household it stops), or "". */
export function followUp(measure, month) {
  if (month && monthOfDay(measure.start_date) === month) return "starts";
  if (month && measure.end_date && monthOfDay(measure.end_date) === month) return "ends";
  return "";
}

export const STATE_ORDER = { overdue: 0, due: 1, visited: 2 };

/** The list's rows: overdue first, then to visit, then visited; within each by the head's
 * name (code point order, as the server sorts) and the id. */
export function taskRows(households, month) {
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return households
    .map((household) => ({
      household,
      measures: (household.measures || []).map((m) => ({ ...m, follow_up: followUp(m, month) })),
    }))
    .sort((a, b) => ((STATE_ORDER[a.household.visit_state] ?? 9) - (STATE_ORDER[b.household.visit_state] ?? 9))
      || cmp(a.household.head_name || "", b.household.head_name || "")
      || (Number(a.household.id) - Number(b.household.id)));
}

/** How many rows are in each state. */
export function tally(rows) {
  const out = { overdue: 0, due: 0, visited: 0 };
  for (const r of rows) if (r.household.visit_state in out) out[r.household.visit_state] += 1;
  return out;
}

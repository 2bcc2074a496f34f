// "帮扶人任务清单": the helper's households with this month's duty, the open problems of the
// last visit and the plan measures to follow up, drawn from the phone's copy of the households
// (online and offline alike); the printed list is /print/helpers/<id>/tasks.
import { META } from "../keys.js";
import { getMeta } from "../db.js";
import { monthOf, tally, taskRows } from "../task-rows.js";
import {
  DIM_SHORT, STATE_CHIP, STATE_LABEL, el, fmtDate, householdsOf, monthLabel, offlineNote,
  pendingVisits, t,
} from "./common.js";

function measureLine(m, dims) {
  const why = m.follow_up === "starts" ? t("本月起，请核实是否落实")
    : m.follow_up === "ends" ? t("{date} 到期，请告知帮扶户", { date: m.end_date }) : "";
  return el("li", { "data-follow-up": m.follow_up || null },
    el("span", { class: "chip", text: dims[m.area] || m.area || "" }), " ",
    m.follow_up ? el("strong", { text: `★${m.name}` }) : m.name,
    why ? el("small", { class: "muted", text: ` · ${why}` }) : null);
}

function item({ household: h, measures }, local) {
  const states = STATE_LABEL();
  const dims = DIM_SHORT();
  const duty = h.visits_required != null
    ? t("本月已走访 {done} / {required} 次", { done: h.visits_this_month ?? 0, required: h.visits_required }) : "";
  return el("li", { class: `list-item state-${h.visit_state}`, "data-task": h.id, "data-state": h.visit_state },
    el("a", { class: "list-link", href: `/households/${h.id}` },
      el("span", { class: "list-title" }, h.head_name, " ", el("small", { class: "muted mono", text: h.file_no || t("未建档") })),
      el("span", { class: "list-sub", text: [h.address, h.region?.name, h.phone_mask].filter(Boolean).join(" · ") }),
      el("span", { class: "list-meta" },
        el("span", { class: `chip ${STATE_CHIP[h.visit_state] || ""}`, text: states[h.visit_state] || "" }),
        local ? el("span", { class: "chip chip-ok", "data-pending": "1", text: t("已保存在本机，待上传") }) : null,
        duty ? el("span", { class: "muted", "data-duty": "1", text: duty }) : null,
        el("span", { class: "muted", text: t("上次走访：{date}", { date: h.last_visit_at ? fmtDate(h.last_visit_at) : t("无") }) })),
      h.open_problems?.length
        ? el("span", { class: "list-meta" }, el("span", { class: "chip chip-warn", "data-problems": "1",
          text: t("待解决：{items}", { items: h.open_problems.map((d) => dims[d] || d).join(t("、")) }) })) : null),
    measures.length
      ? el("ul", { class: "plain task-measures", "aria-label": t("帮扶措施") }, measures.map((m) => measureLine(m, dims)))
      : el("p", { class: "muted", text: t("暂无帮扶措施") }));
}

export async function render(root, user) {
  const [households, pending, pulledAt] = await Promise.all([
    householdsOf(user.id), pendingVisits(user.id), getMeta(META.pulledAt(user.id))]);
  const month = monthOf(pulledAt);
  const rows = taskRows(households, month);
  const n = tally(rows);
  const followUps = rows.reduce((sum, r) => sum + r.measures.filter((m) => m.follow_up).length, 0);
  root.replaceChildren(...[
    offlineNote(),
    el("section", { class: "page-head" },
      el("h1", { text: t("帮扶人任务清单") }),
      el("p", { class: "progress-line", "data-testid": "tasks-summary",
        text: t("{month}：共 {total} 户，逾期 {overdue} 户，待走访 {due} 户，已走访 {visited} 户", {
          month: monthLabel(month), total: rows.length, overdue: n.overdue, due: n.due, visited: n.visited }) }),
      followUps ? el("p", { class: "muted", text: t("★ 本月开始或到期的帮扶措施 {n} 项，入户时请跟进", { n: followUps }) }) : null),
    el("nav", { class: "button-row no-print", "aria-label": t("任务清单的操作") },
      el("a", { class: "btn btn-small", href: "/households/mine", text: t("我的帮扶户") }),
      navigator.onLine ? el("a", { class: "btn btn-small", href: `/print/helpers/${user.id}/tasks`, "data-print-tasks": "1", text: t("打印任务清单") }) : null),
    rows.length
      ? el("ol", { class: "list", id: "task-list", "aria-label": t("帮扶人任务清单") }, rows.map((r) => item(r, pending.get(r.household.id))))
      : el("p", { class: "empty", text: t("目前没有分配给您的帮扶户") }),
  ].filter(Boolean));
}

// "我的帮扶户": the helper's list, drawn from the phone's copy of the households and the
// outbox, online and offline alike (the server only serves the shell and the sync API).
import { META } from "../keys.js";
import { getMeta } from "../db.js";
import { monthOf } from "../task-rows.js";
import {
  DIM_SHORT, STATE_CHIP, STATE_LABEL, el, fmtDate, householdsOf, monthLabel, offlineNote,
  pendingVisits, t,
} from "./common.js";


const STATE_ORDER = { overdue: 0, due: 1, visited: 2 };
const EARTH_RADIUS_M = 6371008.8;
const MAX_QUERY = 50;

/** Metres between two WGS-84 points (haversine; within 0.5 % of the server's geodesic). */
export function distanceM(a, b) {
  const rad = (d) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Households whose head's name or address contains q (as the server's `q` did). */
export function search(households, q) {
  const needle = String(q || "").trim().slice(0, MAX_QUERY).toLowerCase();
  if (!needle) return households;
  return households.filter((h) => (h.head_name || "").toLowerCase().includes(needle)
    || (h.address || "").toLowerCase().includes(needle));
}

/** The list's one order: overdue, due, visited; then nearest first when the phone shared its
 * position (households without a reference point last); then the head's name by code point. */
export function order(rows) {
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  return rows.sort((a, b) => (STATE_ORDER[a.household.visit_state] - STATE_ORDER[b.household.visit_state])
    || ((a.distance ?? Infinity) - (b.distance ?? Infinity)) || cmp(a.household.head_name, b.household.head_name));
}

function distanceText(d) {
  return t("约 {d}", { d: d < 1000 ? `${Math.trunc(d)} m` : `${(d / 1000).toFixed(1)} km` });
}

function item({ household: h, distance }, local) {
  const states = STATE_LABEL();
  const dims = DIM_SHORT();
  return el("li", { class: `list-item state-${local ? "visited" : h.visit_state}`, "data-household": h.id },
    el("a", { class: "list-link", href: `/households/${h.id}` },
      el("span", { class: "list-title" }, h.head_name, " ", el("small", { class: "muted", text: t("{n}人", { n: h.members_count }) }),
        distance != null ? el("small", { class: "muted", "data-distance": "1", text: ` · ${distanceText(distance)}` }) : null),
      el("span", { class: "list-sub", text: h.address }),
      el("span", { class: "list-meta" },
        local ? el("span", { class: "chip chip-ok", "data-pending": "1", text: t("已保存在本机，待上传") })
              : el("span", { class: `chip ${STATE_CHIP[h.visit_state]}`, text: states[h.visit_state] }),
        el("span", { class: "muted", text: `${t("上次走访")}：${h.last_visit_at ? fmtDate(h.last_visit_at) : t("无")}` }),
        h.open_problems?.length
          ? el("span", { class: "chip chip-warn", text: `${t("待解决")}：${h.open_problems.map((d) => dims[d] || d).join("、")}` }) : null)));
}

// What the user typed and where they stood survive the background re-render.
const view = { q: "", here: null };

export async function render(root, user) {
  const [households, pending, pulledAt] = await Promise.all([
    householdsOf(user.id), pendingVisits(user.id), getMeta(META.pulledAt(user.id))]);
  const done = households.filter((h) => h.visit_state === "visited" || pending.has(h.id)).length;
  const listBox = el("div", { id: "household-list", "aria-live": "polite" });
  const drawList = () => {
    const rows = order(search(households, view.q).map((household) => ({
      household,
      distance: view.here && household.location ? distanceM(view.here, household.location) : null,
    })));
    listBox.replaceChildren(rows.length
      ? el("ul", { class: "list", "aria-label": t("帮扶户列表") }, rows.map((r) => item(r, pending.get(r.household.id))))
      : el("p", { class: "empty", text: view.q.trim()
        ? t("没有找到与“{q}”相符的帮扶户", { q: view.q.trim() }) : t("目前没有分配给您的帮扶户") }));
  };
  const input = el("input", { id: "q", name: "q", type: "search", placeholder: t("按姓名或地址搜索"), autocomplete: "off" });
  input.value = view.q;
  input.addEventListener("input", () => { view.q = input.value; drawList(); });
  const nearby = el("button", { type: "button", class: "btn btn-quiet btn-small", "data-action": "nearby", text: t("按距离排序") });
  nearby.addEventListener("click", async () => {
    const { quickPosition } = await import("../geo.js");
    nearby.disabled = true;
    const pos = await quickPosition();
    nearby.disabled = false;
    if (!pos) { nearby.textContent = t("无法定位"); return; }
    view.here = { lat: pos.lat, lon: pos.lon };
    drawList();
  });
  const form = el("form", { class: "search", role: "search", id: "household-search" },
    el("label", { for: "q", class: "visually-hidden", text: t("按姓名或地址搜索") }), input, nearby);
  form.addEventListener("submit", (e) => { e.preventDefault(); drawList(); });
  drawList();
  const focused = document.activeElement?.id === "q";
  root.replaceChildren(...[
    offlineNote(),
    el("section", { class: "page-head" },
      el("h1", { text: t("我的帮扶户") }),
      el("p", { class: "progress-line", "data-testid": "my-progress",
        text: t("{month}：已走访 {done} / {total} 户", { month: monthLabel(monthOf(pulledAt)), done, total: households.length }) }),
      el("progress", { max: households.length || 1, value: done, "aria-label": t("本月走访进度") }),
      el("p", {}, el("a", { class: "btn btn-small", href: "/households/mine/tasks", "data-testid": "tasks-link", text: t("帮扶人任务清单") }))),
    form, listBox].filter(Boolean));
  if (focused) input.focus();
}

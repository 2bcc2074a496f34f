// The household file as the helper sees it (office roles keep the server's page).
import {
  DIM_SHORT, STATE_CHIP, STATE_LABEL, el, fmtTime, householdOf, notCached, offlineNote,
  pendingVisits, t,
} from "./common.js";
import { memberLine } from "../member-changes.js";

const dash = (v) => (v == null || v === "" ? "—" : v);

function facts(h) {
  return el("dl", { class: "facts" },
    el("dt", { text: t("联系电话") }), el("dd", { class: "mono", text: dash(h.phone_mask) }),
    el("dt", { text: t("住址") }), el("dd", { text: h.address }),
    el("dt", { text: t("所在社区") }), el("dd", { text: h.region?.name || "" }),
    el("dt", { text: t("致困原因") }), el("dd", { text: (h.causes || []).join("、") }),
    el("dt", { text: t("家庭人口") }), el("dd", { text: `${h.members_count} ${t("人")}` }),
    el("dt", { text: t("人均月收入") }), el("dd", { text: `${dash(h.per_capita_income)} ${t("元")}` }));
}

function members(h) {
  const rows = (h.members || []).map((m) => {
    const line = memberLine(m);
    return el("tr", { "data-member-id": m.id },
      el("td", {}, el("strong", { text: m.name }), el("br"), el("small", { class: "muted", text: m.relation })),
      el("td", { text: line.who || "—" }),
      el("td", {}, line.facts.join("、") || el("span", { class: "muted", text: "—" }),
        line.flags.map((f) => [" ", el("span", { class: "chip", text: f })])));
  });
  return el("table", { class: "table compact", "data-members": "1" },
    el("thead", {}, el("tr", {}, [t("姓名/关系"), t("性别/年龄"), t("健康、就学、就业")].map((c) => el("th", { scope: "col", text: c })))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 3, class: "muted", text: t("暂无成员信息") }))));
}

function pendingMembers(h) {
  if (!h.pending_member_changes?.length) return null;
  return el("div", { "data-pending-members": "1" },
    el("h3", { text: t("待街道确认的成员变化") }),
    el("ul", { class: "plain" }, h.pending_member_changes.map((c) => el("li", {},
      el("span", { class: "chip chip-warn", text: t("待确认") }), " ",
      `${c.label}${c.reason ? `（${c.reason}）` : ""}：${c.name}${c.date ? ` · ${c.date}` : ""}`))));
}

function measures(h) {
  const dims = DIM_SHORT();
  if (!h.measures?.length) return el("p", { class: "muted", text: t("暂无帮扶措施") });
  return el("ul", { class: "plain" }, h.measures.map((m) => el("li", {},
    el("span", { class: "chip", text: dims[m.area] || m.area }), " ", m.name,
    m.amount ? `（${Math.round(m.amount)} ${m.unit || ""}）` : "", " ",
    el("small", { class: "muted", text: `${m.department || ""} · ${t("自")} ${m.start_date || ""}` }))));
}

function helpers(h) {
  const items = (h.assignments || []).map((a) => el("li", {},
    `${a.helper_name} · ${a.start_date} — ${a.end_date || t("至今")}`,
    a.reason ? el("small", { class: "muted", text: ` （${a.reason}）` }) : null));
  return el("ul", { class: "plain" }, items.length ? items : el("li", { class: "muted", text: t("尚未指定帮扶责任人") }));
}

function reference(h) {
  const out = [];
  const r = h.reference;
  out.push(r
    ? el("p", {}, `${r.lat.toFixed(6)}, ${r.lon.toFixed(6)} `, el("small", { class: "muted" },
      `WGS-84 · ${r.source}`, r.source_crs && r.source_crs !== "wgs84" ? t("（由 {crs} 转换）", { crs: r.source_crs.toUpperCase() }) : ""))
    : el("p", { class: "muted", text: t("尚无参考位置") }));
  if (h.proposed_location) {
    out.push(el("p", { text: `${t("建议位置（来自走访定位）")}：${h.proposed_location.lat.toFixed(6)}, ${h.proposed_location.lon.toFixed(6)}` }));
  }
  return out;
}

function visits(h) {
  if (!h.recent_visits?.length) return el("p", { class: "muted", text: t("还没有走访记录") });
  return el("ul", { class: "list" }, h.recent_visits.map((v) => el("li", { class: "list-item" },
    el("a", { class: "list-link", href: `/visits/${v.id}` },
      el("span", { class: "list-title", text: `${fmtTime(v.visited_at)} · ${v.helper_name}` }),
      el("span", { class: "list-meta" },
        v.distance_m != null ? el("span", { class: "muted", text: t("距离 {d} 米", { d: v.distance_m }) }) : null,
        v.review_status === "rejected" ? el("span", { class: "chip chip-bad", text: t("审核未通过") }) : null,
        v.superseded ? el("span", { class: "chip", text: t("已更正") }) : null,
        (v.flags || []).map((f) => el("span", { class: "chip chip-warn", text: f.label }))),
      v.photo_ids?.length && navigator.onLine ? el("span", { class: "thumbs" }, v.photo_ids.map((id) => el("img", {
        src: `/photos/${id}/thumb.jpg`, alt: t("走访照片"), width: 72, height: 72, loading: "lazy" }))) : null))));
}

export async function render(root, user, id) {
  const h = await householdOf(user.id, id);
  if (!h) return notCached(root);
  const pending = (await pendingVisits(user.id)).get(String(id));
  const states = STATE_LABEL();
  root.replaceChildren(...[
    offlineNote(),
    el("section", { class: "page-head" },
      el("h1", {}, h.head_name, " ", el("small", { class: "muted", text: h.file_no || t("未建档") })),
      el("p", { class: "list-meta" },
        pending ? el("span", { class: "chip chip-ok", "data-pending": "1", text: t("本次走访已保存在本机，待上传") })
          : h.status === "enrolled" ? el("span", { class: `chip ${STATE_CHIP[h.visit_state]}`, text: states[h.visit_state] }) : null,
        h.status_label ? el("span", { class: "chip", text: h.status_label }) : null,
        el("span", { class: "chip", text: h.category_label || "" })),
      el("a", { class: "btn btn-primary btn-big", href: `/households/${h.id}/visits/new`, "data-testid": "record-visit", text: t("登记本次走访") })),
    el("nav", { class: "card button-row no-print", "aria-label": t("该户的操作") },
      el("a", { class: "btn btn-small", href: `/print/households/${h.id}/card`, "data-print-card": "1", text: t("打印明白卡") })),
    el("section", { class: "card" }, el("h2", { text: t("家庭档案") }), facts(h)),
    el("section", { class: "card" }, el("h2", { text: t("家庭成员") }), members(h), pendingMembers(h)),
    el("section", { class: "card" }, el("h2", { text: t("在落实的帮扶措施") }), measures(h)),
    el("section", { class: "card" }, el("h2", { text: t("帮扶责任人") }), helpers(h)),
    el("section", { class: "card" }, el("h2", { text: t("参考位置") }), ...reference(h)),
    el("section", { class: "card" }, el("h2", { text: t("最近走访") }), visits(h)),
  ].filter(Boolean));
}

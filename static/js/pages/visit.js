// The visit form (入户调查表), incl. `?fix=<entry>`: re-editing a record the server rejected.
import { META } from "../keys.js";
import { getMeta } from "../db.js";
import { renderField } from "../schema-form.js";
import { el, householdOf, notCached, offlineNote, t } from "./common.js";
import { memberChangesSection, memberLine } from "../member-changes.js";

/** The household's current members, as the helper checks them on the visit. */
function membersCard(h) {
  const list = (h.members || []).map((m) => {
    const line = memberLine(m);
    return el("li", { "data-member-id": m.id },
      el("strong", { text: m.name }), ` ${m.relation}`, line.who ? ` · ${line.who}` : "",
      line.facts.length ? el("small", { class: "muted", text: ` · ${line.facts.join("、")}` }) : null);
  });
  return el("section", { class: "card", "data-visit-members": "1" },
    el("h2", { text: t("家庭成员（{n} 人）", { n: h.members_count }) }),
    el("ul", { class: "plain" }, list.length ? list : el("li", { class: "muted", text: t("暂无成员信息") })));
}

/** The visit form's DOM, from the form schema of the last pull. */
export function buildVisitForm(h, schema, settings = {}) {
  const form = el("form", { class: "visit-form", id: "visit-form", novalidate: true, "data-household-id": h.id,
    "data-members": h.members_count, "data-form-version": schema.version });
  form.append(el("div", { "data-form-errors": "1", role: "alert" }));
  form.append(el("section", { class: "card gps", "aria-live": "polite", "data-gps": "1" },
    el("h2", { text: t("定位签到") }),
    el("p", { class: "gps-status", "data-gps-status": "1", "data-state": "idle", text: t("打开本页时会自动定位；定位失败也可以保存，记录会被标注") }),
    ...["lat", "lon", "accuracy_m", "location_captured_at"].map((n) => el("input", { type: "hidden", name: n })),
    el("button", { type: "button", class: "btn btn-small", "data-action": "locate", text: t("重新定位") })));
  const basic = el("section", { class: "card" },
    el("div", { class: "field" }, el("label", { for: "f-visited-at", text: t("走访时间") }),
      el("input", { id: "f-visited-at", name: "visited_at_local", type: "datetime-local" }),
      el("input", { type: "hidden", name: "visited_at" })));
  for (const f of schema.fields.filter((x) => x.group === "basic")) basic.append(renderField(f));
  form.append(basic);
  for (const g of schema.groups.filter((x) => x.name !== "basic")) {
    const section = el("section", { class: "card" }, el("h2", { text: g.label }));
    for (const f of schema.fields.filter((x) => x.group === g.name)) {
      section.append(renderField(f));
      if (f.name === "household_income") {
        section.append(el("p", { class: "computed", "data-per-capita": "1", "aria-live": "polite" },
          `${t("人均月收入")}：`, el("output", { name: "per_capita", text: "—" }), ` ${t("元（{n} 人）", { n: h.members_count })}`));
      }
    }
    form.append(section);
  }
  if (schema.member_changes) {
    form.append(membersCard(h), memberChangesSection(schema.member_changes, h.members || []));
  }
  const captions = [["household", t("家庭成员")], ["document", t("证件材料")], ["living", t("居住条件")], ["other", t("其他")]];
  const caption = el("select", { name: "photo_caption", class: "visually-hidden", "aria-hidden": "true", tabindex: "-1", "data-caption-template": "1" },
    ...captions.map(([v, label]) => el("option", { value: v, text: label })));
  form.append(el("section", { class: "card" },
    el("h2", { text: t("照片") }),
    el("div", { class: "field" },
      el("label", { for: "f-photo", class: "btn btn-block", text: t("拍照或选择照片") }),
      el("input", { id: "f-photo", class: "visually-hidden", type: "file", name: "photo", accept: "image/*", capture: "environment", multiple: true, "data-max-px": settings.max_photo_px || 1600 }),
      el("ul", { class: "photo-previews", "data-photo-previews": "1" }), caption),
    el("div", { class: "field" }, el("label", { for: "f-notes", text: t("备注") }),
      el("textarea", { id: "f-notes", name: "notes", maxlength: 2000, rows: 2 }))));
  form.append(el("div", { class: "sticky-actions" },
    el("button", { class: "btn btn-primary btn-big", type: "submit", "data-testid": "save-visit", text: t("保存走访记录") })));
  return form;
}

export async function render(root, user, id) {
  const h = await householdOf(user.id, id);
  const forms = await getMeta(META.forms(user.id));
  const settings = await getMeta(META.settings(user.id), {});
  if (!h || !forms?.visit) return notCached(root);
  const schema = structuredClone(forms.visit);
  for (const f of schema.fields) {
    if (f.options_from === "household.measures") f.options = (h.measures || []).map((m) => ({ value: m.id, label: m.name }));
  }
  const form = buildVisitForm(h, schema, settings);
  root.replaceChildren(...[offlineNote(), el("section", { class: "page-head" },
    el("h1", { text: t("入户调查表") }),
    el("p", { class: "muted" }, el("a", { href: `/households/${h.id}`, text: h.head_name }), ` · ${h.address}`)), form].filter(Boolean));
  const { initVisitForm } = await import("../visit-form.js");
  initVisitForm(form, { household: h, schema, user });
}

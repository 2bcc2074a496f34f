// 家庭成员变化 on the visit form: the helper reports a birth, a death, a move out or a move in;
// the record carries them as answers.member_changes (fieldwork/visits/form.py: the shape and
// its labels come with the pull as forms.visit.member_changes), and the street office confirms
// each one before the file changes. No ID number is typed on the phone.
// The pure parts (entryOf, memberLine) have unit tests in tests/js/member-changes.test.mjs.
import { t } from "./i18n.js";
import { el } from "./schema-form.js";

/** One entry as the server validates it, from the typed values (strings) of its fields:
 * trimmed, blanks left out, the member id a number. */
export function entryOf(kind, values) {
  const entry = { kind };
  for (const [name, raw] of Object.entries(values)) {
    const v = typeof raw === "string" ? raw.trim() : raw;
    if (v === "" || v == null) continue;
    entry[name] = name === "member_id" && /^\d+$/.test(String(v)) ? Number(v) : v;
  }
  return entry;
}

/** "女 · 34岁" and the member's situation as short labels (household page, visit form). */
export function memberLine(m) {
  const who = [m.gender, m.age != null ? t("{n}岁", { n: m.age }) : ""].filter(Boolean).join(" · ");
  const facts = [m.health, m.disability,
    m.schooling ? (m.boarding ? t("{stage}（寄宿）", { stage: m.schooling }) : m.schooling) : "",
    m.employment].filter(Boolean);
  return { who, facts, flags: (m.flags || []).map((f) => f.label) };
}

const today = () => {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};

function control(f, id, members) {
  const common = { id, "data-mc": f.name, required: Boolean(f.required) };
  if (f.type === "member") {
    return el("select", common, el("option", { value: "", text: t("请选择成员") }),
      members.map((m) => el("option", { value: m.id, text: `${m.name}（${m.relation}）` })));
  }
  if (f.type === "choice") {
    return el("select", common, el("option", { value: "", text: t("请选择") }),
      f.options.map((o) => el("option", { value: o.value, text: o.label })));
  }
  if (f.type === "date") return el("input", { ...common, type: "date", max: today() });
  return el("input", { ...common, type: "text", maxlength: f.max_length, autocomplete: "off" });
}

function renumber(list) {
  [...list.children].forEach((item, i) => {
    item.dataset.index = i;
    for (const wrap of item.querySelectorAll("[data-mc-field]")) {
      wrap.dataset.field = `member_changes[${i}].${wrap.dataset.mcField}`;
    }
    item.dataset.field = `member_changes[${i}].kind`;
  });
}

let seq = 0;

/** The "家庭成员变化" section: the household's members and the changes added so far. */
export function memberChangesSection(spec, members) {
  const list = el("ol", { class: "plain member-changes", "data-member-changes": "1" });
  const kinds = Object.fromEntries(spec.kinds.map((k) => [k.value, k]));
  const add = (kind, values = {}) => {
    const k = kinds[kind];
    if (!k || list.children.length >= (spec.max_items || 10)) return null;
    const item = el("li", { class: "card member-change", "data-kind": kind },
      el("h3", { text: k.label }));
    for (const f of k.fields) {
      const id = `mc-${++seq}-${f.name}`;
      const input = control(f, id, members);
      if (values[f.name] != null) input.value = String(values[f.name]);
      item.append(el("div", { class: "field", "data-mc-field": f.name },
        el("label", { for: id }, f.label, f.required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null),
        input, f.hint ? el("p", { class: "muted small", text: f.hint }) : null));
    }
    const remove = el("button", { type: "button", class: "btn btn-small", text: t("删除这一项") });
    remove.addEventListener("click", () => { item.remove(); renumber(list); });
    item.append(remove);
    list.append(item);
    renumber(list);
    return item;
  };
  const buttons = el("div", { class: "button-row" }, spec.kinds.map((k) => {
    const b = el("button", { type: "button", class: "btn btn-small", "data-add-change": k.value, text: `+ ${k.label}` });
    b.addEventListener("click", () => add(k.value)?.querySelector("input, select")?.focus());
    return b;
  }));
  const section = el("section", { class: "card", "data-field": "member_changes" },
    el("h2", { text: spec.label }),
    el("p", { class: "muted small", text: spec.hint || "" }),
    list, buttons);
  section.addChange = add;
  return section;
}

/** The entries of the section, in order (empty when none was added). */
export function collectMemberChanges(form) {
  return [...form.querySelectorAll("[data-member-changes] > li")].map((item) => entryOf(item.dataset.kind,
    Object.fromEntries([...item.querySelectorAll("[data-mc]")].map((input) => [input.dataset.mc, input.value]))));
}

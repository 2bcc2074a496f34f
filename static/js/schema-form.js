// Renders fields of a form schema (fieldwork/visits/form.py, fieldwork/discovery/form.py)
// for the forms drawn on the phone (pages/visit.js, discovery-form.js).

import { t } from "./i18n.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c != null) node.append(c);
  return node;
}
export { el };

export function renderField(f, value, error) {
  const wrap = el("div", { class: `field field-${f.type}${error ? " has-error" : ""}`, "data-field": f.name });
  if (f.required_unless) wrap.dataset.requiredUnless = `${f.required_unless.field}:${f.required_unless.value}`;
  const invalid = error ? { "aria-invalid": "true", "aria-describedby": `${f.name}-err` } : {};
  const req = f.required ? [" ", el("span", { class: "req", "aria-hidden": "true", text: "*" })] : [];
  if (f.type === "choice") {
    const fs = el("fieldset", { class: "segmented", ...invalid }, el("legend", {}, f.label, ...req));
    for (const o of f.options) {
      fs.append(el("label", { class: `seg seg-${o.value}` },
        el("input", { type: "radio", name: f.name, value: o.value, checked: value === o.value, required: f.required }),
        el("span", { text: o.label })));
    }
    wrap.append(fs);
  } else if (f.type === "multichoice") {
    const fs = el("fieldset", invalid, el("legend", { text: f.label }));
    const chosen = new Set((value || []).map(String));
    for (const o of f.options || []) {
      fs.append(el("label", { class: "check" },
        el("input", { type: "checkbox", name: f.name, value: o.value, checked: chosen.has(String(o.value)) }), " ", o.label));
    }
    if (!(f.options || []).length) fs.append(el("p", { class: "muted", text: t("无可选项") }));
    wrap.append(fs);
  } else if (f.type === "textarea") {
    const ta = el("textarea", { id: `f-${f.name}`, name: f.name, maxlength: f.max_length, rows: 2, ...invalid });
    ta.value = value || "";
    wrap.append(el("label", { for: `f-${f.name}`, text: f.label }), ta);
  } else {
    const attrs = { id: `f-${f.name}`, name: f.name, type: "text", required: f.required, autocomplete: "off", ...invalid };
    if (f.type === "money") Object.assign(attrs, { inputmode: "decimal", pattern: "[0-9]+([.][0-9]{1,2})?" });
    else if (f.type === "integer") Object.assign(attrs, { inputmode: "numeric", pattern: "[0-9]+" });
    else if (f.type === "id_number") Object.assign(attrs, { maxlength: 18, autocapitalize: "characters", pattern: "[0-9]{17}[0-9Xx]" });
    else if (f.max_length) attrs.maxlength = f.max_length;
    const input = el("input", attrs);
    input.value = value ?? "";
    wrap.append(el("label", { for: `f-${f.name}` }, f.label, ...req), input);
  }
  if (f.hint) wrap.append(el("p", { class: "muted small", text: f.hint }));
  if (error) wrap.append(el("p", { class: "error", id: `${f.name}-err`, text: error }));
  return wrap;
}

/** The answers of a form as the schema types them (what the server validates). */
export function collectAnswers(form, schema) {
  const answers = {};
  for (const f of schema.fields) {
    if (f.type === "multichoice") {
      answers[f.name] = Array.from(form.querySelectorAll(`input[name="${f.name}"]:checked`), (i) => i.value)
        .map((v) => (/^\d+$/.test(v) && f.options_from ? Number(v) : v));
    } else if (f.type === "choice") {
      const chosen = form.querySelector(`input[name="${f.name}"]:checked`);
      answers[f.name] = chosen ? chosen.value : "";
    } else {
      const input = form.elements.namedItem(f.name);
      if (!input) continue;
      let v = input.value.trim();
      if ((f.type === "money" || f.type === "integer") && v !== "" && Number.isFinite(Number(v.replace(/,/g, "")))) {
        v = Number(v.replace(/,/g, ""));
      }
      answers[f.name] = v;
    }
  }
  return answers;
}

/** Show the server's (or our own) errors next to their fields. */
export function showErrors(form, errors) {
  for (const node of form.querySelectorAll(".field.has-error")) node.classList.remove("has-error");
  for (const node of form.querySelectorAll("p.error[data-dynamic]")) node.remove();
  let first = null;
  for (const [key, message] of Object.entries(errors || {})) {
    const name = key.replace(/^answers\./, "");
    const field = form.querySelector(`[data-field="${name}"]`);
    const p = el("p", { class: "error", "data-dynamic": "1", text: message });
    if (field) { field.classList.add("has-error"); field.hidden = false; field.append(p); first ||= field; }
    else { form.querySelector("[data-form-errors]")?.append(p); }
  }
  (first || form.querySelector("[data-form-errors]"))?.scrollIntoView({ block: "center" });
}

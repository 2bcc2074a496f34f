// Reporting a household found in the field (主动发现): checked for duplicates before it is
// saved (on the server when online, against the phone's copy when not), then to the outbox.
import { collectAnswers, el, renderField, showErrors } from "./schema-form.js";
import { attachGps, attachPhotos, isoWithOffset, saveToOutbox, showSaved } from "./field-kit.js";
import { getMeta, tx } from "./db.js";
import { t } from "./i18n.js";

export function buildDiscoveryForm(schema, regions) {
  const form = el("form", { class: "discovery-form", id: "discovery-form", novalidate: true });
  form.append(el("div", { "data-form-errors": "1", role: "alert" }));
  form.append(el("section", { class: "card gps", "aria-live": "polite" },
    el("h2", { text: t("定位") }),
    el("p", { class: "gps-status", "data-gps-status": "1", "data-state": "idle", text: t("正在定位；定位失败也可以保存") }),
    ...["lat", "lon", "accuracy_m", "location_captured_at"].map((n) => el("input", { type: "hidden", name: n })),
    el("button", { type: "button", class: "btn btn-small", "data-action": "locate", text: t("重新定位") })));
  const region = el("select", { id: "f-region", name: "region_id", required: true },
    el("option", { value: "", text: t("请选择") }), ...regions.map((r) => el("option", { value: r.id, text: r.name })));
  if (regions.length === 1) region.value = regions[0].id;
  const main = el("section", { class: "card" },
    el("div", { class: "field", "data-field": "region_id" }, el("label", { for: "f-region", text: t("所在社区（村）") }), region),
    el("div", { class: "field", "data-field": "address" }, el("label", { for: "f-address", text: t("住址") }),
      el("input", { id: "f-address", name: "address", type: "text", maxlength: 200, required: true, autocomplete: "off" })));
  for (const f of schema.fields) main.append(renderField(f));
  main.append(el("div", { class: "field", "data-field": "reason" }, el("label", { for: "f-reason", text: t("发现的困难情况") }),
    el("textarea", { id: "f-reason", name: "reason", maxlength: 2000, rows: 3, required: true })));
  form.append(main);
  form.append(el("section", { class: "card", "data-duplicates": "1", hidden: true }));
  form.append(el("section", { class: "card" },
    el("h2", { text: t("照片") }),
    el("div", { class: "field" },
      el("label", { for: "f-photo", class: "btn btn-block", text: t("拍照或选择照片") }),
      el("input", { id: "f-photo", class: "visually-hidden", type: "file", name: "photo", accept: "image/*", capture: "environment", multiple: true, "data-max-px": 1600 }),
      el("ul", { class: "photo-previews", "data-photo-previews": "1" }))));
  form.append(el("div", { class: "sticky-actions" },
    el("button", { class: "btn btn-primary btn-big", type: "submit", "data-testid": "save-discovery", text: t("检查并保存") })));
  return form;
}

function similar(a, b) {
  const norm = (s) => (s || "").replace(/[\s\-－—_,，。.（）()#号]/g, "");
  a = norm(a); b = norm(b);
  if (!a || !b) return false;
  if (a.includes(b) || b.includes(a)) return true;
  const grams = (s) => new Set(Array.from({ length: Math.max(0, s.length - 1) }, (_, i) => s.slice(i, i + 2)));
  const ga = grams(a), gb = grams(b);
  const common = [...ga].filter((g) => gb.has(g)).length;
  return (2 * common) / (ga.size + gb.size || 1) >= 0.8;
}

function metres(a, b) {
  const r = 6371000, rad = Math.PI / 180;
  const dlat = (b.lat - a.lat) * rad, dlon = (b.lon - a.lon) * rad;
  const h = Math.sin(dlat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dlon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}

async function localCandidates(user, { head_name, address, location }) {
  // Households hidden after the server said the login expired are not compared either.
  if (await getMeta(`locked:${String(user.id)}`)) return [];
  const all = await tx("households", "readonly", (s, p) => p(s.households.index("user_id").getAll(String(user.id))));
  const out = [];
  for (const h of all) {
    const why = [];
    if (head_name && h.head_name === head_name && similar(address, h.address)) why.push("similar_name_address");
    if (location && h.location && metres(location, h.location) <= 50) why.push("nearby");
    if (why.length) out.push({ household_id: h.id, head_name: h.head_name, address: h.address, why });
  }
  return out;
}

async function serverCandidates(body) {
  const csrf = (await fetch("/api/sync/v1/session", { credentials: "same-origin" }).then((r) => r.ok ? r.json() : null))?.csrf_token;
  if (!csrf) return null;
  const res = await fetch("/api/sync/v1/discovery/check", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    body: JSON.stringify(body),
  });
  if (res.status === 422) {
    const data = await res.json();
    return { errors: data.error.fields };
  }
  return res.ok ? (await res.json()).candidates : null;
}

// A function, not a constant: t() is read when the page draws, after the catalogue loaded.
const WHY = () => ({ same_id: t("身份证号相同"), similar_name_address: t("姓名相同、地址相近"), nearby: t("位置相距不到50米") });

/** One candidate: a household the user may see (name, address, link), or one outside their
 * scope, of which the server tells only the county and what to do (no name, no link). */
function candidateItem(c) {
  if (c.in_scope === false) {
    return el("li", { "data-out-of-scope": "1" },
      el("span", { class: "chip chip-warn", text: WHY()[c.reason] || t("可能已在其他地区登记") }),
      c.county ? ` ${c.county} · ` : " ",
      el("span", { "data-advice": "1", text: c.advice || t("该家庭可能已在其他地区登记，请与上级核实后再上报。") }));
  }
  const why = Array.isArray(c.why) ? c.why : c.reason ? [c.reason] : [];
  const name = c.household_id != null && /^\d+$/.test(String(c.household_id))
    ? el("a", { href: `/households/${c.household_id}`, text: c.head_name || "" })
    : el("strong", { text: c.head_name || "" });
  return el("li", { "data-in-scope": "1" }, name, ` · ${c.address || ""} · `,
    el("span", { class: "chip chip-warn", text: why.map((w) => WHY[w] || w).join("、") }));
}

export function initDiscoveryForm(form, { schema, user }) {
  const gps = attachGps(form);
  const photos = attachPhotos(form, { defaultCaption: "living" });
  const dupBox = form.querySelector("[data-duplicates]");
  const button = form.querySelector("[type=submit]");
  let confirmedFor = null;
  // One record id for this filling of the form: a second tap, or a retry after an error,
  // saves the same record, which the outbox (unique id) and the server keep once.
  const recordId = crypto.randomUUID();
  let busy = false;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    if (!form.reportValidity() || form.dataset.photosBusy) return;
    busy = true;
    button.disabled = true;
    try {
      await check();
    } finally {
      busy = false;
      if (button.isConnected) button.disabled = false;
    }
  });

  async function check() {
    const answers = collectAnswers(form, schema);
    const location = gps.fix();
    const base = { region_id: form.elements.namedItem("region_id").value, address: form.elements.namedItem("address").value.trim(),
                   reason: form.elements.namedItem("reason").value.trim() };
    const key = JSON.stringify([base.address, answers.head_name, answers.id_number]);
    if (confirmedFor !== key) {
      let candidates = null;
      let source = "server";
      if (navigator.onLine) {
        try {
          candidates = await serverCandidates({ ...base, head_name: answers.head_name, id_number: answers.id_number || undefined, location });
        } catch (_) { candidates = null; }
      }
      if (candidates?.errors) { showErrors(form, candidates.errors); return; }
      if (candidates === null) { candidates = await localCandidates(user, { head_name: answers.head_name, address: base.address, location }); source = "phone"; }
      if (candidates.length) {
        dupBox.hidden = false;
        dupBox.replaceChildren(el("h2", { text: t("可能已在登记中") }),
          el("p", { class: "muted", text: source === "server" ? t("系统中找到以下可能相同的家庭，请核对：") : t("（离线，仅与本机保存的家庭比对）以下家庭可能相同，请核对：") }),
          el("ul", { class: "plain", "data-testid": "duplicate-candidates" }, candidates.map(candidateItem)),
          el("p", { text: t("如确认不是同一户，请再次点击“检查并保存”。") }));
        confirmedFor = key;
        dupBox.scrollIntoView({ block: "center" });
        return;
      }
    }
    const list = photos.list();
    gps.stop();
    const id = recordId;
    const record = {
      type: "discovery", id, ...base, location, answers, reported_at: isoWithOffset(new Date()),
      photos: list.map((p) => ({ id: p.id, sha256: p.sha256, bytes: p.bytes, taken_at: p.taken_at, caption: p.caption })),
    };
    try {
      await saveToOutbox({ record, photos: list, label: t("新发现 {name}", { name: answers.head_name }) });
    } catch (err) {
      showErrors(form, { record: err.message });
      return;
    }
    showSaved(form, { id, backHref: "/discovery/new", backText: t("再上报一户"), viewHref: null });
  }
}

export { getMeta };

// The visit form's behaviour: GPS check-in, per-capita income, photos shrunk on the phone, and
// saving into the outbox (online or not). The form is drawn by pages/visit.js (its one
// renderer), which calls initVisitForm.
import { t } from "./i18n.js";
import { collectAnswers, showErrors } from "./schema-form.js";
import { attachGps, attachPhotos, isoWithOffset, localInputValue, saveToOutbox, setField, showSaved } from "./field-kit.js";
import * as outbox from "./outbox.js";
import { collectMemberChanges } from "./member-changes.js";

function syncRequired(form) {
  for (const el of form.querySelectorAll("[data-required-unless]")) {
    const [field, okValue] = el.dataset.requiredUnless.split(":");
    const chosen = form.querySelector(`input[name="${field}"]:checked`);
    const textarea = el.querySelector("textarea");
    const needed = Boolean(chosen && chosen.value !== okValue);
    textarea.required = needed;
    el.classList.toggle("is-required", needed);
    // Keep the form short: a note shows when it is needed or already has text.
    el.hidden = !needed && !textarea.value && !el.classList.contains("has-error");
  }
}

async function prefillFix(form, fixId) {
  // "Fix and resend" a record the server rejected: the new record supersedes the old.
  const entry = await outbox.get(fixId);
  if (!entry || entry.type !== "visit") return null;
  const { record } = await outbox.contents(entry);
  const answers = record.answers || {};
  const section = form.querySelector("[data-field=member_changes]");
  for (const entry of answers.member_changes || []) {
    const { kind, ...values } = entry;
    section?.addChange(kind, values);
  }
  for (const [name, value] of Object.entries(answers)) {
    if (name === "member_changes") continue;
    const inputs = form.querySelectorAll(`[name="${name}"]`);
    for (const input of inputs) {
      if (input.type === "radio" || input.type === "checkbox") {
        input.checked = Array.isArray(value) ? value.map(String).includes(input.value) : String(value) === input.value;
      } else input.value = value ?? "";
    }
  }
  setField(form, "notes", record.notes || "");
  showErrors(form, entry.errors);
  return entry;
}

export function initVisitForm(form, { household, schema }) {
  const householdId = household.id;
  const label = t("走访 {name}", { name: household.head_name });
  const gps = attachGps(form);
  const photos = attachPhotos(form);

  const localTime = form.elements.namedItem("visited_at_local");
  if (localTime && !localTime.value) localTime.value = localInputValue(new Date());

  const members = Number(form.dataset.members) || 1;
  const income = form.elements.namedItem("household_income");
  const perCapita = form.querySelector("output[name=per_capita]");
  const updatePerCapita = () => {
    const v = Number(String(income.value).replace(/,/g, ""));
    perCapita.textContent = income.value !== "" && Number.isFinite(v) ? (v / members).toFixed(2) : "—";
  };
  income?.addEventListener("input", updatePerCapita);
  if (income) updatePerCapita();

  form.addEventListener("change", () => syncRequired(form));
  syncRequired(form);

  let fixing = null;
  // One record id for this filling of the form: a second tap or a retry saves the same
  // record, kept once by the outbox and the server. Made here, not taken from the page: a
  // browser may restore a hidden field's old value when the user comes back to the form.
  const recordId = crypto.randomUUID();
  let busy = false;
  const fixId = new URLSearchParams(location.search).get("fix");
  if (fixId) prefillFix(form, fixId).then((entry) => { fixing = entry; syncRequired(form); });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    syncRequired(form);
    if (!form.reportValidity()) return;
    if (form.dataset.photosBusy) return;
    const button = form.querySelector("[type=submit]");
    busy = true;
    button.disabled = true;
    gps.stop();
    const id = recordId;
    const visitedAt = localTime?.value ? new Date(localTime.value) : new Date();
    const list = photos.list();
    const answers = collectAnswers(form, schema);
    const changes = collectMemberChanges(form);
    if (changes.length) answers.member_changes = changes;
    const record = {
      type: "visit",
      id,
      household_id: String(householdId),
      visited_at: isoWithOffset(visitedAt),
      location: gps.fix(),
      answers,
      notes: form.elements.namedItem("notes")?.value.trim() || "",
      photos: list.map((p) => ({ id: p.id, sha256: p.sha256, bytes: p.bytes, taken_at: p.taken_at, caption: p.caption })),
      supersedes: fixing ? fixing.id : null,
    };
    try {
      await saveToOutbox({ record, photos: list, label });
      if (fixing) await outbox.remove(fixing.id);
    } catch (err) {
      busy = false;
      button.disabled = false;
      showErrors(form, { record: err.message });
      return;
    }
    showSaved(form, { id, backHref: `/households/${householdId}`, backText: t("返回该户"), viewHref: `/visits/${id}` });
  });
}

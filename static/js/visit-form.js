// The visit form: GPS check-in, per-capita income, photos downscaled on the phone.
import { watchFix } from "./geo.js";
import { downscale } from "./camera.js";

const form = document.getElementById("visit-form");
const photos = []; // {buffer, type, bytes, sha256, caption, url}

function setField(name, value) {
  const input = form.elements.namedItem(name);
  if (input) input.value = value ?? "";
}

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** ISO 8601 with the phone's offset, e.g. 2026-11-20T15:04:00+08:00 */
export function isoWithOffset(date) {
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${localInputValue(date)}:${pad(date.getSeconds())}${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

// --- GPS
const status = form.querySelector("[data-gps-status]");
let stopWatching = null;
function locate() {
  if (stopWatching) stopWatching();
  stopWatching = watchFix(({ state, fix, message }) => {
    status.dataset.state = state;
    if (fix) {
      setField("lat", fix.lat.toFixed(7));
      setField("lon", fix.lon.toFixed(7));
      setField("accuracy_m", fix.accuracy_m);
      setField("location_captured_at", fix.captured_at);
    }
    if (state === "locating") {
      status.textContent = fix ? `正在提高定位精度… 当前精度 ${fix.accuracy_m} 米` : "正在定位…";
    } else if (state === "ok") {
      status.textContent = `已定位，精度 ${fix.accuracy_m} 米`;
    } else {
      status.textContent = message;
    }
  });
}
form.querySelector('[data-action="locate"]').addEventListener("click", locate);
locate();

// --- visit time
const localTime = form.elements.namedItem("visited_at_local");
if (localTime && !localTime.value) localTime.value = localInputValue(new Date());

// --- per-capita income
const members = Number(form.dataset.members) || 1;
const income = form.elements.namedItem("household_income");
const perCapita = form.querySelector("output[name=per_capita]");
function updatePerCapita() {
  const v = Number(String(income.value).replace(/,/g, ""));
  perCapita.textContent = income.value !== "" && Number.isFinite(v) ? (v / members).toFixed(2) : "—";
}
income?.addEventListener("input", updatePerCapita);
if (income) updatePerCapita();

// --- a note is required when its dimension is not "ok"
function syncRequired() {
  for (const el of form.querySelectorAll("[data-required-unless]")) {
    const [field, okValue] = el.dataset.requiredUnless.split(":");
    const chosen = form.querySelector(`input[name="${field}"]:checked`);
    const textarea = el.querySelector("textarea");
    const needed = chosen && chosen.value !== okValue;
    textarea.required = Boolean(needed);
    el.classList.toggle("is-required", Boolean(needed));
    // Keep the form short: a note shows when it is needed or already has text.
    el.hidden = !needed && !textarea.value && !el.classList.contains("has-error");
  }
}
form.addEventListener("change", syncRequired);
syncRequired();

// --- photos
const fileInput = form.elements.namedItem("photo");
const previews = form.querySelector("[data-photo-previews]");
const captionTemplate = form.querySelector("[data-caption-template]");
captionTemplate.disabled = true; // the per-photo selects are sent instead
const maxPx = Number(fileInput.dataset.maxPx) || 1600;

function renderPreviews() {
  previews.replaceChildren(...photos.map((p, i) => {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = p.url;
    img.alt = `照片 ${i + 1}`;
    const select = captionTemplate.cloneNode(true);
    select.disabled = false;
    select.className = "";
    select.removeAttribute("aria-hidden");
    select.removeAttribute("tabindex");
    select.removeAttribute("data-caption-template");
    select.setAttribute("aria-label", `照片 ${i + 1} 的内容`);
    select.value = p.caption;
    select.addEventListener("change", () => { p.caption = select.value; });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "btn btn-small btn-quiet";
    remove.textContent = "删除";
    remove.addEventListener("click", () => { URL.revokeObjectURL(p.url); photos.splice(i, 1); renderPreviews(); });
    const size = document.createElement("span");
    size.className = "muted small";
    size.textContent = `${Math.round(p.bytes / 1024)} KB`;
    li.append(img, select, size, remove);
    return li;
  }));
}

fileInput.addEventListener("change", async () => {
  const files = Array.from(fileInput.files || []);
  fileInput.value = "";
  for (const file of files) {
    const shrunk = await downscale(file, maxPx);
    const blob = new Blob([shrunk.buffer], { type: shrunk.type });
    photos.push({ ...shrunk, caption: photos.length ? "living" : "household", url: URL.createObjectURL(blob) });
  }
  renderPreviews();
});

// --- submit: the downscaled photos replace whatever the input held
form.addEventListener("submit", (event) => {
  syncRequired();
  if (!form.reportValidity()) { event.preventDefault(); return; }
  if (stopWatching) stopWatching();
  setField("device_time", new Date().toISOString());
  if (localTime?.value) setField("visited_at", isoWithOffset(new Date(localTime.value)));
  const dt = new DataTransfer();
  photos.forEach((p, i) => dt.items.add(new File([p.buffer], `photo-${i + 1}.jpg`, { type: p.type })));
  fileInput.files = dt.files;
});

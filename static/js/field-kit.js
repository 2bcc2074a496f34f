// What the visit form and the discovery form share: GPS check-in, photos shrunk on the
// phone, the local time fields, and saving into the outbox.
import { watchFix } from "./geo.js";
import { downscale } from "./camera.js";
import * as outbox from "./outbox.js";
import { getMeta } from "./db.js";
import { settled } from "./sync.js";
import { t } from "./i18n.js";
import { EVENTS, META } from "./keys.js";

export function setField(form, name, value) {
  const input = form.elements.namedItem(name);
  if (input) input.value = value ?? "";
}

export function localInputValue(date) {
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

/** Starts locating at once; returns {fix(), stop()}. Never blocks saving. */
export function attachGps(form) {
  const status = form.querySelector("[data-gps-status]");
  let best = null;
  let stop = null;
  const locate = () => {
    if (stop) stop();
    stop = watchFix(({ state, fix, message }) => {
      status.dataset.state = state;
      if (fix) {
        best = fix;
        setField(form, "lat", fix.lat.toFixed(7));
        setField(form, "lon", fix.lon.toFixed(7));
        setField(form, "accuracy_m", fix.accuracy_m);
        setField(form, "location_captured_at", fix.captured_at);
      }
      if (state === "locating") status.textContent = fix ? t("正在提高定位精度… 当前精度 {accuracy} 米", { accuracy: fix.accuracy_m }) : t("正在定位…");
      else if (state === "ok") status.textContent = t("已定位，精度 {accuracy} 米", { accuracy: fix.accuracy_m });
      else status.textContent = message;
    });
  };
  form.querySelector('[data-action="locate"]')?.addEventListener("click", locate);
  locate();
  return {
    fix: () => (best ? { lat: best.lat, lon: best.lon, accuracy_m: best.accuracy_m, captured_at: best.captured_at, source: "gps" } : null),
    stop: () => stop && stop(),
  };
}

/** Photo picker with previews and captions; returns {list()} of shrunk photos. */
export function attachPhotos(form, { defaultCaption = "household" } = {}) {
  const fileInput = form.elements.namedItem("photo");
  const previews = form.querySelector("[data-photo-previews]");
  const template = form.querySelector("[data-caption-template]");
  if (template) template.disabled = true;
  const maxPx = Number(fileInput.dataset.maxPx) || 1600;
  const photos = [];
  const render = () => {
    previews.replaceChildren(...photos.map((p, i) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = p.url;
      img.alt = t("照片 {n}", { n: i + 1 });
      li.append(img);
      if (template) {
        const select = template.cloneNode(true);
        select.disabled = false;
        select.className = "";
        for (const a of ["aria-hidden", "tabindex", "data-caption-template", "name"]) select.removeAttribute(a);
        select.setAttribute("aria-label", t("照片 {n} 的内容", { n: i + 1 }));
        select.value = p.caption;
        select.addEventListener("change", () => { p.caption = select.value; });
        li.append(select);
      }
      const size = document.createElement("span");
      size.className = "muted small";
      size.textContent = `${Math.max(1, Math.round(p.bytes / 1024))} KB`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn btn-small btn-quiet";
      remove.textContent = t("删除");
      remove.addEventListener("click", () => { URL.revokeObjectURL(p.url); photos.splice(i, 1); render(); });
      li.append(size, remove);
      return li;
    }));
  };
  fileInput.addEventListener("change", async () => {
    const files = Array.from(fileInput.files || []);
    fileInput.value = "";
    form.dataset.photosBusy = "1";
    for (const file of files) {
      const shrunk = await downscale(file, maxPx);
      const url = URL.createObjectURL(new Blob([shrunk.buffer], { type: shrunk.type }));
      photos.push({ ...shrunk, id: crypto.randomUUID(), caption: photos.length ? "living" : defaultCaption,
                    taken_at: new Date(file.lastModified || Date.now()).toISOString(), url });
    }
    delete form.dataset.photosBusy;
    render();
  });
  return { list: () => photos, clear: () => { photos.splice(0); render(); } };
}

/** The user the record belongs to: the user of this page when the server rendered it (so a
 * record saved right after logging in is never filed under the previous user), else the last
 * session seen on this phone (the offline shell). */
export async function recordOwner() {
  const { userId, username } = document.body.dataset;
  const last = await getMeta(META.sessionUser);
  if (userId && (!last || String(last.id) !== userId)) return { id: userId, username };
  return last;
}

/** Save a record to the outbox; then the sync bar takes over. */
export async function saveToOutbox({ record, photos, label }) {
  const user = await recordOwner();
  if (!user) throw new Error(t("这部手机上还没有登录的账号，请联网登录后再保存"));
  await outbox.append({
    record, user, label,
    photos: photos.map((p) => ({ id: p.id, mime: p.type, buffer: p.buffer, sha256: p.sha256, bytes: p.bytes })),
  });
  // Ask for the storage not to be evicted; refused is fine, the work still is saved.
  navigator.storage?.persist?.().catch(() => {});
  window.dispatchEvent(new CustomEvent(EVENTS.requestSync, { detail: { after: "save" } }));
  return user;
}

/** Replace the form with a "saved on this phone" panel that follows the upload. */
export function showSaved(form, { id, backHref, backText, viewHref }) {
  const panel = document.createElement("section");
  panel.className = "card saved-panel";
  panel.setAttribute("role", "status");
  panel.dataset.testid = "saved-on-phone";
  panel.innerHTML = "";
  const h = document.createElement("h2");
  h.textContent = t("已保存在本手机");
  const p = document.createElement("p");
  p.dataset.savedStatus = "";
  p.textContent = navigator.onLine ? t("正在上传…") : t("当前没有网络，联网后会自动上传，请不要清除浏览器数据");
  const back = document.createElement("a");
  back.className = "btn";
  back.href = backHref;
  back.textContent = backText;
  panel.append(h, p, back);
  form.replaceWith(panel);
  window.scrollTo(0, 0);
  let done = false;
  const check = async () => {
    if (done || await outbox.get(id)) return;
    done = true;
    window.removeEventListener(EVENTS.outbox, check);
    outbox.channelFor()?.removeEventListener("message", check);
    p.textContent = t("已上传到服务器");
    // Let the sync finish (it pulls after sending) before leaving the page: a sync cut off
    // by the navigation would only be repeated by the next page.
    await settled();
    if (viewHref) location.assign(viewHref);
  };
  window.addEventListener(EVENTS.outbox, check);
  outbox.channelFor()?.addEventListener("message", check);
  return panel;
}

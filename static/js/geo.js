// GPS check-in: one high-accuracy fix, with live status and a timeout that never blocks saving.
import { t } from "./i18n.js";

export const GEO_TIMEOUT_MS = 20000;

/**
 * Ask for the position and keep improving it until the timeout.
 * onUpdate({state, fix, message}) is called with state "locating" | "ok" | "failed".
 * Returns a function that stops watching.
 */
export function watchFix(onUpdate, { timeoutMs = GEO_TIMEOUT_MS, goodEnoughM = 20 } = {}) {
  if (!("geolocation" in navigator)) {
    onUpdate({ state: "failed", message: t("此手机或浏览器不支持定位") });
    return () => {};
  }
  let best = null;
  let done = false;
  onUpdate({ state: "locating" });
  const finish = (update) => {
    if (done) return;
    done = true;
    navigator.geolocation.clearWatch(id);
    clearTimeout(timer);
    onUpdate(update);
  };
  const id = navigator.geolocation.watchPosition(
    (pos) => {
      const fix = {
        lat: pos.coords.latitude,
        lon: pos.coords.longitude,
        accuracy_m: Math.round(pos.coords.accuracy),
        captured_at: new Date(pos.timestamp || Date.now()).toISOString(),
        source: "gps",
      };
      if (!best || fix.accuracy_m <= best.accuracy_m) best = fix;
      if (best.accuracy_m <= goodEnoughM) finish({ state: "ok", fix: best });
      else onUpdate({ state: "locating", fix: best });
    },
    (err) => {
      if (best) return finish({ state: "ok", fix: best });
      const message = err.code === 1 ? t("定位权限被拒绝，可以不定位直接保存（记录会被标注）")
        : err.code === 3 ? t("定位超时，可以不定位直接保存（记录会被标注）")
        : t("暂时无法定位，可以不定位直接保存（记录会被标注）");
      finish({ state: "failed", message });
    },
    { enableHighAccuracy: true, maximumAge: 0, timeout: timeoutMs },
  );
  const timer = setTimeout(() => {
    if (best) finish({ state: "ok", fix: best });
    else finish({ state: "failed", message: t("定位超时，可以不定位直接保存（记录会被标注）") });
  }, timeoutMs);
  return () => finish({ state: best ? "ok" : "failed", fix: best, message: t("已停止定位") });
}

/** One quick position for sorting lists (low accuracy is fine). */
export function quickPosition(timeoutMs = 8000) {
  return new Promise((resolve) => {
    if (!("geolocation" in navigator)) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve({ lat: pos.coords.latitude, lon: pos.coords.longitude }),
      () => resolve(null),
      { enableHighAccuracy: false, maximumAge: 120000, timeout: timeoutMs },
    );
  });
}

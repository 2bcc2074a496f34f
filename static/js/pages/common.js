// What every field page shares: the phone's copy of the user's households (IndexedDB), the
// outbox entries still waiting, and the states shown when there is nothing to show.
import { META, STORES } from "../keys.js";
import { getMeta, tx } from "../db.js";
import * as outbox from "../outbox.js";
import { el } from "../schema-form.js";
import { t } from "../i18n.js";

export { el, t };

export const STATE_LABEL = () => ({ visited: t("本月已走访"), due: t("本月待走访"), overdue: t("逾期未走访") });
export const STATE_CHIP = { visited: "chip-ok", due: "chip-warn", overdue: "chip-bad" };
export const DIM_SHORT = () => ({ income: t("收入"), housing: t("住房"), education: t("教育"), medical: t("医疗"), employment: t("就业"), elderly: t("养老") });

export async function sessionUser() {
  return getMeta(META.sessionUser);
}

/** The server answered 401 for this user: their households stay hidden until they sign in
 * again (a login that merely expired out of signal hides nothing: the helper keeps working). */
export async function isLocked(user) {
  return Boolean(user && await getMeta(META.locked(String(user.id))));
}

export async function householdsOf(userId) {
  return tx(STORES.households, "readonly", (s, p) => p(s.households.index("user_id").getAll(String(userId))));
}

export async function householdOf(userId, id) {
  return tx(STORES.households, "readonly", (s, p) => p(s.households.get([String(userId), String(id)])));
}

/** This user has pulled at least once on this phone (else: first login, wait for the pull). */
export async function hasPulled(userId) {
  return Boolean(await getMeta(META.pulledAt(String(userId))));
}

const pad = (n) => String(n).padStart(2, "0");

/** Local date and time, as the server's `local_time` filter prints it (the phone is in Nanyang). */
export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fmtDate(iso) {
  return iso ? fmtTime(iso).slice(0, 10) : "";
}

/** A month key (202612) as the server's `month_label` filter prints it. */
export function monthLabel(key) {
  if (!key) return t("本月");
  return t("{year}年{month}月", { year: Math.floor(key / 100), month: key % 100 });
}

/** Visits of this user still in the outbox, by household id. */
export async function pendingVisits(userId) {
  const out = new Map();
  for (const e of await outbox.list()) {
    const householdId = e.household_id ?? e.record?.household_id;
    if (e.user_id === String(userId) && e.type === "visit") out.set(String(householdId), e);
  }
  return out;
}

export function offlineNote() {
  if (navigator.onLine) return null;
  return el("p", { class: "flash flash-warning", role: "status", "data-offline-note": "1" },
    t("当前离线：以下内容来自本机保存的数据，保存的记录会在联网后自动上传"));
}

export function loginAgain(root) {
  root.replaceChildren(el("section", { class: "card", "data-testid": "login-again" },
    el("h1", { text: t("登录已过期") }),
    el("p", { text: t("为保护帮扶户的信息，本机保存的帮扶户资料在重新登录之前不再显示。") }),
    el("p", { text: t("未上传的记录仍加密保存在本机，不会丢失，重新登录后会自动上传。") }),
    el("p", {}, el("a", { class: "btn btn-primary", href: `/login?next=${encodeURIComponent(location.pathname)}`, text: t("重新登录") }), " ",
      el("a", { class: "btn", href: "/device", text: t("本机记录") }))));
}

export function needLogin(root) {
  root.replaceChildren(el("section", { class: "card" },
    el("h1", { text: t("需要登录") }),
    el("p", { text: t("这部手机上还没有登录过的账号数据。请在有网络时登录一次，之后即可离线使用。") }),
    el("p", {}, el("a", { class: "btn btn-primary", href: "/login", text: t("去登录") }))));
}

export function notCached(root) {
  root.replaceChildren(...[offlineNote(), el("section", { class: "card", "data-testid": "not-cached" },
    el("h1", { text: t("离线时无法打开此页面") }),
    el("p", { text: t("这个页面需要网络。您仍然可以查看帮扶户、登记走访和上报新发现，记录会保存在本机。") }),
    el("p", {}, el("a", { class: "btn", href: "/households/mine", text: t("我的帮扶户") }), " ",
      el("a", { class: "btn", href: "/device", text: t("本机记录") })))].filter(Boolean));
}

/** First login on this phone: nothing to draw until the first pull lands. */
export function syncing(root) {
  root.replaceChildren(el("section", { class: "card", "data-testid": "first-sync", role: "status" },
    el("h1", { text: t("正在同步…") }),
    el("p", { class: "muted", text: t("第一次在这部手机上使用，正在下载您的帮扶户资料") })));
}

// The discovery form (上报新发现), for the reporting roles.
import { META } from "../keys.js";
import { getMeta } from "../db.js";
import { el, needLogin, notCached, offlineNote, t } from "./common.js";

export async function render(root, user) {
  if (!user) return needLogin(root);
  const forms = await getMeta(META.forms(user.id));
  const schema = forms?.discovery;
  const regions = await getMeta(META.regions(user.id), []);
  if (!schema) return notCached(root);
  const { initDiscoveryForm, buildDiscoveryForm } = await import("../discovery-form.js");
  const form = buildDiscoveryForm(schema, regions || []);
  root.replaceChildren(...[offlineNote(), el("section", { class: "page-head" },
    el("h1", { text: t("上报新发现的困难家庭") }),
    el("p", { class: "muted", text: t("走访中发现家庭生活困难时填写；没有信号也可以保存，联网后自动上报。") })), form].filter(Boolean));
  initDiscoveryForm(form, { schema, user });
}

// i18n.js: t() with the server's catalogue, the msgid when there is none.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { js } from "./harness.mjs";

const i18n = await import(js("i18n.js"));

// A page fetches /i18n/<locale>.json from its own origin: here, from a local server.
const served = [];
const http = createServer((req, res) => {
  served.push(req.url);
  if (req.url === "/i18n/en.json") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ "已保存 {count} 条": "Saved {count}", "删除": "Delete" }));
  } else {
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end("{}");
  }
});
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${http.address().port}`;
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => realFetch(new URL(url, base), init);
after(() => { globalThis.fetch = realFetch; http.close(); });

test("outside a page (a worker, node) the locale is Chinese: t() gives the msgid", async () => {
  assert.deepEqual(await i18n.ready, {});
  assert.equal(i18n.t("删除"), "删除");
  assert.equal(i18n.t("已保存 {count} 条", { count: 3 }), "已保存 3 条");
});

test("placeholders are filled by name; an unknown one stays as written", () => {
  assert.equal(i18n.t("{a} 和 {b}，{a}", { a: 1, b: "二" }), "1 和 二，1");
  assert.equal(i18n.t("距离 {d} 米", {}), "距离 {d} 米");
  assert.equal(i18n.t("{n} 张", { n: 0 }), "0 张");
});

test("page languages map onto catalogues", () => {
  assert.equal(i18n.catalogueLocale("en"), "en");
  assert.equal(i18n.catalogueLocale("en-GB"), "en");
  assert.equal(i18n.catalogueLocale("zh-Hans-CN"), "zh");
  assert.equal(i18n.catalogueLocale(""), "zh");
  assert.equal(i18n.catalogueUrl("en"), "/i18n/en.json");
});

test("an English page translates with the server's catalogue, missing msgids stay Chinese", async () => {
  await i18n.loadCatalogue("en");
  assert.ok(served.includes("/i18n/en.json"));
  assert.equal(i18n.t("删除"), "Delete");
  assert.equal(i18n.t("已保存 {count} 条", { count: 2 }), "Saved 2");
  assert.equal(i18n.t("未翻译的句子"), "未翻译的句子");
  await i18n.loadCatalogue("zh-Hans-CN"); // back to Chinese: no catalogue, no request
  assert.equal(i18n.t("删除"), "删除");
});

test("no catalogue to be had (offline, uncached, server error): the msgids, no error", async () => {
  globalThis.fetch = () => Promise.reject(new TypeError("fetch failed"));
  try {
    const warn = console.warn;
    console.warn = () => {};
    try { assert.deepEqual(await i18n.loadCatalogue("en"), {}); } finally { console.warn = warn; }
    assert.equal(i18n.t("删除"), "删除");
  } finally {
    globalThis.fetch = (url, init) => realFetch(new URL(url, base), init);
  }
});

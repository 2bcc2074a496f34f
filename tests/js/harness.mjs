// What the client unit tests share: an in-memory IndexedDB (fake-indexeddb), a fresh database
// per test, and a local HTTP server that answers as the sync API does (SYNC-PROTOCOL.md), so
// the real static/js modules run unchanged against a real network stack.
import "fake-indexeddb/auto";
import { createServer } from "node:http";
import { createHash } from "node:crypto";

// The modules test for `self` (BroadcastChannel) as in a page or a worker.
globalThis.self ??= globalThis;
// Node 18 (Debian's) has Web Crypto only as a module; 19+ has the global, as browsers do.
if (!globalThis.crypto?.subtle) {
  Object.defineProperty(globalThis, "crypto", { value: (await import("node:crypto")).webcrypto });
}

export const js = (name) => new URL(`../../static/js/${name}`, import.meta.url).href;

/** Delete the app's database; db.js closes its connection on versionchange and reopens. */
export async function freshDatabase() {
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase("fieldwork");
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error("database deletion blocked"));
  });
}

export const USER = Object.freeze({ id: 7, username: "helper-7" });

export function visit(n, extra = {}) {
  return {
    type: "visit",
    id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    household_id: "h1",
    visited_at: "2026-11-20T15:04:00+08:00",
    location: null,
    answers: { n },
    notes: "",
    photos: [],
    supersedes: null,
    ...extra,
  };
}

export function photo(id, text = "jpeg bytes") {
  const bytes = new TextEncoder().encode(text);
  return {
    id, mime: "image/jpeg", buffer: bytes.buffer, bytes: bytes.byteLength,
    sha256: createHash("sha256").update(bytes).digest("hex"),
  };
}

/**
 * A sync server with the protocol's semantics, in memory. Each test may override one answer
 * with `server.on(method, path, handler)` (handler(req) → {status, body} or undefined to
 * fall through to the protocol). `server.requests` lists what arrived, in order.
 */
export class SyncServer {
  constructor() {
    this.accepted = new Map(); // record id -> record
    this.photos = new Map(); // photo id -> sha256 of the stored bytes
    this.requests = [];
    this.overrides = [];
    this.reject = new Map(); // record id -> errors: answer "rejected"
    this.user = { ...USER };
  }

  on(method, path, handler) {
    this.overrides.push({ method, path, handler });
  }

  async start() {
    this.http = createServer((req, res) => this.handle(req, res));
    await new Promise((resolve) => this.http.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${this.http.address().port}`;
    return this;
  }

  stop() {
    return new Promise((resolve) => this.http.close(resolve));
  }

  /** fetch as a page does it (relative URLs) but against this server. */
  fetch = (url, init = {}) => fetch(new URL(url, this.base), init);

  async handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url, this.base);
    const path = url.pathname.replace("/api/sync/v1", "");
    const entry = { method: req.method, path, headers: req.headers, raw };
    if ((req.headers["content-type"] || "").startsWith("application/json")) entry.json = JSON.parse(raw.toString());
    this.requests.push(entry);
    let answer;
    for (const o of this.overrides) {
      if (o.method === req.method && (o.path === path || (o.path instanceof RegExp && o.path.test(path)))) {
        answer = await o.handler(entry);
        if (answer) break;
      }
    }
    answer ||= this.protocol(entry, url);
    res.writeHead(answer.status, { "Content-Type": "application/json" });
    res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
  }

  protocol(entry, url) {
    const { method, path } = entry;
    if (method === "GET" && path === "/session") {
      return { status: 200, body: { user: this.user, csrf_token: "csrf-1" } };
    }
    if (method === "POST" && path === "/push") {
      const results = entry.json.records.map((r) => {
        if (this.reject.has(r.id)) return { id: r.id, status: "rejected", errors: this.reject.get(r.id) };
        const status = this.accepted.has(r.id) ? "duplicate" : "created";
        this.accepted.set(r.id, r);
        const missing = (r.photos || []).map((p) => p.id).filter((id) => !this.photos.has(id));
        return { id: r.id, status, missing_photos: missing, flags: [] };
      });
      return { status: 200, body: { results, server_time: new Date().toISOString() } };
    }
    const m = path.match(/^\/photos\/(.+)$/);
    if (method === "PUT" && m) {
      const declared = [...this.accepted.values()].some((r) => (r.photos || []).some((p) => p.id === m[1]));
      if (!declared) return { status: 404, body: { error: { code: "not_found", message: "unknown photo" } } };
      const sha = createHash("sha256").update(entry.raw).digest("hex");
      if (sha !== entry.headers["x-content-sha256"]) return { status: 400, body: { error: { code: "hash", message: "hash mismatch" } } };
      const again = this.photos.has(m[1]);
      this.photos.set(m[1], sha);
      return { status: again ? 200 : 201, body: { id: m[1] } };
    }
    if (method === "GET" && path === "/pull") {
      return {
        status: 200,
        body: { cursor: "c1", server_time: new Date().toISOString(), full: !url.searchParams.get("since"),
                households: [], removed: [], forms: { visit: { version: 1, fields: [] } },
                settings: { geofence_m: 300 }, regions: [] },
      };
    }
    return { status: 404, body: { error: { code: "not_found", message: path } } };
  }

  pushes() {
    return this.requests.filter((r) => r.path === "/push").map((r) => r.json.records.map((x) => x.id));
  }
}

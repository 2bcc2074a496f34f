"""Phone weight: bytes over the wire for the pages a helper opens, as a phone receives them.

    python bench/weight.py [--households 20]

Serves a throwaway SQLite database (one county, a helper with --households households) with
gunicorn and gunicorn.conf.py, compression on, behind a byte-counting TCP proxy; drives the
system Chromium (/usr/bin/chromium) with Playwright emulating a Pixel 7 (mobile viewport,
touch, mobile user agent, zh-CN). Each figure counts every byte the server sent, headers
included (the proxy), and names the requests from the gunicorn access log:

* first load (empty cache, service worker blocked so only the page counts) of the login page,
  the helper's household list and the visit form — logged in through the login form first
  (that traffic is not counted);
* the offline install: what the service worker downloads once to work offline (/sw.js and its
  precache), measured on a first visit with the worker allowed;
* repeat load with the service worker in control: the app shell (static files, /sw.js,
  manifest, offline page) must come from the phone, 0 bytes; the page's HTML (data, always
  fresh from the network) is reported beside it.

Prints a table, then ``BENCH_JSON {"figures": [...]}``. Bounded: about a minute.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import figure, launch_chromium, phone  # noqa: E402
from live import PASSWORD, seed_helper_database  # noqa: E402
from prod_server import CountingProxy, Gunicorn  # noqa: E402

LIST_TARGET_KB = 100
PAGE_TARGET_KB = 100
SHELL_PREFIXES = ("/static/", "/sw.js", "/manifest.webmanifest", "/offline")


def kb(n: int) -> float:
    return round(n / 1024, 1)


def is_shell(path: str) -> bool:
    return path.startswith(SHELL_PREFIXES)




def login(context, base: str) -> None:
    """Log in through the context's request API: the cookies land in the browser context, its
    HTTP cache stays empty (a cold first load)."""
    import re

    form = context.request.get(base + "/login").text()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    response = context.request.post(base + "/login", form={
        "username": "weight-helper", "password": PASSWORD,
        "csrf_token": token.group(1) if token else ""})
    if "/login" in response.url:
        raise RuntimeError("login failed")


def measure_load(server: Gunicorn, proxy: CountingProxy, page, url: str,
                 settle: float = 1.0) -> dict:
    offset = server.log_size()
    proxy.reset()
    page.goto(url, wait_until="networkidle")
    time.sleep(settle)
    down, up = proxy.totals()
    entries = server.log_since(offset)
    return {"wire": down, "sent": up, "requests": entries,
            "shell_bytes": sum(e["bytes"] for e in entries if is_shell(e["path"])),
            "shell_requests": [e for e in entries if is_shell(e["path"])],
            "page_bytes": sum(e["bytes"] for e in entries if not is_shell(e["path"]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20,
                        help="households on the helper's list (a helper has about 15)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    instance = Path(tempfile.mkdtemp(prefix="fieldwork-weight-"))
    figures: list[dict] = []
    detail: dict[str, list] = {}
    try:
        url, household_id = seed_helper_database(instance, "weight", "weight-helper",
                                                 args.households)
        with Gunicorn(url, instance, workers=2) as server, sync_playwright() as pw:
            proxy = CountingProxy(server.port)
            base = proxy.base
            browser = launch_chromium(pw)
            device = phone(pw)
            pages = [("login page", "/login", False),
                     ("household list", "/households/mine", True),
                     ("visit form", f"/households/{household_id}/visits/new", True)]

            # 1. First load: empty cache, no service worker (only the page itself counts).
            for label, path, needs_login in pages:
                context = browser.new_context(service_workers="block", **device)
                if needs_login:
                    login(context, base)
                page = context.new_page()
                result = measure_load(server, proxy, page, base + path)
                context.close()
                target = LIST_TARGET_KB if label == "household list" else PAGE_TARGET_KB
                figures.append(figure(f"first load: {label}", kb(result["wire"]), "KB",
                                      f"≤ {target} KB", kb(result["wire"]) <= target))
                detail[label] = [(e["path"].split("?")[0], e["bytes"])
                                 for e in result["requests"]]

            # 2. Offline install and 3. repeat load with the service worker in control.
            context = browser.new_context(**device)
            login(context, base)
            page = context.new_page()
            install_offset = server.log_size()
            measure_load(server, proxy, page, base + "/households/mine", settle=0.5)
            page.evaluate("async () => { await navigator.serviceWorker.ready; }")
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not page.evaluate(
                    "() => !!navigator.serviceWorker.controller"):
                time.sleep(0.2)
            time.sleep(1.0)  # precache finished once the worker is active
            install_entries = server.log_since(install_offset)
            precache = sum(e["bytes"] for e in install_entries if is_shell(e["path"]))
            detail["offline install"] = [(e["path"].split("?")[0], e["status"], e["bytes"])
                                         for e in install_entries if is_shell(e["path"])]
            figures.append(figure("offline install (service worker + precache, once)",
                                  kb(precache), "KB", "— (for information)", True,
                                  info=True))
            controlled = page.evaluate("() => !!navigator.serviceWorker.controller")
            for label, path, _ in pages[1:]:
                page.goto(base + path, wait_until="networkidle")  # warm: SW runtime cache
                result = measure_load(server, proxy, page, base + path)
                figures.append(figure(f"repeat load with service worker: {label}, app shell",
                                      kb(result["shell_bytes"]), "KB", "0 KB",
                                      controlled and result["shell_bytes"] == 0))
                figures.append(figure(f"repeat load with service worker: {label}, total",
                                      kb(result["wire"]), "KB", "— (page data, for information)",
                                      True, info=True))
                detail[f"repeat {label}"] = [(e["path"].split("?")[0], e["status"], e["bytes"])
                                             for e in result["requests"]]
            context.close()
            browser.close()
            proxy.close()
    finally:
        if not args.keep:
            shutil.rmtree(instance, ignore_errors=True)

    width = max(len(f["name"]) for f in figures)
    for f in figures:
        mark = "" if f.get("info") else ("yes" if f["met"] else "NO")
        print(f"{f['name']:<{width}}  {f['value']:>8} {f['unit']:<3} {f['target']:<12} {mark}")
    for label, rows in detail.items():
        print(f"  {label}: " + ", ".join(f"{r[0]} {r[-1]} B" for r in rows))
    print("BENCH_JSON " + json.dumps({"figures": figures, "requests": detail},
                                     ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

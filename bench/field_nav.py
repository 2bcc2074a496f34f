"""Field navigation: how long each move among the helper's field pages takes on slow 3G.

    python bench/field_nav.py [--households 20] [--rounds 5]

Serves a throwaway SQLite database (one county, a helper with --households households) with
gunicorn and gunicorn.conf.py; drives the system Chromium (/usr/bin/chromium) with Playwright
emulating a Pixel 7 (zh-CN). The helper signs in through the login form, the service worker
installs and the first sync pulls the households; then the page is throttled with Chrome
DevTools' network emulation at the issue's slow-3G profile (400 ms latency, 400 kbit/s down,
400 kbit/s up) and walks, --rounds times:

    list → household → visit form → device page → list

Each navigation is timed from `page.goto` until the page module has drawn the page
(`[data-offline-app][data-drawn]`, static/js/field-app.js): what the helper waits for. The
figure per navigation is the median over the rounds (the worst is in the detail), against the
issue's target of under 1000 ms. The service worker answers these navigations from its cache
(local-first), so the network's latency should not show in them.

Prints a table, then ``BENCH_JSON {"figures": [...]}``. Bounded: about a minute.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import figure, launch_chromium, machine, phone, print_bench_json, print_table  # noqa: E402
from live import PASSWORD, seed_helper_database  # noqa: E402
from prod_server import Gunicorn  # noqa: E402

TARGET_MS = 1000
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400 * 1024 / 8,
           "uploadThroughput": 400 * 1024 / 8}
DRAWN = "[data-offline-app][data-drawn]"
SYNCED = "[data-syncbar][data-state=idle]"



def sign_in(page, base: str) -> None:
    """Through the login form, as a helper does; then wait for the worker and the first sync."""
    page.goto(base + "/login")
    page.locator("input[name=username]").fill("nav-helper")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form:has(input[name=password]) button[type=submit]").click()
    page.wait_for_selector(DRAWN, state="attached", timeout=60_000)
    page.evaluate("async () => { await navigator.serviceWorker.ready; }")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not page.evaluate(
            "() => !!navigator.serviceWorker.controller"):
        page.reload()
        time.sleep(0.5)
    if not page.evaluate("() => !!navigator.serviceWorker.controller"):
        raise RuntimeError("the service worker never took control")
    page.wait_for_selector(SYNCED, state="attached", timeout=60_000)


def navigate(page, url: str) -> tuple[float, bool]:
    """Milliseconds from goto until the page is drawn; and whether the worker answered."""
    start = time.perf_counter()
    response = page.goto(url, wait_until="commit")
    page.wait_for_selector(DRAWN, state="attached", timeout=30_000)
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, bool(response and response.from_service_worker)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20,
                        help="households on the helper's list (a helper has about 15)")
    parser.add_argument("--rounds", type=int, default=5, help="walks through the pages")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    instance = Path(tempfile.mkdtemp(prefix="fieldwork-field-nav-"))
    times: dict[str, list[float]] = {}
    from_worker: dict[str, bool] = {}
    try:
        url, household_id = seed_helper_database(instance, "field_nav", "nav-helper",
                                                 args.households)
        walk = [("list → household", f"/households/{household_id}"),
                ("household → visit form", f"/households/{household_id}/visits/new"),
                ("visit form → device page", "/device"),
                ("device page → list", "/households/mine")]
        with Gunicorn(url, instance, workers=2) as server, sync_playwright() as pw:
            browser = launch_chromium(pw)
            context = browser.new_context(**phone(pw))
            page = context.new_page()
            sign_in(page, server.base)
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", SLOW_3G)
            page.goto(server.base + "/households/mine", wait_until="commit")
            page.wait_for_selector(DRAWN, state="attached", timeout=30_000)
            for _ in range(args.rounds):
                for label, path in walk:
                    ms, worker = navigate(page, server.base + path)
                    times.setdefault(label, []).append(round(ms, 1))
                    from_worker[label] = from_worker.get(label, True) and worker
            cdp.detach()
            context.close()
            browser.close()
    finally:
        if not args.keep:
            shutil.rmtree(instance, ignore_errors=True)

    figures = []
    for label, values in times.items():
        median = round(statistics.median(values))
        figures.append(figure(f"slow 3G: {label}", median, "ms", f"< {TARGET_MS} ms",
                              median < TARGET_MS and max(values) < TARGET_MS))
    print(f"machine: {machine()}; {args.rounds} rounds, {args.households} households")
    print_table(figures)
    for label, values in times.items():
        print(f"  {label}: {values} ms; answered by the service worker: {from_worker[label]}")
    print_bench_json(figures, detail={"ms": times, "from_service_worker": from_worker,
                                      "profile": SLOW_3G},
                     machine=machine())
    return 0


if __name__ == "__main__":
    sys.exit(main())

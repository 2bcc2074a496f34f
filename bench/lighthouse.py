"""Lighthouse on the pages a helper uses: performance and accessibility scores (mobile).

    python bench/lighthouse.py [--runs 1]

Installs the pinned Lighthouse (bench/package.json, 12.2.3: the last line that runs on Node 18
and 20) into bench/node_modules with npm when it is missing, serves a throwaway SQLite database
with gunicorn (gunicorn.conf.py, compression on), logs a helper in to get a session cookie, and
runs Lighthouse with the system Chromium (CHROME_PATH=/usr/bin/chromium, headless, no sandbox)
in its default mobile emulation (Moto G Power screen, simulated slow 4G, 4x CPU slowdown) on
the login page, the household list and the visit form (the last two with the cookie passed by
--extra-headers). With --runs N > 1 each score is the median.

Prints a table and the audits that cost points, then ``BENCH_JSON {"figures": [...]}``.
Reports go to bench/out/lighthouse/. Bounded: each Lighthouse run is killed after 180 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from live import PASSWORD, seed_helper_database  # noqa: E402
from prod_server import Gunicorn  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
LIGHTHOUSE = BENCH / "node_modules" / ".bin" / "lighthouse"
OUT = BENCH / "out" / "lighthouse"
TARGET = 95
PINNED = json.loads((BENCH / "package.json").read_text())["dependencies"]["lighthouse"]


def ensure_lighthouse() -> str:
    """Install the pinned version into bench/node_modules if needed; return its version."""
    installed = BENCH / "node_modules" / "lighthouse" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != PINNED:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm not found: install Node.js 18.16+ (apt-get install nodejs npm)")
        command = ["ci"] if (BENCH / "package-lock.json").exists() else ["install"]
        print(f"installing lighthouse {PINNED} into bench/node_modules (npm {command[0]}) …",
              flush=True)
        subprocess.run([npm, *command, "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=BENCH, check=True, timeout=600)
    return json.loads(installed.read_text())["version"]



def session_cookie(base: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login", timeout=20).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    data = urllib.parse.urlencode({"username": "lh-helper", "password": PASSWORD,
                                   "csrf_token": token.group(1) if token else ""}).encode()
    opener.open(base + "/login", data=data, timeout=20).read()
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    if "session=" not in cookies:
        raise RuntimeError("login failed: no session cookie")
    return cookies


def run_lighthouse(url: str, name: str, headers: dict[str, str] | None) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    report = OUT / f"{name}.json"
    command = [
        str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={report}",
        "--only-categories=performance,accessibility",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage",
        "--max-wait-for-load=45000",
    ]
    if headers:
        command.append("--extra-headers=" + json.dumps(headers))
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    if proc.returncode != 0 or not report.exists():
        raise RuntimeError(f"lighthouse failed on {url}: {proc.stderr[-1500:]}")
    return json.loads(report.read_text())


def losses(lhr: dict, category: str) -> list[str]:
    """The audits that cost this category points, heaviest first, with their display values."""
    audits = lhr["audits"]
    rows = []
    for ref in lhr["categories"][category]["auditRefs"]:
        audit = audits.get(ref["id"], {})
        score = audit.get("score")
        if ref.get("weight", 0) > 0 and score is not None and score < 1:
            rows.append((ref["weight"] * (1 - score), audit))
    rows.sort(key=lambda r: -r[0])
    out = []
    for _, audit in rows[:8]:
        value = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
        out.append(f"{audit['id']}: {audit.get('title', '')}{value} score "
                   f"{audit.get('score')}")
        for item in (audit.get("details") or {}).get("items", [])[:3]:
            node = item.get("node") or {}
            if node.get("snippet"):
                out.append(f"    {node['snippet'][:140]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs per page (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: apt-get install chromium")
    version = ensure_lighthouse()

    instance = Path(tempfile.mkdtemp(prefix="fieldwork-lighthouse-"))
    figures, notes = [], {}
    try:
        url, household_id = seed_helper_database(instance, "lighthouse", "lh-helper", 20)
        with Gunicorn(url, instance, workers=2) as server:
            cookie = session_cookie(server.base)
            pages = [("login page", "login", "/login", None),
                     ("household list", "household-list", "/households/mine",
                      {"Cookie": cookie}),
                     ("visit form", "visit-form", f"/households/{household_id}/visits/new",
                      {"Cookie": cookie})]
            for label, name, path, headers in pages:
                scores: dict[str, list[float]] = {"performance": [], "accessibility": []}
                lhr = {}
                for run in range(args.runs):
                    lhr = run_lighthouse(server.base + path, f"{name}-{run + 1}", headers)
                    final = lhr.get("finalDisplayedUrl") or lhr.get("finalUrl", "")
                    if "/login" in final and path != "/login":
                        raise RuntimeError(f"{label}: Lighthouse was sent to the login page")
                    for category in scores:
                        scores[category].append(round(lhr["categories"][category]["score"]
                                                      * 100))
                for category, values in scores.items():
                    value = statistics.median(values)
                    figures.append({"name": f"Lighthouse {category}: {label}", "value": value,
                                    "unit": "/100", "target": f"≥ {TARGET}",
                                    "met": value >= TARGET})
                    notes[f"{label} {category}"] = losses(lhr, category)
                metrics = lhr["audits"]
                notes[f"{label} metrics"] = [
                    f"{k}: {metrics[k].get('displayValue', '')}"
                    for k in ("first-contentful-paint", "largest-contentful-paint",
                              "total-blocking-time", "cumulative-layout-shift", "speed-index")
                    if k in metrics]
    finally:
        if not args.keep:
            shutil.rmtree(instance, ignore_errors=True)

    for f in figures:
        print(f"{f['name']:<45} {f['value']:>5} {f['unit']}  {f['target']}  "
              f"{'yes' if f['met'] else 'NO'}")
    for key, lines in notes.items():
        if lines:
            print(f"  {key}:")
            for line in lines:
                print(f"    {line}")
    print("BENCH_JSON " + json.dumps({"figures": figures, "lighthouse": version,
                                      "losses": notes}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

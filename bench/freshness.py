"""Which published benchmark figures no longer describe the code (issue 18).

Each script in run_all.SCRIPTS declares the paths whose code it measures (COVERS below).
docs/benchmarks.json records, per script, the commit it was measured at and whether any of
those paths had uncommitted changes then. A script's figures are stale when that commit is
missing or unknown, the run was on a dirty tree, a covered path changed between that commit
and HEAD, or the script was never measured: re-run it (`make bench BENCH_ARGS="--only NAME"`)
before the change lands.
tests/test_benchmark_freshness.py runs this check in `make test`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_COMMON = ["bench/common.py", "fieldwork/devdata/scale.py", "fieldwork/dbsetup.py"]
_FIELD_PAGES = ["static/", "templates/", "fieldwork/static_delivery.py", "fieldwork/pwa/",
                "fieldwork/templating.py"]

# script → the paths (git pathspecs) whose code its figures describe.
COVERS: dict[str, list[str]] = {
    "photos": ["bench/photos.py", "fieldwork/photos/", "static/js/camera.js"],
    "sync": ["bench/sync.py", "bench/sync_client.py", "offline_sync/", "fieldwork/visits/",
             "fieldwork/discovery/", "fieldwork/records.py", "fieldwork/access/",
             "fieldwork/photos/"],
    "sync_chaos": ["bench/sync_chaos.py", "bench/sync_client.py", "offline_sync/",
                   "fieldwork/visits/", "fieldwork/photos/", "fieldwork/records.py"],
    "supervision": ["bench/supervision.py", "fieldwork/supervision/", "templates/supervision/",
                    "fieldwork/access/", "fieldwork/households/models.py",
                    "fieldwork/visits/models.py"],
    "weight": ["bench/weight.py", *_FIELD_PAGES],
    "lighthouse": ["bench/lighthouse.py", *_FIELD_PAGES],
    "field_nav": ["bench/field_nav.py", *_FIELD_PAGES],
    "load": ["bench/load.py", "bench/prod_app.py", "bench/prod_server.py", "gunicorn.conf.py",
             "offline_sync/", "fieldwork/accounts/", "fieldwork/visits/", "fieldwork/photos/",
             "fieldwork/records.py"],
    "imports": ["bench/imports.py", "fieldwork/households/imports/", "fieldwork/xlsxin.py",
                "fieldwork/privacy/", "fieldwork/households/models.py"],
    "growth": ["bench/growth.py", "offline_sync/", "fieldwork/supervision/compliance.py",
               "fieldwork/supervision/export.py", "fieldwork/access/",
               "fieldwork/visits/services.py"],
}


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=False)


def head() -> str:
    return git("rev-parse", "HEAD").stdout.strip()


def dirty(script: str) -> list[str]:
    """Covered files of script with uncommitted changes (tracked or not)."""
    out = git("status", "--porcelain", "--", *(_COMMON + COVERS.get(script, []))).stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def changed_since(commit: str, script: str) -> list[str] | None:
    """Covered files changed between commit and HEAD; None when commit is unknown here."""
    if git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        return None
    out = git("diff", "--name-only", commit, "HEAD", "--",
              *(_COMMON + COVERS.get(script, []))).stdout
    return [line for line in out.splitlines() if line.strip()]


def stale(results: list[dict]) -> list[tuple[str, str]]:
    """(script, why) for every published result that no longer describes HEAD, and for every
    script that declares covered code but has no published result at all."""
    measured = {r["script"] for r in results}
    out = [(name, "never measured: no result in docs/benchmarks.json")
           for name in COVERS if name not in measured]
    for r in results:
        name = r["script"]
        commit = r.get("commit")
        if not commit:
            out.append((name, "no commit recorded for this measurement"))
            continue
        if r.get("dirty"):
            out.append((name, f"measured with uncommitted changes to {', '.join(r['dirty'])}"))
            continue
        changed = changed_since(commit, name)
        if changed is None:
            out.append((name, f"measured at {commit[:9]}, which is not in this history"))
        elif changed:
            shown = ", ".join(changed[:5]) + (" …" if len(changed) > 5 else "")
            out.append((name, f"measured at {commit[:9]}; changed since: {shown}"))
    return out


def load_results(path: Path = ROOT / "docs" / "benchmarks.json") -> list[dict]:
    return json.loads(path.read_text())["results"]


if __name__ == "__main__":
    problems = stale(load_results())
    for name, why in problems:
        print(f"stale: {name}: {why}  →  make bench BENCH_ARGS=\"--only {name}\"")
    raise SystemExit(1 if problems else 0)

"""Published benchmark figures describe the code that ships (issue 18).

docs/benchmarks.json names, per script, the commit its figures were measured at; a change to
code a script measures (bench/freshness.py COVERS) after that commit makes the figures stale,
and this test fails until `make bench BENCH_ARGS="--only NAME"` is run again.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import freshness  # noqa: E402
import run_all  # noqa: E402

pytestmark = pytest.mark.skipif(
    freshness.git("rev-parse", "--git-dir").returncode != 0
    or freshness.git("rev-parse", "--is-shallow-repository").stdout.strip() == "true",
    reason="needs the project's git history (not a git checkout, or a shallow clone)")


def test_every_benchmark_script_declares_the_code_it_measures():
    for name, command, _limit, _what in run_all.SCRIPTS:
        assert freshness.COVERS.get(name), f"bench/freshness.py COVERS has no entry for {name}"
        assert command[0] in freshness.COVERS[name], f"{name}: its own script is not covered"
        for path in freshness.COVERS[name]:
            assert (ROOT / path).exists(), f"{name} covers {path}, which does not exist"


def test_published_figures_describe_the_code_that_ships():
    problems = freshness.stale(freshness.load_results())
    assert not problems, "docs/benchmarks.md no longer describes the code: " + "; ".join(
        f'{name} ({why}) → make bench BENCH_ARGS="--only {name}"' for name, why in problems)


def test_a_change_to_measured_code_makes_its_figures_stale():
    # f038670 is where compliance.py regressed (277 s); compliance.py changed after it.
    regressed = {"script": "supervision", "commit": "f03867026267599ae1495024fc155e82ed2d5b74",
                 "dirty": []}

    def supervision(results):
        return [p for p in freshness.stale(results) if p[0] == "supervision"]

    assert supervision([regressed]), "a figure measured before a change must be stale"
    assert supervision([{"script": "supervision"}]), "no commit: stale"
    assert supervision([{"script": "supervision", "commit": "0" * 40, "dirty": []}])
    current = {"script": "supervision", "commit": freshness.head(), "dirty": []}
    assert supervision([current]) == []
    assert supervision([{**current, "dirty": ["fieldwork/supervision/views.py"]}])
    # A script that declares covered code but was never published is stale too.
    assert supervision([]) == [("supervision", "never measured: no result in docs/benchmarks.json")]

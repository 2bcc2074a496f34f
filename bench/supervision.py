"""Benchmark supervision at county scale: dashboard, drill-down and the ledger export.

Run from the repo root: ``python bench/supervision.py [--households 50000] [--runs 7]``.

For SQLite (a file under bench/out/, reused while its marker matches) and PostgreSQL (database
``fieldwork_bench`` on $BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432; created for
the run and dropped afterwards unless --keep-pg; skipped with a note when unreachable), it builds
the seed-scale dataset (fieldwork/devdata/scale.py), then measures, each as the median of
--runs runs after one warm-up, inside an app context:

* dashboard: compliance.totals + compliance.breakdown for a county officer (county → streets)
  and for the city supervisor (city → counties), current month;
* drill-down: a street (→ communities) and a community (→ helpers), as the county officer;
* the same numbers computed by ONE hand-written SQL aggregate, and the ratio service / SQL
  (the two must agree: the script stops if they do not);
* the full dashboard pages of the county, its busiest street and community, as the county
  officer (through the test client: totals, breakdown, the 12-month trend, the overdue list,
  the map, the review count), against a 1 s target;
* the XLSX ledger export of the whole county through the real view (test client), in a child
  process: wall time and peak resident memory (ru_maxrss), next to the process's RSS before.

Prints a table, then one line ``BENCH_JSON {"figures": [...]}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    OUT,
    REPO_ROOT,
    figure,
    machine,
    make_app,
    median_ms,
    pg_admin,
    pg_comment,
    pg_drop,
    pg_recreate,
    pg_set_comment,
    pg_url,
    print_bench_json,
    print_table,
)

PG_DB = "fieldwork_bench"
COUNTY = "411302"
SEED = 20231221
DASH_TARGET_MS = 200
PAGE_TARGET_MS = 1000  # the whole page, issue 18
RATIO_TARGET = 1.5
EXPORT_TARGET_S = 10
PEAK_TARGET_MB = 150

# The helper a month is attributed to (compliance.responsible_helper), per household row.
HELPER_COL = """,
           (SELECT a.helper_id FROM assignments a
             WHERE a.household_id = per.id AND a.start_date <= :last
               AND (a.end_date IS NULL OR a.end_date >= :first)
             ORDER BY CASE WHEN a.end_date IS NULL OR a.end_date >= :last THEN 0 ELSE 1 END,
                      a.start_date DESC, a.id DESC
             LIMIT 1) AS helper_id"""

# One statement for the figures of compliance.totals + compliance.breakdown, written by hand
# from the rules in compliance.py's docstring: due households of the scope, each with its
# valid visits of the month and of the month before (one pass over the visits index), then
# grouped by the child level ({group}: county_id, street_id, place_id or the helper).
HAND_SQL = """
WITH per AS (
    SELECT h.id, h.county_id, h.street_id, h.place_id,
           SUM(CASE WHEN v.month = :month THEN 1 ELSE 0 END) AS n,
           SUM(CASE WHEN v.month = :month AND v.flag_count > 0 THEN 1 ELSE 0 END) AS flagged,
           SUM(CASE WHEN v.month = :prev THEN 1 ELSE 0 END) AS prev_n,
           MAX(CASE WHEN h.enrolled_on < :first THEN 1 ELSE 0 END) AS enrolled_before
    FROM households h
    LEFT JOIN visits v ON v.household_id = h.id AND v.month IN (:month, :prev)
         AND v.review_status <> 'rejected' AND v.superseded = :no
    WHERE {scope}
      AND h.status IN ('enrolled', 'exited')
      AND h.enrolled_on IS NOT NULL AND h.enrolled_on <= :last
      AND (h.exited_on IS NULL OR h.exited_on > :first)
    GROUP BY h.id, h.county_id, h.street_id, h.place_id
),
r AS (
    SELECT per.*, COALESCE(p.visits_per_month, 1) AS req{helper_col}
    FROM per LEFT JOIN policy_settings p ON p.place_id = per.county_id
)
SELECT {group} AS k,
       COUNT(*) AS due,
       SUM(CASE WHEN n >= req THEN 1 ELSE 0 END) AS visited,
       SUM(CASE WHEN n < req AND (:ended OR (enrolled_before = 1 AND prev_n < req))
                THEN 1 ELSE 0 END) AS overdue,
       SUM(flagged) AS flagged,
       SUM(n) AS visits
FROM r
GROUP BY {group}
"""


def marker(households: int, months: int) -> str:
    from fieldwork.timeutil import current_month

    source = (REPO_ROOT / "fieldwork" / "devdata" / "scale.py").read_bytes()
    return json.dumps({"households": households, "months": months, "seed": SEED,
                       "county": COUNTY, "month": current_month(),
                       "generator": hashlib.sha256(source).hexdigest()[:12]}, sort_keys=True)


def build(url: str, households: int, months: int) -> tuple[float, float]:
    from fieldwork.devdata.scale import generate
    from fieldwork.extensions import db

    app = make_app(url)
    with app.app_context():
        db.create_all()
        result = generate(COUNTY, households, months, SEED, echo=lambda s: print(s, flush=True))
        print("  " + result.summary(), flush=True)
        db.engine.dispose()
    return result.seconds, result.cpu_seconds


def prepare_sqlite(args) -> tuple[str, tuple[float, float] | None]:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"supervision-{args.households}.db"
    mark_file = path.with_suffix(".marker")
    mark = marker(args.households, args.months)
    url = f"sqlite:///{path}"
    if not args.rebuild and path.exists() and mark_file.exists() and \
            mark_file.read_text() == mark:
        print(f"SQLite: reusing {path.relative_to(REPO_ROOT)}")
        return url, None
    path.unlink(missing_ok=True)
    mark_file.unlink(missing_ok=True)
    print(f"SQLite: building {path.relative_to(REPO_ROOT)} …", flush=True)
    seconds = build(url, args.households, args.months)
    mark_file.write_text(mark)
    return url, seconds


def prepare_pg(args, admin) -> tuple[str, tuple[float, float] | None]:
    mark = marker(args.households, args.months)
    url = pg_url(PG_DB)
    if not args.rebuild and pg_comment(admin, PG_DB) == mark:
        print(f"PostgreSQL: reusing database {PG_DB}")
        return url, None
    print(f"PostgreSQL: building database {PG_DB} …", flush=True)
    pg_recreate(admin, PG_DB)
    seconds = build(url, args.households, args.months)
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    pg_set_comment(admin, PG_DB, mark)
    return url, seconds


def hand_sql(level: str, scope: str, params: dict[str, Any]) -> dict[Any, tuple]:
    """Run HAND_SQL grouped by the child level; {key: (due, visited, overdue, flagged, visits)}."""
    import sqlalchemy as sa

    from fieldwork.extensions import db

    helper = level == "helper"
    sql = HAND_SQL.format(
        scope=scope,
        group={"county": "county_id", "street": "street_id", "community": "place_id",
               "helper": "helper_id"}[level],
        helper_col=HELPER_COL if helper else "",
    )
    stmt = sa.text(sql).bindparams(
        sa.bindparam("first", type_=sa.Date), sa.bindparam("last", type_=sa.Date),
        sa.bindparam("ended", type_=sa.Boolean), sa.bindparam("no", type_=sa.Boolean))
    return {row.k: (row.due, int(row.visited), int(row.overdue), int(row.flagged or 0),
                    int(row.visits or 0))
            for row in db.session.execute(stmt, params)}


def as_tuple(c) -> tuple:
    return (c.due, c.visited, c.overdue, c.flagged, c.visits)


def measure(url: str, label: str, args) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from fieldwork.access.scope import household_clause
    from fieldwork.accounts.models import User
    from fieldwork.devdata.scale import SCALE_PASSWORD
    from fieldwork.extensions import db
    from fieldwork.households.models import Household
    from fieldwork.places.models import Place
    from fieldwork.supervision import compliance
    from fieldwork.timeutil import add_months, current_month, month_first_day, month_last_day

    figures: list[dict[str, Any]] = []
    app = make_app(url)
    with app.app_context():
        month = current_month()
        params = {"month": month, "prev": add_months(month, -1),
                  "first": month_first_day(month), "last": month_last_day(month),
                  "ended": month < current_month(), "no": False}
        officer = db.session.scalar(sa.select(User).where(
            User.username == f"scale-{COUNTY}-county"))
        city_user = db.session.scalar(sa.select(User).where(User.username == "scale-city"))
        county = officer.place
        city = city_user.place
        # The busiest street and, in it, the busiest community.
        street_id = db.session.scalar(
            sa.select(Household.street_id).where(Household.county_id == county.id)
            .group_by(Household.street_id).order_by(sa.func.count().desc()).limit(1))
        street = db.session.get(Place, street_id)
        community_id = db.session.scalar(
            sa.select(Household.place_id).where(Household.street_id == street.id)
            .group_by(Household.place_id).order_by(sa.func.count().desc()).limit(1))
        community = db.session.get(Place, community_id)
        due = compliance.totals(household_clause(officer), month).due
        print(f"\n{label}: county {county.name} ({due:,} households due in {month}), "
              f"street {street.name}, community {community.name}")

        cases = [
            ("dashboard county officer (totals + streets)", officer, county, None,
             "street", f"h.county_id = {county.id}"),
            ("dashboard city supervisor (totals + counties)", city_user, city, None,
             "county", "1 = 1"),
            ("drill-down street → communities", officer, street,
             Household.street_id == street.id, "community",
             f"h.county_id = {county.id} AND h.street_id = {street.id}"),
            ("drill-down community → helpers", officer, community,
             Household.place_id == community.id, "helper",
             f"h.county_id = {county.id} AND h.place_id = {community.id}"),
        ]
        for name, user, place, extra, level, scope in cases:
            clause = household_clause(user)

            def service(clause=clause, place=place, extra=extra):
                return (compliance.totals(clause, month, extra),
                        compliance.breakdown(place, clause, month))

            def hand(level=level, scope=scope):
                return hand_sql(level, scope, params)

            service_ms, (totals, rows) = median_ms(service, args.runs)
            hand_ms, by_key = median_ms(hand, args.runs)
            _check(name, totals, rows, by_key, level)
            ratio = service_ms / hand_ms if hand_ms else float("inf")
            figures.append(figure(f"{label}: {name}", round(service_ms, 1), "ms",
                                  f"≤ {DASH_TARGET_MS} ms", service_ms <= DASH_TARGET_MS))
            figures.append(figure(f"{label}: {name} / hand SQL ({hand_ms:.1f} ms)",
                                  round(ratio, 2), "×", f"≤ {RATIO_TARGET}×",
                                  ratio <= RATIO_TARGET))

        client = app.test_client()
        client.post("/login", data={"username": officer.username, "password": SCALE_PASSWORD})
        pages = [("county", "/supervision/"),
                 ("street", f"/supervision/place/{street.id}"),
                 ("community", f"/supervision/place/{community.id}")]
        for level, path in pages:
            page_ms, response = median_ms(lambda path=path: client.get(path),
                                          max(3, args.runs // 2))
            if response.status_code == 200:
                figures.append(figure(f"{label}: dashboard page GET {path.split('/place/')[0]}"
                                      f"{'/place/…' if '/place/' in path else ''} "
                                      f"({level}, full)", round(page_ms, 1), "ms",
                                      f"≤ {PAGE_TARGET_MS} ms", page_ms <= PAGE_TARGET_MS))
            else:
                print(f"  GET {path} answered {response.status_code}: not measured")
        db.session.remove()
        db.engine.dispose()

    export = run_export_child(url)
    print(f"  export: {export['rows']:,} rows, {export['bytes'] / 1e6:.1f} MB xlsx, "
          f"{export['seconds']:.2f} s wall, {export['cpu']:.2f} s CPU; "
          f"RSS before {export['baseline_mb']:.0f} MB, peak {export['peak_mb']:.0f} MB")
    figures.append(figure(f"{label}: XLSX ledger export, whole county ({export['rows']:,} rows, "
                          f"CPU {export['cpu']:.1f} s)",
                          round(export["seconds"], 2), "s", f"≤ {EXPORT_TARGET_S} s",
                          export["seconds"] <= EXPORT_TARGET_S))
    figures.append(figure(f"{label}: XLSX export peak memory (process RSS)",
                          round(export["peak_mb"], 1), "MB", f"≤ {PEAK_TARGET_MB} MB",
                          export["peak_mb"] <= PEAK_TARGET_MB))
    return figures


def _check(name: str, totals, rows, by_key: dict, level: str) -> None:
    """The service and the hand-written SQL must give the same numbers."""
    summed = [0, 0, 0, 0, 0]
    for value in by_key.values():
        summed = [a + b for a, b in zip(summed, value, strict=True)]
    problems = []
    if as_tuple(totals) != tuple(summed):
        problems.append(f"totals {as_tuple(totals)} != SQL {tuple(summed)}")
    for row in rows:
        if row.key is None and level != "helper":
            continue  # households filed directly at the place: compared through the totals
        want = by_key.get(row.key, (0, 0, 0, 0, 0))
        if as_tuple(row.counts) != want:
            problems.append(f"{row.name}: {as_tuple(row.counts)} != SQL {want}")
    if problems:
        raise SystemExit(f"{name}: service and hand SQL disagree: " + "; ".join(problems[:5]))


def run_export_child(url: str) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(Path(__file__).resolve()), "--export-child", url],
        capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("EXPORT_JSON "):
            return json.loads(line[len("EXPORT_JSON "):])
    raise SystemExit(f"export child failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> bool:
    """Reset the process's peak RSS (VmHWM), so the peak is the export's and not the login's
    (scrypt takes 32 MB for a moment). Linux ≥ 4.0."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def export_child(url: str) -> None:
    """In a fresh process: export the county ledger through the real view, report time and
    peak memory."""
    import resource

    from fieldwork.devdata.scale import SCALE_PASSWORD
    from fieldwork.timeutil import today_local

    app = make_app(url)
    with app.app_context():
        client = app.test_client()
        client.post("/login", data={"username": f"scale-{COUNTY}-county",
                                    "password": SCALE_PASSWORD})
        client.get("/ledger/")  # templates, babel and the engine warmed up
        baseline = _status_mb("VmRSS")
        reset = _reset_peak()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        start = time.perf_counter()
        response = client.get(f"/ledger/export.xlsx?year={today_local().year}", buffered=False)
        size = 0
        for chunk in response.response:
            size += len(chunk)
        response.close()
        seconds = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - cpu
        if response.status_code != 200:
            raise SystemExit(f"export answered {response.status_code}")
        from sqlalchemy import select

        from fieldwork.audit.models import AuditEvent
        from fieldwork.extensions import db

        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "ledger.export")
                                  .order_by(AuditEvent.id.desc()).limit(1))
        rows = event.detail["rows"] if event else -1
    peak = _status_mb("VmHWM") if reset else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("EXPORT_JSON " + json.dumps({"seconds": seconds, "cpu": cpu, "bytes": size, "rows": rows,
                                       "baseline_mb": baseline, "peak_mb": peak}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=50_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="build the datasets again")
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--keep-pg", action="store_true", help=f"keep database {PG_DB}")
    parser.add_argument("--export-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(args.export_child)
        return 0

    print(f"machine: {machine()}; {args.households:,} households, {args.months} months; "
          f"median of {args.runs} runs")
    figures: list[dict[str, Any]] = []
    notes: list[str] = []
    if not args.skip_sqlite:
        url, built = prepare_sqlite(args)
        if built is not None:
            figures.append(figure(f"SQLite: seed-scale build (CPU {built[1]:.0f} s)",
                                  round(built[0], 1), "s", "≤ 120 s", built[0] <= 120))
        figures += measure(url, "SQLite", args)
    if not args.skip_pg:
        admin = pg_admin()
        if admin is None:
            notes.append("PostgreSQL skipped: server unreachable")
            print("PostgreSQL: skipped (unreachable)")
        else:
            try:
                url, built = prepare_pg(args, admin)
                if built is not None:
                    figures.append(figure(f"PostgreSQL: seed-scale build (CPU {built[1]:.0f} s)",
                                          round(built[0], 1), "s", "≤ 120 s", built[0] <= 120))
                figures += measure(url, "PostgreSQL", args)
            finally:
                if not args.keep_pg:
                    pg_drop(admin, PG_DB)
                admin.dispose()
    print()
    print(f"machine at the end: {machine()}")
    print_table(figures)
    for note in notes:
        print(f"note: {note}")
    print_bench_json(figures, notes=notes, machine=machine())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Growth: how pull, push, the dashboard and the XLSX export grow with the number of households.

    python bench/growth.py [--sizes 1000,50000,200000] [--sqlite-sizes 1000,50000]
                           [--months 6] [--runs 5] [--rebuild] [--drop]

For each size, a county-scale dataset from fieldwork/devdata/scale.py (``generate``: households with
members, helpers at ~15 households each, --months months of visits, flags and reviews) in
PostgreSQL database ``fieldwork_growth_<size>`` on $BENCH_PG_URL (and, for --sqlite-sizes, in
bench/out/growth-<size>.db). Datasets are kept and reused while their marker (size, months,
seed, month, generator source) matches; --rebuild builds them again, --drop removes the
PostgreSQL ones at the end. Two accounts are added: ``growth-helper`` (a helper with 50
households) and ``growth-community`` (the community worker of the largest community).

Measured in-process through the real views (Flask test client: routing, login, scope, JSON
or XLSX), each the median of --runs runs after a warm-up:

* pull: GET /api/sync/v1/pull (full) for the helper with 50 households, and for the
  community worker (all of the community's households);
* push: POST /api/sync/v1/push of 100 new visit records by that helper;
* dashboard: compliance.totals + compliance.breakdown for the county officer (county →
  streets), current month;
* export: GET /ledger/export.xlsx of the whole county for the year, as the county officer
  (one run).

Build times: about 15 s for 50,000 households and 1–2 minutes for 200,000 on PostgreSQL on a
quiet two-core machine, several times that when the machine is busy. Prints a table, then
``BENCH_JSON {"figures": [...], "growth": {...}}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    OUT,
    REPO_ROOT,
    make_app,
    pg_admin,
    pg_comment,
    pg_drop,
    pg_recreate,
    pg_set_comment,
    pg_url,
)

COUNTY = "411302"
SEED = 20231221
HELPER_HOUSEHOLDS = 50
PUSH_RECORDS = 100
# Targets for one county on one server: a phone's sync and a supervisor's page stay quick.
TARGETS_MS = {"pull, helper (50 households)": 500, "pull, community worker": 1000,
              "push, 100 visits": 2000, "dashboard, county": 500}
EXPORT_TARGET_S = 30
# Bump when build() or add_accounts() changes what a dataset holds.
DATASET_VERSION = "growth-1"
DIMENSIONS = ("income", "housing", "education", "medical", "employment", "elderly")


def marker(households: int, months: int) -> str:
    from fieldwork.timeutil import current_month

    source = (REPO_ROOT / "fieldwork" / "devdata" / "scale.py").read_bytes()
    return json.dumps({"households": households, "months": months, "seed": SEED,
                       "county": COUNTY, "month": current_month(), "bench": DATASET_VERSION,
                       "generator": hashlib.sha256(source).hexdigest()[:12],
                       "schema": schema_digest()}, sort_keys=True)


def schema_digest() -> str:
    """A digest of the tables, columns and indexes the models declare: a dataset built with
    create_all from older models (say, before an index was added) is built again."""
    from fieldwork import models  # noqa: F401 - registers every table
    from fieldwork.extensions import db

    parts = []
    for table in sorted(db.metadata.tables.values(), key=lambda t: t.name):
        columns = [f"{c.name}:{c.type}" for c in table.columns]
        indexes = sorted(f"{i.name}({','.join(c.name for c in i.columns)})"
                         for i in table.indexes)
        parts.append(f"{table.name}|{';'.join(columns)}|{';'.join(indexes)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def add_accounts() -> None:
    """growth-helper with 50 households of the largest community; growth-community there."""
    import sqlalchemy as sa

    from fieldwork.accounts.models import User
    from fieldwork.devdata.scale import SCALE_ACCOUNT_HASH
    from fieldwork.extensions import db
    from fieldwork.households.models import Assignment, Household

    community_id = db.session.scalar(
        sa.select(Household.place_id).group_by(Household.place_id)
        .order_by(sa.func.count().desc(), Household.place_id).limit(1))
    helper = User(username="growth-helper", role="helper", place_id=community_id,
                  display_name="增长测试帮扶干部", password_hash=SCALE_ACCOUNT_HASH)
    worker = User(username="growth-community", role="community_worker", place_id=community_id,
                  display_name="增长测试社区干部", password_hash=SCALE_ACCOUNT_HASH)
    db.session.add_all([helper, worker])
    db.session.flush()
    ids = list(db.session.scalars(
        sa.select(Household.id).where(Household.place_id == community_id,
                                      Household.status.in_(("enrolled", "watch")))
        .order_by(Household.id).limit(HELPER_HOUSEHOLDS)))
    db.session.execute(sa.update(Assignment).where(
        Assignment.household_id.in_(ids), Assignment.end_date.is_(None)).values(
        helper_id=helper.id))
    db.session.commit()


def build(url: str, households: int, months: int) -> float:
    from fieldwork.devdata.scale import generate
    from fieldwork.extensions import db

    started = time.perf_counter()
    app = make_app(url, OUT / "growth-instance")
    with app.app_context():
        db.create_all()
        generate(COUNTY, households, months, SEED,
                          echo=lambda s: print("   ", s, flush=True))
        add_accounts()
        db.engine.dispose()
    return time.perf_counter() - started


def prepare(kind: str, households: int, months: int, rebuild: bool, admin) -> tuple[str, float]:
    mark = marker(households, months)
    if kind == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"growth-{households}.db"
        mark_file = path.with_suffix(".marker")
        url = f"sqlite:///{path}"
        if not rebuild and path.exists() and mark_file.exists() and \
                mark_file.read_text() == mark:
            return url, 0.0
        for p in (path, mark_file, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        print(f"  SQLite: building {households:,} households …", flush=True)
        seconds = build(url, households, months)
        mark_file.write_text(mark)
        return url, seconds
    name = f"fieldwork_growth_{households}"
    url = pg_url(name)
    if not rebuild and pg_comment(admin, name) == mark:
        return url, 0.0
    print(f"  PostgreSQL: building {households:,} households in {name} …", flush=True)
    pg_recreate(admin, name)
    seconds = build(url, households, months)
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    pg_set_comment(admin, name, mark)
    return url, seconds


def timed(fn, runs: int, warmup: int = 1) -> tuple[float, Any]:
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def measure(url: str, runs: int) -> dict[str, Any]:
    import sqlalchemy as sa

    from fieldwork.access.scope import household_clause
    from fieldwork.accounts.models import User
    from fieldwork.devdata.scale import SCALE_PASSWORD
    from fieldwork.extensions import db
    from fieldwork.households.models import Assignment, Household
    from fieldwork.supervision import compliance
    from fieldwork.timeutil import current_month, today_local

    app = make_app(url, OUT / "growth-instance")
    out: dict[str, Any] = {}
    # Requests run outside any app context: a context held open here would be reused by the
    # test client's requests, and with it Flask-Login's user in `g` from one client to the next.
    with app.app_context():
        out["households"] = db.session.scalar(sa.select(sa.func.count(Household.id)))
        out["visits"] = db.session.scalar(sa.text("select count(*) from visits"))
        helper_id = db.session.scalar(sa.select(User.id).where(User.username == "growth-helper"))
        officer_name = f"scale-{COUNTY}-county"
        mine = list(db.session.scalars(sa.select(Assignment.household_id).where(
            Assignment.helper_id == helper_id, Assignment.end_date.is_(None))))
        db.session.remove()

    def client_for(username: str):
        client = app.test_client()
        response = client.post("/login", data={"username": username,
                                               "password": SCALE_PASSWORD})
        if response.status_code != 302:
            raise SystemExit(f"login as {username} failed: {response.status_code}")
        return client

    helper_client = client_for("growth-helper")
    community_client = client_for("growth-community")

    def pull(client):
        response = client.get("/api/sync/v1/pull")
        if response.status_code != 200:
            raise SystemExit(f"pull answered {response.status_code}")
        return response.get_json()

    ms, data = timed(lambda: pull(helper_client), runs)
    out["pull, helper (50 households)"] = ms
    out["pull helper households"] = len(data.get("households", []))
    ms, data = timed(lambda: pull(community_client), runs)
    out["pull, community worker"] = ms
    out["pull community households"] = len(data.get("households", []))

    def push():
        now = datetime.now(UTC)
        records = [{
            "type": "visit", "id": str(uuid.uuid4()), "household_id": str(mine[i % len(mine)]),
            "visited_at": (now - timedelta(minutes=5, seconds=i * 7)).isoformat(),
            "location": {"lat": 32.99, "lon": 112.54, "accuracy_m": 12, "source": "gps"},
            "answers": {"present": "户主", "household_income": 1000,
                        **{f"{d}_status": "ok" for d in DIMENSIONS}},
            "notes": "", "supersedes": None, "photos": []} for i in range(PUSH_RECORDS)]
        response = helper_client.post("/api/sync/v1/push", json={
            "device_id": "growth-bench", "records": records})
        if response.status_code != 200:
            raise SystemExit(f"push answered {response.status_code}: {response.data[:300]}")
        bad = [r for r in response.get_json()["results"] if r["status"] != "created"]
        if bad:
            raise SystemExit(f"push: {len(bad)} records not created, e.g. {bad[0]}")

    out["push, 100 visits"], _ = timed(push, max(1, runs // 2 + 1))

    with app.app_context():
        officer = db.session.scalar(sa.select(User).where(User.username == officer_name))
        month = current_month()
        clause = household_clause(officer)
        county = officer.place

        def dashboard():
            return (compliance.totals(clause, month), compliance.breakdown(county, clause, month))

        out["dashboard, county"], (totals, _rows) = timed(dashboard, runs)
        out["dashboard due households"] = totals.due
        db.session.remove()

    officer_client = client_for(officer_name)
    officer_client.get("/ledger/")
    start = time.perf_counter()
    response = officer_client.get(f"/ledger/export.xlsx?year={today_local().year}",
                                  buffered=False)
    size = sum(len(chunk) for chunk in response.response)
    response.close()
    out["export, county XLSX"] = time.perf_counter() - start
    out["export bytes"] = size
    if response.status_code != 200:
        raise SystemExit(f"export answered {response.status_code}")
    with app.app_context():
        db.engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,50000,200000")
    parser.add_argument("--sqlite-sizes", default="1000,50000")
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--drop", action="store_true", help="drop the PostgreSQL databases")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    sqlite_sizes = [int(s) for s in args.sqlite_sizes.split(",") if s]

    admin = pg_admin()
    plan = [("PostgreSQL", "pg", n) for n in sizes] if admin else []
    plan += [("SQLite", "sqlite", n) for n in sqlite_sizes]
    results: dict[str, dict[int, dict[str, Any]]] = {}
    figures: list[dict[str, Any]] = []
    for label, kind, n in plan:
        print(f"{label}, {n:,} households:", flush=True)
        url, build_s = prepare(kind, n, args.months, args.rebuild, admin)
        if build_s:
            print(f"  built in {build_s:.0f} s", flush=True)
        row = measure(url, args.runs)
        row["build seconds"] = round(build_s, 1)
        results.setdefault(label, {})[n] = row
        print(f"  {row['households']:,} households, {row['visits']:,} visits: "
              f"pull helper {row['pull, helper (50 households)']:.0f} ms "
              f"({row['pull helper households']} households), community "
              f"{row['pull, community worker']:.0f} ms ({row['pull community households']}), "
              f"push 100 {row['push, 100 visits']:.0f} ms, dashboard "
              f"{row['dashboard, county']:.0f} ms, export {row['export, county XLSX']:.1f} s "
              f"({row['export bytes'] / 1e6:.1f} MB)", flush=True)
        for key, target in TARGETS_MS.items():
            figures.append({"name": f"growth {label} {n:,}: {key}",
                            "value": round(row[key], 1), "unit": "ms",
                            "target": f"≤ {target} ms", "met": row[key] <= target})
        figures.append({"name": f"growth {label} {n:,}: XLSX export, whole county",
                        "value": round(row["export, county XLSX"], 1), "unit": "s",
                        "target": f"≤ {EXPORT_TARGET_S} s",
                        "met": row["export, county XLSX"] <= EXPORT_TARGET_S})
    if admin is not None:
        if args.drop:
            for n in sizes:
                pg_drop(admin, f"fieldwork_growth_{n}")
        admin.dispose()
    else:
        print("PostgreSQL unreachable: SQLite only")

    print("\nbackend      households   pull helper  pull community  push 100  dashboard  export")
    for label, by_size in results.items():
        for n, row in by_size.items():
            print(f"{label:<12} {n:>10,} {row['pull, helper (50 households)']:>10.0f} ms "
                  f"{row['pull, community worker']:>12.0f} ms {row['push, 100 visits']:>7.0f} ms "
                  f"{row['dashboard, county']:>8.0f} ms {row['export, county XLSX']:>6.1f} s")
    growth = {label: {str(n): {k: (round(v, 2) if isinstance(v, float) else v)
                               for k, v in row.items()} for n, row in by_size.items()}
              for label, by_size in results.items()}
    print("BENCH_JSON " + json.dumps({"figures": figures, "growth": growth,
                                      "months": args.months}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

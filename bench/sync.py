"""Sync throughput: push ingest (records/s) against a plain bulk insert of the same rows in
the same run, and pull time and payload for a helper with 50 households and a community
worker with 2,000. SQLite always; PostgreSQL too when it answers on 127.0.0.1:5432.

    python bench/sync.py
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from live import PASSWORD, make_app, seed_households, seed_places, seed_user  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RECORDS = 1000
DIMS = ("income", "housing", "education", "medical", "employment", "elderly")


def visit(household_id: int, i: int) -> dict:
    return {
        "type": "visit", "id": str(uuid.uuid4()), "household_id": str(household_id),
        "visited_at": (datetime.now(UTC) - timedelta(hours=2, seconds=i)).isoformat(),
        "location": {"lat": 32.99, "lon": 112.54, "accuracy_m": 12, "source": "gps"},
        "answers": {"present": "户主", "household_income": 1500,
                    **{f"{d}_status": "ok" for d in DIMS}},
        "notes": "", "photos": [], "supersedes": None,
    }


def login(app, username):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": username, "password": PASSWORD,
                                "csrf_token": token})
    csrf = client.get("/api/sync/v1/session").json["csrf_token"]
    return client, csrf


def median_time(fn, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(database_url: str | None, label: str) -> list[dict]:
    from fieldwork.extensions import db
    from fieldwork.timeutil import month_key
    from fieldwork.visits.models import Visit

    app = make_app(database_url)
    places = seed_places(app)
    helper_id = seed_user(app, "bench-helper", "helper", places["street"])
    helper_households = seed_households(app, 50, places["communities"][:1], helper_id)
    community = places["communities"][1]
    seed_user(app, "bench-community", "community_worker", community)
    seed_households(app, 2000, [community], None)

    client, csrf = login(app, "bench-helper")
    records = [visit(helper_households[i % 50], i) for i in range(RECORDS)]
    started = time.perf_counter()
    for i in range(0, RECORDS, 100):
        resp = client.post("/api/sync/v1/push", json={"device_id": "bench", "records":
                                                      records[i:i + 100]},
                           headers={"X-CSRFToken": csrf})
        assert resp.status_code == 200, resp.data[:300]
        assert all(r["status"] == "created" for r in resp.json["results"])
    push_s = time.perf_counter() - started

    # The same rows, written the plainest way: one bulk INSERT, no validation, no checks.
    with app.app_context():
        rows = []
        for r in records:
            at = datetime.fromisoformat(r["visited_at"])
            rows.append({"id": str(uuid.uuid4()), "household_id": int(r["household_id"]),
                         "helper_id": helper_id, "visited_at": at, "month": month_key(at),
                         "recorded_at": datetime.now(UTC), "lat": 32.99, "lon": 112.54,
                         "accuracy_m": 12.0, "answers": r["answers"], "notes": "",
                         "flags": [], "flag_count": 0, "review_status": "none",
                         "superseded": False, "content_hash": "", "photos_declared": 0,
                         "photos_stored": 0, "form_version": 1})
        started = time.perf_counter()
        for i in range(0, RECORDS, 100):
            db.session.execute(sa.insert(Visit), rows[i:i + 100])
            db.session.commit()
        bulk_s = time.perf_counter() - started

    def pull_of(username):
        c, _ = login(app, username)
        sizes = {}

        def once():
            resp = c.get("/api/sync/v1/pull")
            assert resp.status_code == 200
            sizes["raw"] = len(resp.data)
            sizes["households"] = len(resp.json["households"])
        t = median_time(once)
        c.get("/api/sync/v1/pull")
        raw = c.get("/api/sync/v1/pull").data
        sizes["gzip"] = len(gzip.compress(raw, 6))
        return t, sizes

    helper_t, helper_sizes = pull_of("bench-helper")
    community_t, community_sizes = pull_of("bench-community")
    push_rate, bulk_rate = RECORDS / push_s, RECORDS / bulk_s
    print(f"[{label}] push ingest {push_rate:.0f} records/s (through the API, validated, "
          f"flags, idempotency); plain bulk insert {bulk_rate:.0f} rows/s; "
          f"ratio {bulk_rate / push_rate:.1f}×")
    print(f"[{label}] pull helper ({helper_sizes['households']} households): "
          f"{helper_t * 1000:.0f} ms, {helper_sizes['raw'] / 1024:.1f} KB "
          f"({helper_sizes['gzip'] / 1024:.1f} KB gzip)")
    print(f"[{label}] pull community worker ({community_sizes['households']} households): "
          f"{community_t * 1000:.0f} ms, {community_sizes['raw'] / 1024:.0f} KB "
          f"({community_sizes['gzip'] / 1024:.0f} KB gzip)")
    with app.app_context():
        db.engine.dispose()
    return [
        {"name": f"push ingest, records/s ({label})", "value": round(push_rate),
         "unit": "records/s", "target": "info", "met": True},
        {"name": f"plain bulk insert of the same rows ({label})", "value": round(bulk_rate),
         "unit": "rows/s", "target": "info", "met": True},
        {"name": f"bulk insert ÷ push ingest ({label})", "value": round(bulk_rate / push_rate, 2),
         "unit": "×", "target": "info", "met": True},
        {"name": f"pull, helper with 50 households ({label})",
         "value": round(helper_t * 1000, 1), "unit": "ms", "target": "info", "met": True},
        {"name": f"pull payload, helper with 50 households ({label})",
         "value": round(helper_sizes["gzip"] / 1024, 1), "unit": "KB gzip",
         "target": "info", "met": True},
        {"name": f"pull, community worker with 2,000 households ({label})",
         "value": round(community_t * 1000), "unit": "ms", "target": "info", "met": True},
        {"name": f"pull payload, community worker with 2,000 households ({label})",
         "value": round(community_sizes["gzip"] / 1024), "unit": "KB gzip",
         "target": "info", "met": True},
    ]


def postgres_url() -> str | None:
    try:
        engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("DROP DATABASE IF EXISTS fieldwork_bench_sync WITH (FORCE)"))
            conn.execute(sa.text("CREATE DATABASE fieldwork_bench_sync"))
        engine.dispose()
    except sa.exc.OperationalError:
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + "/fieldwork_bench_sync"


def drop_postgres() -> None:
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS fieldwork_bench_sync WITH (FORCE)"))
    engine.dispose()


def main() -> None:
    figures = run(None, "SQLite")
    url = postgres_url()
    if url:
        try:
            figures += run(url, "PostgreSQL")
        finally:
            drop_postgres()
    else:
        print("PostgreSQL not reachable on 127.0.0.1:5432: skipped")
    print("BENCH_JSON " + json.dumps({"figures": figures}, ensure_ascii=False))


if __name__ == "__main__":
    main()

"""Helpers shared by the benchmark scripts: timing, the figure table, BENCH_JSON, PostgreSQL
scratch databases and a Flask app on a given database."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT = REPO_ROOT / "bench" / "out"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

PG_BASE = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 1) -> tuple[float, Any]:
    """Median wall time of fn in milliseconds over runs (after warm-up), and its last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def figure(name: str, value: float, unit: str, target: str, met: bool,
           **extra: Any) -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "met": bool(met),
            **extra}


# ---------------------------------------------------------------- the phone in a browser

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def launch_chromium(pw: Any) -> Any:
    """The system Chromium, headless, as the browser benchmarks drive it (Playwright)."""
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])


def phone(pw: Any, **over: Any) -> dict[str, Any]:
    """A helper's phone: the Pixel 7 profile, Chinese, China time (new_context arguments)."""
    return {**pw.devices["Pixel 7"], "locale": "zh-CN", "timezone_id": "Asia/Shanghai", **over}


def print_table(figures: list[dict[str, Any]]) -> None:
    width = max([len(f["name"]) for f in figures] + [20])
    print(f"{'figure':<{width}} {'value':>14}  {'target':<10} met")
    for f in figures:
        value = f"{f['value']} {f['unit']}"
        print(f"{f['name']:<{width}} {value:>14}  {f['target']:<10} {'yes' if f['met'] else 'NO'}")


def print_bench_json(figures: list[dict[str, Any]], **extra: Any) -> None:
    print("BENCH_JSON " + json.dumps({"figures": figures, **extra}, ensure_ascii=False))


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (f"{platform.machine()} {cpus} CPU, Python {platform.python_version()}, "
            f"load {load:.1f}")


def pg_url(database: str, base: str = PG_BASE) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(base)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    return url.set(database=database).render_as_string(hide_password=False)


def pg_admin():
    """An autocommit engine on the maintenance database, or None when PostgreSQL is down."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url("postgres"), isolation_level="AUTOCOMMIT",
                              connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL unreachable at {PG_BASE}: {str(exc.orig).strip()[:200]}")
        engine.dispose()
        return None
    return engine


def pg_comment(engine, name: str) -> str | None:
    """The comment on database name (our reuse marker), or None if it does not exist."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "select d.datname, shobj_description(d.oid, 'pg_database') from pg_database d "
            "where d.datname = :n"), {"n": name}).first()
    if row is None:
        return None
    return row[1] or ""


def pg_recreate(engine, name: str) -> None:
    import sqlalchemy as sa

    pg_drop(engine, name)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))


def pg_set_comment(engine, name: str, comment: str) -> None:
    import sqlalchemy as sa

    with engine.connect() as conn:
        quoted = comment.replace("'", "''")
        conn.execute(sa.text(f"COMMENT ON DATABASE \"{name}\" IS '{quoted}'"))


def pg_drop(engine, name: str) -> None:
    import sqlalchemy as sa

    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))


def make_app(database_url: str, instance: Path | None = None):
    """The fieldwork app on database_url, with a benchmark instance folder (its keys persist,
    so a reused dataset can still be decrypted)."""
    from fieldwork import create_app

    instance = instance or OUT / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    return create_app({
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(instance),
        "PHOTO_DIR": str(instance / "photos"),
        "FIELDWORK_ENV": "development",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "localhost",
    })

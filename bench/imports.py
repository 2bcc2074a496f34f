"""Benchmark the household import (households/imports): one XLSX of 50,000 households with
120,000 members, checked (dry run) and imported into an empty county.

Run from the repo root: ``python bench/imports.py [--households 50000] [--members 120000]``.

The file is generated once (openpyxl write-only, text cells as the template asks) under
bench/out/ and reused. For SQLite (a fresh file under bench/out/) and PostgreSQL (database
``fieldwork_bench_import`` on $BENCH_PG_URL, created for the run and dropped afterwards;
skipped with a note when unreachable), a child process builds the schema (create_all), a
city, the county 411302 with 4 streets × 10 communities and 60 helpers, then times
``imports.check`` and ``imports.run`` + commit, each in the same process, and reports its peak
resident memory (ru_maxrss, the whole process: interpreter, app and the import). Targets
(issue 15): the import ≤ 60 s and ≤ 300 MB peak on each database.

Prints a table, then one line ``BENCH_JSON {"figures": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from common import (
    OUT,
    REPO_ROOT,
    figure,
    machine,
    make_app,
    pg_admin,
    pg_drop,
    pg_recreate,
    pg_url,
    print_bench_json,
    print_table,
)

PG_DB = "fieldwork_bench_import"
COUNTY = "411302"
STREETS, COMMUNITIES, HELPERS = 4, 10, 60
IMPORT_TARGET_S = 60
PEAK_TARGET_MB = 300
CATEGORIES = ("收入低于城镇低保线", "略高于城镇低保线致困", "支出突增致困", "城镇特困供养人员")
CAUSES = ("重大疾病", "残疾、下岗失业", "子女教育", "意外灾难")
RELATIONS = ("配偶", "子女", "父母", "孙子女")


def id_number(n: int, year: int) -> str:
    from fieldwork.privacy.idnumber import make_test_id_number

    return make_test_id_number("411302", date(year, 1, 1) + timedelta(days=n % 3650),
                               n // 3650 % 1000)


def generate(path: Path, households: int, members: int) -> None:
    """The XLSX: 家庭 and 成员 sheets, headers of the template, members spread over households."""
    from openpyxl import Workbook

    from fieldwork.households.imports import columns as cols

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(cols.HOUSEHOLD_SHEET)
    ws.append([c.header for c in cols.household_columns()])
    for i in range(households):
        community = f"{COUNTY}{i % STREETS + 1:03d}{i % COMMUNITIES + 1:03d}"
        ws.append(["", community, f"户主{i}", id_number(i, 1950 + i // 3650 % 40),
                   CATEGORIES[i % 4], CAUSES[i % 4], f"建设路{i}号", f"138{i:08d}",
                   str(300 + i % 400), f"{2020 + i % 5}-0{1 + i % 9}-1{i % 10}",
                   f"helper-{i % HELPERS}", f"{32.9 + (i % 1000) / 10000:.6f}",
                   f"{112.5 + (i % 997) / 10000:.6f}", "GCJ-02" if i % 3 else "WGS-84"])
    ws2 = wb.create_sheet(cols.MEMBER_SHEET)
    ws2.append([c.header for c in cols.member_columns()])
    for j in range(members):
        head = j * households // members
        ws2.append([id_number(head, 1950 + head // 3650 % 40), f"成员{j}",
                    id_number(j, 1995 + j // 3650 % 15) if j % 10 else "",
                    RELATIONS[j % 4], "2015-06-01" if j % 10 == 0 else "",
                    "慢性病" if j % 7 == 0 else "", "", "", "小学" if j % 4 == 1 else "",
                    "", "灵活就业" if j % 5 == 0 else "", str(j % 2000) if j % 3 == 0 else "",
                    ""])
    wb.save(path)


def seed(app) -> None:
    from werkzeug.security import generate_password_hash

    from fieldwork.accounts.models import User
    from fieldwork.extensions import db
    from fieldwork.places.models import Place, PolicySettings

    with app.app_context():
        db.create_all()

        def add(code, name, level, parent):
            p = Place(code=code, name=name, level=level, parent=parent)
            db.session.add(p)
            db.session.flush()
            p.path = f"{parent.path if parent else '/'}{p.id}/"
            return p

        city = add("411300", "南阳市", "city", None)
        county = add(COUNTY, "宛城区", "county", city)
        db.session.add(PolicySettings(place=county))
        streets = [add(f"{COUNTY}{s + 1:03d}", f"街道{s + 1}", "street", county)
                   for s in range(STREETS)]
        for s, street in enumerate(streets):
            for c in range(COMMUNITIES):
                add(f"{COUNTY}{s + 1:03d}{c + 1:03d}", f"社区{s + 1}-{c + 1}", "community",
                    street)
        hashed = generate_password_hash("bench-pass-123", method="pbkdf2:sha256:1000")
        for h in range(HELPERS):
            db.session.add(User(username=f"helper-{h}", role="helper", place=streets[h % STREETS],
                                display_name=f"帮扶{h}", password_hash=hashed))
        db.session.commit()


def child(url: str, xlsx: Path) -> None:
    """One backend: seed, dry run, import; prints one JSON line."""
    from fieldwork.extensions import db
    from fieldwork.households.imports import services as imports
    from fieldwork.places.models import Place

    app = make_app(url, OUT / "instance_imports")
    seed(app)
    data = xlsx.read_bytes()
    with app.app_context():
        import sqlalchemy as sa

        county = db.session.scalar(sa.select(Place).where(Place.code == COUNTY))
        start = time.perf_counter()
        report = imports.check(data, county)
        dry = time.perf_counter() - start
        if not report.ok:
            print("problems:", [p for p in report.problems[:10]], file=sys.stderr)
            sys.exit(2)
        db.session.rollback()
        start = time.perf_counter()
        report = imports.run(data, county, user=None, filename=xlsx.name)
        db.session.commit()
        real = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"dry_s": round(dry, 1), "import_s": round(real, 1),
                          "peak_mb": round(peak), "created": report.created,
                          "members": report.members}))


def measure(label: str, url: str, xlsx: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, __file__, "--child", url, str(xlsx)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=1800)
    if proc.returncode != 0:
        print(proc.stderr[-3000:])
        raise SystemExit(f"{label}: child failed")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{label}: {out}")
    return [
        figure(f"import {label}: dry run", out["dry_s"], "s", f"≤ {IMPORT_TARGET_S} s",
               out["dry_s"] <= IMPORT_TARGET_S),
        figure(f"import {label}: import", out["import_s"], "s", f"≤ {IMPORT_TARGET_S} s",
               out["import_s"] <= IMPORT_TARGET_S, created=out["created"],
               members=out["members"]),
        figure(f"import {label}: peak memory", out["peak_mb"], "MB", f"≤ {PEAK_TARGET_MB} MB",
               out["peak_mb"] <= PEAK_TARGET_MB),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=50000)
    parser.add_argument("--members", type=int, default=120000)
    parser.add_argument("--child", nargs=2, metavar=("URL", "XLSX"))
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    xlsx = OUT / f"import_{args.households}_{args.members}.xlsx"
    if not xlsx.exists():
        start = time.perf_counter()
        generate(xlsx, args.households, args.members)
        print(f"generated {xlsx.name} ({xlsx.stat().st_size / 1048576:.1f} MB) in "
              f"{time.perf_counter() - start:.0f} s")
    print(machine())
    figures = []
    sqlite_file = OUT / "bench_imports.db"
    sqlite_file.unlink(missing_ok=True)
    figures += measure("SQLite", f"sqlite:///{sqlite_file}", xlsx)
    sqlite_file.unlink(missing_ok=True)
    engine = None if args.skip_pg else pg_admin()
    if engine is not None:
        pg_recreate(engine, PG_DB)
        try:
            figures += measure("PostgreSQL", pg_url(PG_DB), xlsx)
        finally:
            pg_drop(engine, PG_DB)
            engine.dispose()
    print_table(figures)
    print_bench_json(figures)
    return 0 if all(f["met"] for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Guard against a supervision query that degrades with the size of the data (issue 18).

No timing: the work the database does for the dashboard pages is counted, at two sizes of the
same synthetic county (fieldwork/devdata/scale.py), and must grow no faster than the data. A
query that turns into a nested scan (as f038670 did on SQLite: 0.7 s → 277 s at 50,000
households) does work that grows with the square of the size, and fails here long before
anyone waits on it.

How work is counted, per dialect, on every SELECT the page sent (captured as the page ran, then
replayed with the same parameters):
- SQLite: virtual-machine steps, through sqlite3's progress handler (deterministic for the
  same data and plan);
- PostgreSQL: rows handled by every node of EXPLAIN ANALYZE (rows produced plus rows removed
  by filters, times loops) — a sequential scan inside a loop shows up as loops × table size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from fieldwork.accounts.models import User
from fieldwork.devdata.scale import SCALE_PASSWORD, generate, reset_all
from fieldwork.households.models import Household

COUNTY = "411302"
SMALL, LARGE = 150, 600  # households; LARGE = 4 × SMALL
# Linear work grows 4× (less, with fixed costs); a nested scan grows about 16×.
MAX_GROWTH = 6.0


@dataclass
class Capture:
    statements: list[tuple[str, object]] = field(default_factory=list)

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")) and not executemany:
            self.statements.append((statement, parameters))


def _sqlite_work(engine: sa.Engine, statements) -> int:
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        dbapi.set_progress_handler(tick, 100)
        try:
            for statement, parameters in statements:
                dbapi.execute(statement, parameters).fetchall()
        finally:
            dbapi.set_progress_handler(None, 100)
    finally:
        raw.close()
    return steps


def _plan_rows(node: dict) -> float:
    loops = node.get("Actual Loops", 1) or 0
    own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
           + node.get("Rows Removed by Join Filter", 0)
           + node.get("Rows Removed by Index Recheck", 0))
    return own * loops + sum(_plan_rows(child) for child in node.get("Plans", []))


def _postgres_work(engine: sa.Engine, statements) -> int:
    total = 0.0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            total += _plan_rows(plan[0]["Plan"])
        raw.rollback()
    finally:
        raw.close()
    return int(total)


def _page_work(app, db, url: str, username: str) -> tuple[int, int]:
    """(work, statements) of one GET of url by username, after a warm-up request."""
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": SCALE_PASSWORD})
    assert response.status_code == 302
    assert client.get(url).status_code == 200
    capture = Capture()
    sa.event.listen(db.engine, "before_cursor_execute", capture)
    try:
        response = client.get(url)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", capture)
    assert response.status_code == 200, response.status_code
    assert capture.statements, "the page ran no query?"
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
        work = _postgres_work(db.engine, capture.statements)
    else:
        work = _sqlite_work(db.engine, capture.statements)
    return work, len(capture.statements)


def _pages(db) -> dict[str, tuple[str, str]]:
    """The county, street and community dashboards, each as the county officer."""
    officer = db.session.scalar(sa.select(User).where(User.username == f"scale-{COUNTY}-county"))
    street = db.session.scalar(
        sa.select(Household.street_id).where(Household.county_id == officer.place_id)
        .group_by(Household.street_id).order_by(sa.func.count().desc(), Household.street_id)
        .limit(1))
    community = db.session.scalar(
        sa.select(Household.place_id).where(Household.street_id == street)
        .group_by(Household.place_id).order_by(sa.func.count().desc(), Household.place_id)
        .limit(1))
    return {"county": ("/supervision/", officer.username),
            "street": (f"/supervision/place/{street}", officer.username),
            "community": (f"/supervision/place/{community}", officer.username),
            "city": ("/supervision/", "scale-city")}


def _measure(app, db, households: int) -> dict[str, tuple[int, int]]:
    reset_all()
    generate(COUNTY, households, 4, 20231221, echo=lambda _s: None)
    db.session.remove()
    return {name: _page_work(app, db, url, user) for name, (url, user) in _pages(db).items()}


def test_dashboard_work_grows_linearly_with_the_county(app, db):
    small = _measure(app, db, SMALL)
    large = _measure(app, db, LARGE)
    report = {name: (small[name][0], large[name][0], round(large[name][0] / small[name][0], 2))
              for name in small}
    print(f"database work, {SMALL} → {LARGE} households: {report}")
    for name, (a, b, growth) in report.items():
        assert small[name][1] == large[name][1], (
            f"{name}: the page sent {small[name][1]} queries at {SMALL} households and "
            f"{large[name][1]} at {LARGE}: a query per row?")
        assert growth <= MAX_GROWTH, (
            f"{name} dashboard: database work grew {growth}× for 4× the households "
            f"({a} → {b}); a supervision query no longer scales with the data. {report}")

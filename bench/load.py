"""Load: 200 simulated phones against gunicorn + PostgreSQL on this machine (loopback only).

    python bench/load.py [--phones 200] [--visits 3] [--rounds 1] [--max-seconds 300]

Creates the throwaway database ``fieldwork_load`` on $BENCH_PG_URL (default
postgresql://postgres@127.0.0.1:5432), migrates it, seeds one county with a helper per phone
(15 households each, like a real helper), serves it with gunicorn and gunicorn.conf.py (its
default workers and threads), rate limits on and stored in Redis (RATELIMIT_STORAGE_URI,
default redis://127.0.0.1:6379/0; the script falls back to memory:// with a note if Redis is
down), and drops the database at the end.

Each phone, started over a ramp of --ramp seconds (default 60: all 200 within a minute),
with 0.2–1 s of "thinking" between requests: opens the login page and logs in, asks for its
session, pulls its households, pushes --visits visits with one photo each (a real ~60 KB
JPEG, a phone-downscaled picture), uploads the photos, and pulls again with its cursor;
--rounds times from the pull on. Each phone presents its own address in X-Forwarded-For
(FIELDWORK_TRUSTED_PROXIES=1, as behind nginx), so the per-address login limit applies per
phone as in the field.

Bounded: every phone makes a fixed number of requests, each with a 60 s client timeout, and
the run stops at --max-seconds whatever happens. Also checks, on the same server, that the
login limit (20 a minute per address) holds across all the workers — it does only with a
shared store such as Redis.

Reports errors (target 0: any non-2xx answer, timeout or wrong result), p50/p95 latency per
endpoint, and throughput; then ``BENCH_JSON {"figures": [...]}``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import re
import secrets
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.cookiejar import CookieJar
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import OUT, pg_admin, pg_drop, pg_recreate, pg_url  # noqa: E402
from live import PASSWORD, make_app, seed_places  # noqa: E402
from prod_server import Gunicorn  # noqa: E402

DB_NAME = "fieldwork_load"
HOUSEHOLDS_PER_HELPER = 15
P95_TARGET_MS = 2000  # a phone user notices a wait beyond ~2 s
DIMENSIONS = ("income", "housing", "education", "medical", "employment", "elderly")


# ------------------------------------------------------------------ data


def seed(app, phones: int) -> list[tuple[str, list[int]]]:
    """One helper per phone with 15 assigned households; [(username, household ids)]."""
    import sqlalchemy as sa
    from werkzeug.security import generate_password_hash

    from fieldwork.accounts.models import User
    from fieldwork.extensions import db
    from fieldwork.households.models import Assignment, Household
    from fieldwork.places.models import Place

    places = seed_places(app)
    one_hash = generate_password_hash(PASSWORD)  # the same for all: scrypt is slow on purpose
    with app.app_context():
        communities = [db.session.get(Place, cid) for cid in places["communities"]]
        db.session.execute(sa.insert(User), [
            {"username": f"load-{i:03d}", "role": "helper", "display_name": f"帮扶{i:03d}",
             "place_id": communities[i % len(communities)].id, "password_hash": one_hash,
             "active": True, "must_change_password": False,
             "session_token": secrets.token_hex(16)}
            for i in range(phones)])
        users = dict(db.session.execute(sa.select(User.username, User.id).where(
            User.username.like("load-%"))).all())
        rows = []
        owners = []
        for i in range(phones):
            place = communities[i % len(communities)]
            for j in range(HOUSEHOLDS_PER_HELPER):
                n = i * HOUSEHOLDS_PER_HELPER + j
                rows.append({
                    "head_name": f"住户{n}", "address": f"建设路{n}号", "place_id": place.id,
                    "county_id": place.county_id(), "street_id": place.street_id(),
                    "category": "below_dibao", "causes": ["illness"], "status": "enrolled",
                    "members_count": 3, "per_capita_income": Decimal("500"),
                    "ref_lat": 32.99 + (n % 100) * 1e-4, "ref_lon": 112.54 + (n // 100) * 1e-4,
                    "ref_source": "manual", "ref_source_crs": "wgs84",
                    "enrolled_on": date(2025, 1, 1), "file_no": f"L-{n:07d}", "version": 1})
                owners.append(f"load-{i:03d}")
        db.session.execute(sa.insert(Household), rows)
        ids = list(db.session.scalars(sa.select(Household.id).order_by(Household.id)))
        db.session.execute(sa.insert(Assignment), [
            {"household_id": hid, "helper_id": users[owner], "start_date": date(2025, 1, 1),
             "reason": "load test"} for hid, owner in zip(ids, owners, strict=True)])
        db.session.commit()
        db.engine.dispose()
    by_user: dict[str, list[int]] = defaultdict(list)
    for hid, owner in zip(ids, owners, strict=True):
        by_user[owner].append(hid)
    return sorted(by_user.items())


def make_photo(rng: random.Random) -> bytes:
    """A 1200x900 JPEG like the phone's downscaled upload (gradients, shapes and noise)."""
    from PIL import Image, ImageDraw, ImageFilter

    img = Image.linear_gradient("L").resize((1200, 900)).convert("RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(30):
        x, y = rng.randrange(1200), rng.randrange(900)
        draw.rectangle((x, y, x + rng.randrange(40, 300), y + rng.randrange(40, 200)),
                       fill=tuple(rng.randrange(256) for _ in range(3)))
    img = img.filter(ImageFilter.SMOOTH)
    noise = Image.effect_noise((300, 225), 30).resize((1200, 900)).convert("RGB")
    img = Image.blend(img, noise, 0.15)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=75)
    return out.getvalue()


# ------------------------------------------------------------------ one phone


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.samples: list[str] = []
        self.requests = 0
        self.bytes_up = 0
        self.bytes_down = 0

    def record(self, endpoint: str, ms: float, up: int, down: int) -> None:
        with self.lock:
            self.latency[endpoint].append(ms)
            self.requests += 1
            self.bytes_up += up
            self.bytes_down += down

    def error(self, endpoint: str, what: str) -> None:
        with self.lock:
            self.errors[endpoint] += 1
            if len(self.samples) < 20:
                self.samples.append(f"{endpoint}: {what}")


class PhoneError(Exception):
    pass


class Phone:
    def __init__(self, base: str, username: str, households: list[int], address: str,
                 stats: Stats, rng: random.Random, deadline: float) -> None:
        self.base, self.username, self.households = base, username, households
        self.address, self.stats, self.rng, self.deadline = address, stats, rng, deadline
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""
        self.device = f"load-{uuid.uuid4()}"

    def think(self) -> None:
        time.sleep(self.rng.uniform(0.2, 1.0))

    def call(self, endpoint: str, path: str, *, data: bytes | None = None,
             method: str | None = None, headers: dict[str, str] | None = None,
             expect: tuple[int, ...] = (200,)) -> bytes:
        if time.monotonic() > self.deadline:
            raise PhoneError("deadline")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "X-Forwarded-For": self.address, "Accept-Encoding": "gzip",
            "User-Agent": "fieldwork-load/1 (Android)", **(headers or {})})
        started = time.perf_counter()
        try:
            with self.opener.open(req, timeout=60) as resp:
                status, raw = resp.status, resp.read()
                encoding = resp.headers.get("Content-Encoding")
        except urllib.error.HTTPError as exc:
            status, raw, encoding = exc.code, exc.read(), exc.headers.get("Content-Encoding")
        except (OSError, urllib.error.URLError) as exc:
            self.stats.error(endpoint, f"{type(exc).__name__}: {exc}")
            raise PhoneError(endpoint) from exc
        ms = (time.perf_counter() - started) * 1000
        body = gzip.decompress(raw) if encoding == "gzip" else raw
        if status not in expect:
            self.stats.error(endpoint, f"HTTP {status}: {body[:160]!r}")
            raise PhoneError(endpoint)
        self.stats.record(endpoint, ms, len(data or b""), len(raw))
        return body

    def login(self) -> None:
        page = self.call("GET /login", "/login").decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        self.think()
        form = urllib.parse.urlencode({"username": self.username, "password": PASSWORD,
                                       "csrf_token": token.group(1) if token else ""}).encode()
        landing = self.call("POST /login", "/login", data=form).decode()
        if 'name="password"' in landing:
            self.stats.error("POST /login", "still on the login page")
            raise PhoneError("login")
        session = json.loads(self.call("GET /api/sync/v1/session", "/api/sync/v1/session"))
        self.csrf = session["csrf_token"]

    def pull(self, since: str | None) -> str:
        path = "/api/sync/v1/pull" + (f"?since={urllib.parse.quote(since)}" if since else "")
        data = json.loads(self.call("GET /api/sync/v1/pull", path))
        if since is None and len(data.get("households", [])) != len(self.households):
            self.stats.error("GET /api/sync/v1/pull",
                             f"{len(data.get('households', []))} households, expected "
                             f"{len(self.households)}")
        return data["cursor"]

    def push_and_upload(self, n: int, photos: list[bytes]) -> None:
        now = datetime.now(UTC)
        records, files = [], {}
        for i in range(n):
            data = photos[i]
            pid = str(uuid.uuid4())
            files[pid] = data
            records.append({
                "type": "visit", "id": str(uuid.uuid4()),
                "household_id": str(self.rng.choice(self.households)),
                "visited_at": (now - timedelta(minutes=30 + 10 * i)).isoformat(),
                "location": {"lat": 32.99, "lon": 112.54, "accuracy_m": 12, "source": "gps"},
                "answers": {"present": "户主", "household_income": 1000,
                            **{f"{d}_status": "ok" for d in DIMENSIONS}},
                "notes": "", "supersedes": None,
                "photos": [{"id": pid, "sha256": hashlib.sha256(data).hexdigest(),
                            "bytes": len(data), "caption": "living"}]})
        body = json.dumps({"device_id": self.device, "records": records}).encode()
        results = json.loads(self.call(
            "POST /api/sync/v1/push", "/api/sync/v1/push", data=body, method="POST",
            headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf}))["results"]
        missing = set()
        for r in results:
            if r["status"] not in ("created", "duplicate"):
                self.stats.error("POST /api/sync/v1/push", f"record {r['status']}: {r}")
            missing |= set(r.get("missing_photos", []))
        for pid, data in files.items():
            if pid not in missing:
                continue
            self.think()
            self.call("PUT /api/sync/v1/photos/<id>", f"/api/sync/v1/photos/{pid}", data=data,
                      method="PUT", expect=(200, 201),
                      headers={"Content-Type": "image/jpeg", "X-CSRFToken": self.csrf,
                               "X-Content-SHA256": hashlib.sha256(data).hexdigest()})

    def run(self, visits: int, rounds: int, photos: list[bytes]) -> bool:
        try:
            self.login()
            cursor = None
            for r in range(rounds):
                self.think()
                cursor = self.pull(cursor)
                self.think()
                self.push_and_upload(visits, photos[r * visits:(r + 1) * visits])
                self.think()
                cursor = self.pull(cursor)
            return True
        except PhoneError:
            return False
        except Exception as exc:  # noqa: BLE001 - a bug in the phone counts as an error
            self.stats.error("phone", f"{type(exc).__name__}: {exc}")
            return False


# ------------------------------------------------------------------ the run


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def shared_limit_check(base: str) -> tuple[int, int]:
    """25 wrong logins from one address, each for a different user name (so only the
    per-address limit, 20 a minute, applies): how many got through before a 429?"""
    address = f"198.19.255.{random.randrange(1, 250)}"  # noqa: S311
    passed = limited = 0
    for i in range(25):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        headers = {"X-Forwarded-For": address}
        try:
            page = opener.open(urllib.request.Request(base + "/login", headers=headers),
                               timeout=30).read().decode()
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
            form = urllib.parse.urlencode({"username": f"nobody-{i}", "password": "wrong",
                                           "csrf_token": token.group(1) if token else ""})
            opener.open(urllib.request.Request(base + "/login", data=form.encode(),
                                               headers=headers), timeout=30).read()
            passed += 1
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                limited += 1
            else:
                passed += 1
    return passed, limited


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def redis_available(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure: not available
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--visits", type=int, default=3, help="visits (one photo each) a round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--ramp", type=float, default=60, help="seconds to start all phones")
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--keep", action="store_true", help=f"keep database {DB_NAME}")
    args = parser.parse_args()

    admin = pg_admin()
    if admin is None:
        print("BENCH_JSON " + json.dumps({"figures": [], "skipped": "PostgreSQL unreachable"}))
        return 1
    rng = random.Random(8)  # noqa: S311 - reproducible test data
    notes: list[str] = []
    storage = args.redis if redis_available(args.redis) else "memory://"
    if storage == "memory://":
        notes.append(f"Redis unreachable at {args.redis}: rate limits per worker (memory://)")

    print(f"creating database {DB_NAME} and {args.phones} helpers …", flush=True)
    pg_recreate(admin, DB_NAME)
    url = pg_url(DB_NAME)
    instance = OUT / "load"
    instance.mkdir(parents=True, exist_ok=True)
    figures = []
    try:
        app = make_app(url, str(instance))
        helpers = seed(app, args.phones)
        photos_needed = args.phones * args.visits * args.rounds
        print(f"making {photos_needed} distinct JPEGs …", flush=True)
        photo_pool = [make_photo(rng) for _ in range(min(photos_needed, 60))]
        # Every upload distinct (a duplicate picture would be flagged): vary one comment byte.
        def unique(i: int) -> bytes:
            base = photo_pool[i % len(photo_pool)]
            return base[:2] + b"\xff\xfe\x00\x06" + i.to_bytes(4, "big") + base[2:]
        env = {"RATELIMIT_STORAGE_URI": storage, "FIELDWORK_TRUSTED_PROXIES": "1",
               "BENCH_RATELIMIT_PREFIX": f"fwload{secrets.token_hex(4)}"}
        with Gunicorn(url, instance, workers=args.workers, env=env) as server:
            workers = len(server.worker_pids())
            stats = Stats()
            deadline = time.monotonic() + args.max_seconds
            per_phone = args.visits * args.rounds
            phones = [Phone(server.base, name, ids, f"198.18.{i // 250}.{i % 250 + 1}", stats,
                            random.Random(i), deadline)  # noqa: S311
                      for i, (name, ids) in enumerate(helpers)]
            threads = []
            print(f"{len(phones)} phones against gunicorn ({workers} workers) …", flush=True)
            worker_pids = server.worker_pids()
            cpu_before = cpu_seconds(worker_pids)
            started = time.monotonic()
            ok = [False] * len(phones)

            def go(i: int) -> None:
                time.sleep(args.ramp * i / max(1, len(phones)))
                mine = [unique(i * per_phone + k) for k in range(per_phone)]
                ok[i] = phones[i].run(args.visits, args.rounds, mine)

            for i in range(len(phones)):
                t = threading.Thread(target=go, args=(i,), daemon=True)
                t.start()
                threads.append(t)
            for t in threads:
                t.join(max(0.1, deadline - time.monotonic() + 5))
            elapsed = time.monotonic() - started
            app_cpu = cpu_seconds(worker_pids) - cpu_before
            unfinished = sum(t.is_alive() for t in threads)
            passed, limited = shared_limit_check(server.base)

        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.connect() as conn:
            visits = conn.scalar(sa.text("select count(*) from visits"))
            stored = conn.scalar(sa.text(
                "select count(*) from photos where stored_at is not null"))
        engine.dispose()
    finally:
        if not args.keep:
            pg_drop(admin, DB_NAME)
        admin.dispose()

    expected = args.phones * args.visits * args.rounds
    errors = sum(stats.errors.values()) + unfinished + (expected - visits) + (expected - stored)
    throughput = stats.requests / elapsed if elapsed else 0
    print(f"\n{stats.requests} requests in {elapsed:.1f} s = {throughput:.1f} req/s; "
          f"{sum(ok)} of {len(phones)} phones finished; visits {visits}/{expected}, "
          f"photos {stored}/{expected}; {stats.bytes_up / 1e6:.1f} MB up, "
          f"{stats.bytes_down / 1e6:.1f} MB down")
    print(f"{'endpoint':<34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} errors")
    figures.append({"name": f"load, {args.phones} phones: errors", "value": errors,
                    "unit": "", "target": "0", "met": errors == 0})
    for endpoint in sorted(set(stats.latency) | set(stats.errors)):
        values = stats.latency.get(endpoint, [])
        p50 = round(statistics.median(values)) if values else 0
        p95 = round(percentile(values, 95)) if values else 0
        top = round(max(values)) if values else 0
        print(f"{endpoint:<34} {len(values):>5} {p50:>8} {p95:>8} {top:>8} "
              f"{stats.errors.get(endpoint, 0)}")
        figures.append({"name": f"load: {endpoint} p50", "value": p50, "unit": "ms",
                        "target": "— (for information)", "met": True, "info": True})
        figures.append({"name": f"load: {endpoint} p95", "value": p95, "unit": "ms",
                        "target": f"≤ {P95_TARGET_MS} ms", "met": p95 <= P95_TARGET_MS})
    figures.append({"name": f"load, {args.phones} phones: throughput",
                    "value": round(throughput, 1), "unit": "req/s",
                    "target": "— (for information)", "met": True, "info": True})
    per_phone_cpu = app_cpu / max(1, sum(ok))
    print(f"app server CPU: {app_cpu:.1f} s in the gunicorn workers = {per_phone_cpu:.2f} s per "
          f"phone session ({stats.requests / max(1, len(phones)):.0f} requests, "
          f"{args.visits * args.rounds} photos)")
    figures.append({"name": "load: app-server CPU per phone session (login, 2 pulls, push, "
                            f"{args.visits * args.rounds} photos)",
                    "value": round(per_phone_cpu, 2), "unit": "CPU s",
                    "target": "— (for information)", "met": True, "info": True})
    cores = os.cpu_count() or 1
    figures.append({"name": f"load: phone sessions per minute one {cores}-core app server "
                            "can carry (CPU bound, estimate)",
                    "value": round(60 * cores / per_phone_cpu) if per_phone_cpu else 0,
                    "unit": "/min", "target": "— (for information)", "met": True,
                    "info": True})
    figures.append({"name": f"load, {args.phones} phones: wall time", "value": round(elapsed, 1),
                    "unit": "s", "target": f"≤ {args.max_seconds:.0f} s (bounded)",
                    "met": elapsed <= args.max_seconds + 5})
    shared = storage != "memory://"
    where = "Redis" if shared else "memory"
    figures.append({"name": f"login limit across {workers} workers ({where}): "
                            "wrong logins let through of 25", "value": passed, "unit": "",
                    "target": "≤ 20", "met": passed <= 20})
    for sample in stats.samples:
        print("  error:", sample)
    for note in notes:
        print("  note:", note)
    print("BENCH_JSON " + json.dumps({
        "figures": figures, "notes": notes, "workers": workers, "requests": stats.requests,
        "seconds": round(elapsed, 1), "visits": visits, "photos": stored,
        "error_samples": stats.samples}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

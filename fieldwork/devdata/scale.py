"""County-scale synthetic data: `flask --app app seed-scale --households 50000 --months 12`.

Builds a county-sized dataset (about one visit per household per month) quickly and
reproducibly, for benchmarks and for trying the supervision pages at realistic size:
streets and communities under the county where it has too few, about one helper per 15
households, households with members, assignments (some reassigned part-way), plan measures,
and visits with realistic gaps, some flagged and some rejected in review.

Everything it writes is marked as synthetic: file numbers start with ``SC``; household notes say
so; ID numbers use the area code 411399 (南阳市, no such county) and exist only here; accounts
are named ``scale-…`` with the password ``fieldwork-scale``. It refuses to run in production.

Speed: rows are generated in plain dicts and written with one multi-row INSERT per chunk
(``db.session.execute(insert(table), rows)``; COPY on PostgreSQL), never ORM objects one by one.
The accounts share one precomputed password hash. ID numbers are encrypted with the app's
cipher one by one (about 20 µs each), so each token decrypts to the number its mask and blind
index describe.

Reproducible: the same --seed, --households, --months and county give the same data on the
same day (visits are placed in the months ending with the current one, and before today).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.dbtypes import UTCDateTime
from fieldwork.devdata.demo import (
    COMMUNITY_STEMS,
    GIVEN,
    ROADS,
    SURNAMES,
    load_measures,
    load_places,
    reset_database,
)
from fieldwork.extensions import db
from fieldwork.households.constants import CATEGORIES, DIMENSIONS
from fieldwork.households.models import (
    Assignment,
    Household,
    Measure,
    Member,
    PlanMeasure,
    ReviewDecision,
)
from fieldwork.places.models import Place, PolicySettings
from fieldwork.privacy.idnumber import check_digit, mask_id_number
from fieldwork.privacy.service import cipher
from fieldwork.timeutil import CST, add_months, month_bounds, month_of_date, today_local
from fieldwork.visits.models import Visit

SCALE_PASSWORD = "fieldwork-scale"  # noqa: S105 - the published password of synthetic accounts
# scrypt hash of SCALE_PASSWORD, computed once: hashing thousands of passwords would take minutes.
SCALE_ACCOUNT_HASH = (
    "scrypt:32768:8:1$RkwxTVEMUvDoC13d$448f604cf7f72e18474d2fb8193fb741648db4f460f82c20a9e8895"
    "110c744187addf3908309b9f68b7df1a7738e55d3fa10c60c544e8e5f5bc6e104c929e5e5"
)
SYNTHETIC_NOTE = "合成数据（seed-scale 生成，非真实住户）"
SYNTHETIC_AREA = "411399"  # 南阳市 + a county code that does not exist
FILE_PREFIX = "SC"
HOUSEHOLDS_PER_HELPER = 15
HOUSEHOLDS_PER_COMMUNITY = 150
COMMUNITIES_PER_STREET = 25
CHUNK = 5000
NAMESPACE = uuid.UUID("1d6f3a52-8f0e-4c7a-b1f5-0b7f2a5c9e21")

STREET_STEMS = ("东关", "新华", "仲景", "汉冶", "枣林", "五里堡", "白河", "溧河", "赤虎", "金华",
                "茶庵", "高庙", "汉冢", "瓦店", "红泥湾", "黄台岗", "官庄", "溧河湾", "七里园",
                "新店", "汉城", "独山", "梅溪", "卧龙岗", "车站", "解放", "光武", "百里奚")
FLAG_CHOICES = ("far_from_household", "no_photo", "late_entry", "poor_accuracy", "no_location")


class ScaleError(Exception):
    """The dataset cannot be built as asked; the message says why."""


@dataclass
class ScaleResult:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time: the wall time on a busy machine is more

    def summary(self) -> str:
        parts = "，".join(f"{k} {v:,}" for k, v in self.counts.items())
        return (f"规模数据已生成（{self.seconds:.1f} 秒，CPU {self.cpu_seconds:.1f} 秒）："
                f"{parts}")


# ---------------------------------------------------------------- bulk writing


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def bulk_insert(table: sa.FromClause, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys): COPY on PostgreSQL; on SQLite one prepared
    INSERT run over the chunk (executemany) with each column's value converted once by its
    type; elsewhere db.session.execute(insert(table), rows) by chunks."""
    if not rows:
        return
    dialect = _dialect()
    table = cast(sa.Table, table)  # a model's __table__, typed as a FromClause
    if dialect == "postgresql":
        _copy(table, rows)
    elif dialect == "sqlite":
        _sqlite_insert(table, rows)
    else:
        for i in range(0, len(rows), CHUNK):
            db.session.execute(sa.insert(table), rows[i:i + CHUNK])


def _utc_text(value: datetime) -> str:
    """An aware datetime as SQLAlchemy stores UTCDateTime in SQLite (naive UTC text)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_insert(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    dialect = db.session.get_bind().dialect
    names = list(rows[0])
    json_text: dict[int, str] = {}  # the answers dicts are shared: encode each once

    def encode(value: Any) -> str:
        key = id(value)
        if key not in json_text:
            json_text[key] = json.dumps(value, ensure_ascii=False)
        return json_text[key]

    converters: list[Callable[[Any], Any] | None] = []
    for name in names:
        kind = table.c[name].type
        if isinstance(kind, UTCDateTime):
            converters.append(_utc_text)
        elif isinstance(kind, sa.JSON):
            converters.append(encode)
        else:
            converters.append(kind._cached_bind_processor(dialect))
    columns = ", ".join(f'"{n}"' for n in names)
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({", ".join("?" * len(names))})'  # noqa: S608
    pairs = list(zip(names, converters, strict=True))
    connection = db.session.connection()
    for i in range(0, len(rows), CHUNK):
        connection.exec_driver_sql(sql, [
            tuple(row[n] if conv is None or row[n] is None else conv(row[n]) for n, conv in pairs)
            for row in rows[i:i + CHUNK]])


def _copy(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    names = list(rows[0])
    json_cols = {n for n in names if isinstance(table.c[n].type, sa.JSON)
                 or table.c[n].type.__class__.__name__ == "JSONB"}
    conn: Any = db.session.connection().connection.driver_connection  # psycopg's
    columns = ", ".join(f'"{n}"' for n in names)
    with conn.cursor() as cur, cur.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(tuple(json.dumps(row[n], ensure_ascii=False) if n in json_cols
                                 else row[n] for n in names))


def _next_id(model: Any) -> int:
    return (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1


def _fix_sequences(*tables: str) -> None:
    """Explicit ids bypass PostgreSQL's sequences: move them past the new rows."""
    if _dialect() != "postgresql":
        return
    for name in tables:
        db.session.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608 - fixed names
            f"(SELECT coalesce(max(id), 1) FROM \"{name}\"))"))


# ---------------------------------------------------------------- the generator


class _Gen:
    def __init__(self, rng: random.Random, today: date) -> None:
        self.rng = rng
        self.today = today
        self.ids_seen: set[str] = set()

    def person(self) -> str:
        r = self.rng
        return r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2))))

    def near(self, lat: float, lon: float, metres: float) -> tuple[float, float]:
        r = self.rng
        return (round(lat + r.uniform(-metres, metres) / 111_000, 6),
                round(lon + r.uniform(-metres, metres) / 93_000, 6))

    def id_number(self, birth: date) -> str:
        """A valid, unique, clearly synthetic ID number (area code 411399)."""
        seq = self.rng.randrange(1000)
        while True:
            first17 = f"{SYNTHETIC_AREA}{birth:%Y%m%d}{seq:03d}"
            if first17 not in self.ids_seen:
                self.ids_seen.add(first17)
                return first17 + check_digit(first17)
            seq = (seq + 1) % 1000

    def birth(self, lo: int, hi: int) -> date:
        return date(self.rng.randrange(lo, hi), self.rng.randrange(1, 13),
                    self.rng.randrange(1, 29))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def day_between(self, a: date, b: date) -> date:
        return a + timedelta(days=self.rng.randrange((b - a).days + 1))


def _places(county: Place, needed: int, gen: _Gen, echo: Callable[[str], None]) -> list[Place]:
    """The county's communities, adding synthetic streets of communities until there are
    `needed` of them."""
    communities = list(db.session.scalars(
        sa.select(Place).where(Place.level == "community",
                               Place.path.startswith(county.path, autoescape=True))
        .order_by(Place.code)))
    missing = needed - len(communities)
    if missing <= 0:
        return communities[:needed]
    codes = set(db.session.scalars(sa.select(Place.code).where(
        Place.code.startswith(county.code, autoescape=True))))
    street_no, stem_no, added = 500, 0, 0
    lat0, lon0 = county.lat or 33.0, county.lon or 112.5
    while added < missing:
        street_no += 1
        code = f"{county.code}{street_no:03d}"
        if code in codes:
            continue
        stem = STREET_STEMS[stem_no % len(STREET_STEMS)]
        name = f"{stem}街道" if stem_no < len(STREET_STEMS) else \
            f"{stem}第{stem_no // len(STREET_STEMS) + 1}街道"
        stem_no += 1
        slat, slon = gen.near(lat0, lon0, 6000)
        street = Place(code=code, name=name, level="street", parent=county, lat=slat, lon=slon,
                       kind="synthetic")
        db.session.add(street)
        db.session.flush()
        street.path = f"{county.path}{street.id}/"
        for j in range(1, min(COMMUNITIES_PER_STREET, missing - added) + 1):
            clat, clon = gen.near(slat, slon, 1500)
            stem_c = COMMUNITY_STEMS[(stem_no * 7 + j) % len(COMMUNITY_STEMS)]
            community = Place(code=f"{code}{j:03d}", name=f"{stem_c}{j}社区", level="community",
                              parent=street, lat=clat, lon=clon, kind="synthetic")
            db.session.add(community)
            db.session.flush()
            community.path = f"{street.path}{community.id}/"
            communities.append(community)
            added += 1
    echo(f"  新建社区 {added} 个")
    return communities


def _answers_pool(rng: random.Random) -> list[dict[str, Any]]:
    pool = []
    for i in range(64):
        answers: dict[str, Any] = {"present": "户主本人" if i % 3 else "户主及配偶"}
        for d in DIMENSIONS:
            status = rng.choice(("ok", "ok", "ok", "ok", "at_risk", "problem"))
            answers[f"{d}_status"] = status
            answers[f"{d}_note"] = "" if status == "ok" else "需持续关注"
        answers["needs"] = "" if rng.random() < 0.7 else "希望协调公益性岗位"
        answers["measures_delivered"] = []
        answers["next_steps"] = "下月继续走访"
        pool.append(answers)
    return pool


def generate(county_code: str = "411302", households: int = 50_000, months: int = 12,
             seed: int = 20231221, *, today: date | None = None,
             echo: Callable[[str], None] = print) -> ScaleResult:
    """Build the dataset into the app's database (inside an app context) and commit."""
    if current_app.config.get("FIELDWORK_ENV") == "production":
        raise ScaleError("生产环境不能生成规模测试数据")
    if households < 1 or not 1 <= months <= 60:
        raise ScaleError("户数至少为 1，月数应在 1 至 60 之间")
    started, cpu_started = time.perf_counter(), time.process_time()
    today = today or today_local()
    rng = random.Random(f"{seed}-{county_code}-{households}-{months}")  # noqa: S311 - test data
    gen = _Gen(rng, today)
    counts: dict[str, int] = {}

    if db.session.scalar(sa.select(sa.func.count(Place.id))) == 0:
        load_places()
        db.session.flush()
    county = db.session.scalar(sa.select(Place).where(Place.code == county_code))
    if county is None or county.level != "county":
        raise ScaleError(f"找不到县级单位 {county_code}")
    prefix = f"{FILE_PREFIX}{county_code}-"
    if db.session.scalar(sa.select(sa.func.count(Household.id)).where(
            Household.file_no.startswith(prefix))):
        raise ScaleError(f"{county.name}已有规模测试数据；请先用 --reset 清空数据库")
    if db.session.scalar(sa.select(PolicySettings.id).where(
            PolicySettings.place_id == county.id)) is None:
        db.session.add(PolicySettings(place_id=county.id))
    if not db.session.scalar(sa.select(sa.func.count(Measure.id))):
        load_measures()
        db.session.flush()
    measures_by_area: dict[str, list[tuple[int, Decimal | None]]] = {}
    for mid, area, amount in db.session.execute(
            sa.select(Measure.id, Measure.area, Measure.amount)
            .where(sa.or_(Measure.county_id.is_(None), Measure.county_id == county.id))
            .order_by(Measure.id)):
        measures_by_area.setdefault(area, []).append((mid, amount))
    areas = sorted(measures_by_area)

    # Places ----------------------------------------------------------------
    n_communities = max(1, math.ceil(households / HOUSEHOLDS_PER_COMMUNITY))
    communities = _places(county, n_communities, gen, echo)
    counts["社区"] = len(communities)
    now = datetime.now(UTC)
    midnight = datetime(today.year, today.month, today.day, tzinfo=CST).astimezone(UTC)
    this_month = month_of_date(today)
    window = [add_months(this_month, -i) for i in range(months - 1, -1, -1)]
    window_start = month_bounds(window[0])[0].astimezone(CST).date()
    days = {m: (month_bounds(m)[0].astimezone(CST).date(),
                month_bounds(add_months(m, 1))[0].astimezone(CST).date() - timedelta(days=1))
            for m in window}

    # Households (assigned to communities in contiguous blocks) ----------------
    hh_id0 = _next_id(Household)
    cipher_ = cipher()
    hh_rows: list[dict[str, Any]] = []
    member_rows: list[dict[str, Any]] = []
    written = 0
    counts["户"] = counts["家庭成员"] = 0
    plan: dict[int, list[int]] = {}
    for n in range(households):
        community = communities[n * len(communities) // households]
        hid = hh_id0 + n
        roll = rng.random()
        if roll < 0.93:
            status = "enrolled"
        elif roll < 0.96:
            status = "exited"
        else:
            status = rng.choice(("reported", "reviewing", "publicity", "watch", "rejected"))
        enrolled_on = exited_on = None
        if status in ("enrolled", "exited"):
            if status == "enrolled" and rng.random() < 0.08:
                enrolled_on = gen.day_between(window_start, today)
            else:
                enrolled_on = window_start - timedelta(days=rng.randrange(1, 730))
            if status == "exited":
                exited_on = gen.day_between(max(enrolled_on, window_start) + timedelta(days=1),
                                            today)
        category = CATEGORIES[rng.randrange(len(CATEGORIES))]
        causes = sorted(rng.sample(("layoff", "illness", "disability", "education", "accident",
                                    "restructuring", "other"), k=rng.choice((1, 1, 2))))
        size = rng.choice((1, 1, 2, 2, 3, 3, 3, 4, 4, 5))
        head = gen.person()
        head_birth = gen.birth(1948, 1992)
        head_id = gen.id_number(head_birth)
        lat, lon = gen.near(community.lat or 33.0, community.lon or 112.5, 500)
        income = Decimal(rng.randrange(0, 2400)) / size
        hh_rows.append({
            "id": hid, "file_no": f"{prefix}{n + 1:06d}" if enrolled_on else None,
            "head_name": head,
            "phone": f"13{rng.randrange(10**9):09d}",
            "address": f"{community.name}{rng.choice(ROADS)}{rng.randrange(1, 300)}号"
                       f"{rng.randrange(1, 12)}号楼{rng.randrange(1, 5)}单元"
                       f"{rng.randrange(101, 1802)}",
            "place_id": community.id, "county_id": county.id,
            "street_id": community.parent_id, "category": category, "causes": causes,
            "status": status, "members_count": size,
            "intake_income": (income * size).quantize(Decimal("0.01")),
            "per_capita_income": income.quantize(Decimal("0.01")),
            "ref_lat": lat, "ref_lon": lon, "ref_source": "demo", "ref_source_crs": "wgs84",
            "ref_confirmed": True, "notes": SYNTHETIC_NOTE, "version": 1,
            "created_at": now, "updated_at": now,
            "enrolled_on": enrolled_on, "exited_on": exited_on,
        })
        for i in range(size):
            if i == 0:
                name, birth, pid = head, head_birth, head_id
            else:
                name, birth = head[0] + rng.choice(GIVEN) + rng.choice(GIVEN), gen.birth(1945, 2022)
                pid = gen.id_number(birth)
            # Drawn in the order the free-text columns were (the same data as before).
            illness = rng.choice(("", "", "", "chronic", "chronic", "chronic"))
            disabled = "" if rng.random() < 0.9 else "physical"
            member_rows.append({
                "household_id": hid, "name": name,
                "relation": ("self", "spouse", "child", "child", "parent")[i],
                "gender": "male" if int(pid[16]) % 2 else "female", "birth_date": birth,
                "id_enc": cipher_.encrypt(pid), "id_index": cipher_.blind_index(pid),
                "id_mask": mask_id_number(pid),
                "health": "", "illness": illness,
                "disability_kind": disabled, "disability_grade": 3 if disabled else None,
                "schooling_stage": "", "boarding": False, "employment_status": "",
                "monthly_income": None, "joined_on": None, "left_on": None, "left_reason": "",
            })
        if enrolled_on:
            plan[hid] = [measures_by_area[a][rng.randrange(len(measures_by_area[a]))][0]
                         for a in rng.sample(areas, k=rng.randrange(1, 4))]
        if len(hh_rows) - written >= CHUNK or n == households - 1:
            # Households before their members (PostgreSQL checks the foreign key per row).
            bulk_insert(Household.__table__, hh_rows[written:])
            bulk_insert(Member.__table__, member_rows)
            written = len(hh_rows)
            counts["家庭成员"] += len(member_rows)
            member_rows.clear()
    counts["户"] = len(hh_rows)
    echo(f"  户和成员已写入（{time.perf_counter() - started:.1f} 秒）")

    # Accounts: ~one helper per 15 households, in household order ---------------
    user_id0 = _next_id(User)
    n_helpers = max(1, math.ceil(households / HOUSEHOLDS_PER_HELPER))
    helper_ids = [user_id0 + k for k in range(n_helpers)]
    user_rows = []
    for k, uid in enumerate(helper_ids):
        first = hh_rows[min(k * HOUSEHOLDS_PER_HELPER, households - 1)]
        user_rows.append(_user_row(uid, f"scale-{county_code}-h{k + 1:05d}", roles.HELPER,
                                   first["street_id"] or county.id, gen.person(),
                                   f"139{rng.randrange(10**8):08d}", rng, now))
    streets = sorted({c.parent_id for c in communities if c.parent_id})
    officers = [("county", roles.COUNTY_OFFICER, county.id)] + [
        (f"street{i + 1:02d}", roles.STREET_REVIEWER, sid) for i, sid in enumerate(streets)]
    next_uid = user_id0 + n_helpers
    officer_ids: dict[str, int] = {}
    for suffix, role, place_id in officers:
        officer_ids[suffix] = next_uid
        user_rows.append(_user_row(next_uid, f"scale-{county_code}-{suffix}", role, place_id,
                                   gen.person(), f"0377-6{rng.randrange(10**6):06d}", rng, now))
        next_uid += 1
    if db.session.scalar(sa.select(User.id).where(User.username == "scale-city")) is None:
        city_id = county.parent_id or county.id
        user_rows.append(_user_row(next_uid, "scale-city", roles.CITY_SUPERVISOR, city_id,
                                   gen.person(), "0377-63150000", rng, now))
    bulk_insert(User.__table__, user_rows)
    _fix_sequences("households", "users")
    counts["帮扶责任人"] = n_helpers
    counts["审核账号"] = len(user_rows) - n_helpers

    # Assignments (some reassigned part-way), plan measures, visits ---------------
    assignment_rows: list[dict[str, Any]] = []
    plan_rows: list[dict[str, Any]] = []
    visit_rows: list[dict[str, Any]] = []
    decision_rows: list[dict[str, Any]] = []
    answers = _answers_pool(rng)
    reviewer = officer_ids["county"]
    counts.update({"帮扶关系": 0, "其中调整帮扶责任人": 0, "帮扶措施": 0, "走访": 0,
                   "有疑点的走访": 0, "审核未通过的走访": 0})
    for n, hh in enumerate(hh_rows):
        enrolled_on = hh["enrolled_on"]
        if enrolled_on is None:
            continue
        hid, exited_on = hh["id"], hh["exited_on"]
        helper = helper_ids[n // HOUSEHOLDS_PER_HELPER]
        # (start, end, helper) spans, end inclusive.
        spans: list[tuple[date, date | None, int]]
        switch_months = [m for m in window[1:] if days[m][0] > enrolled_on]
        if rng.random() < 0.08 and switch_months and exited_on is None:
            switch = days[rng.choice(switch_months)][0] + timedelta(days=rng.randrange(0, 20))
            switch = min(switch, today)
            other = helper_ids[(n // HOUSEHOLDS_PER_HELPER + 1) % n_helpers]
            spans = [(enrolled_on, switch - timedelta(days=1), other), (switch, None, helper)]
            counts["其中调整帮扶责任人"] += 1
        else:
            spans = [(enrolled_on, exited_on, helper)]
        for start, end, who in spans:
            assignment_rows.append({
                "household_id": hid, "helper_id": who, "start_date": start, "end_date": end,
                "reason": "县级解困办结对帮扶" if start == enrolled_on else "原帮扶责任人工作调动",
                "assigned_by_id": reviewer, "created_at": now})
        for mid in plan[hid]:
            plan_rows.append({"household_id": hid, "measure_id": mid, "amount": None,
                              "start_date": enrolled_on, "end_date": exited_on, "note": ""})
        # A household's own habit: most are visited nearly every month, some often missed.
        diligence = rng.choice((0.99, 0.98, 0.96, 0.95, 0.92, 0.8))
        income = hh["per_capita_income"] * hh["members_count"]
        for month in window:
            first_day, last_day = days[month]
            lo = max(first_day, enrolled_on)
            hi = min(last_day, exited_on or last_day, today - timedelta(days=1))
            if hi < lo:
                continue
            chance = diligence * (0.7 if month == this_month else 1.0)
            if rng.random() > chance:
                continue
            for _visit in range(2 if rng.random() < 0.1 else 1):
                day = gen.day_between(lo, hi)
                at = (datetime(day.year, day.month, day.day, 8, tzinfo=CST)
                      + timedelta(seconds=rng.randrange(10 * 3600))).astimezone(UTC)
                if at >= midnight:
                    continue
                who = next(w for s, e, w in spans if s <= day and (e is None or e >= day))
                visit_rows.append(_visit_row(gen, hh, who, at, month, answers, income,
                                             decision_rows, reviewer, counts))
            if len(visit_rows) >= 20 * CHUNK:
                _flush_visits(visit_rows, decision_rows, counts)
    bulk_insert(Assignment.__table__, assignment_rows)
    bulk_insert(PlanMeasure.__table__, plan_rows)
    counts["帮扶关系"] = len(assignment_rows)
    counts["帮扶措施"] = len(plan_rows)
    _flush_visits(visit_rows, decision_rows, counts)
    db.session.commit()
    return ScaleResult(counts, time.perf_counter() - started,
                       time.process_time() - cpu_started)


def _flush_visits(visit_rows: list[dict[str, Any]], decision_rows: list[dict[str, Any]],
                  counts: dict[str, int]) -> None:
    bulk_insert(Visit.__table__, visit_rows)
    bulk_insert(ReviewDecision.__table__, decision_rows)
    counts["走访"] += len(visit_rows)
    visit_rows.clear()
    decision_rows.clear()


def _user_row(uid: int, username: str, role: str, place_id: int, name: str, phone: str,
              rng: random.Random, now: datetime) -> dict[str, Any]:
    return {"id": uid, "username": username, "display_name": name, "phone": phone,
            "organisation": "", "role": role, "place_id": place_id, "active": True,
            "password_hash": SCALE_ACCOUNT_HASH, "must_change_password": False,
            "session_token": f"{rng.getrandbits(64):016x}", "locale": None, "created_at": now,
            "last_login_at": None}


def _visit_row(gen: _Gen, hh: dict[str, Any], helper: int, at: datetime, month: int,
               answers: list[dict[str, Any]], income: Decimal, decisions: list[dict[str, Any]],
               reviewer: int, counts: dict[str, int]) -> dict[str, Any]:
    rng = gen.rng
    flags: list[str] = []
    if rng.random() < 0.05:
        flags = sorted(rng.sample(FLAG_CHOICES, k=rng.choice((1, 1, 2))))
    far = "far_from_household" in flags
    located = "no_location" not in flags
    lat, lon = gen.near(hh["ref_lat"], hh["ref_lon"], 2500 if far else 60)
    accuracy = float(rng.randrange(150, 400) if "poor_accuracy" in flags else rng.randrange(5, 40))
    late = "late_entry" in flags
    recorded = at + (timedelta(days=rng.randrange(3, 9)) if late
                     else timedelta(minutes=rng.randrange(2, 90)))
    vid = gen.uuid()
    review = "none"
    if flags:
        counts["有疑点的走访"] += 1
        roll = rng.random()
        if roll < 0.25 or (far and roll < 0.6):
            review = "rejected"
            counts["审核未通过的走访"] += 1
        elif roll < 0.7:
            review = "accepted"
        if review != "none":
            decisions.append({
                "case_id": None, "visit_id": vid, "step": "visit_review",
                "decision": "reject" if review == "rejected" else "approve",
                "opinion": "签到位置与住户不符，请重新走访" if review == "rejected"
                else "已电话核实，情况属实",
                "reviewer_id": reviewer, "decided_at": recorded + timedelta(days=2)})
    dist = None
    if located:
        dist = round(math.hypot((lat - hh["ref_lat"]) * 111_000, (lon - hh["ref_lon"]) * 93_000), 1)
    return {
        "id": vid, "household_id": hh["id"], "helper_id": helper, "visited_at": at,
        "month": month, "recorded_at": recorded, "device_id": "seed-scale",
        "device_time": recorded, "lat": lat if located else None,
        "lon": lon if located else None, "accuracy_m": accuracy if located else None,
        "location_captured_at": at if located else None,
        "location_source": "gps" if located else None, "distance_m": dist,
        "form_version": 1, "answers": answers[rng.randrange(len(answers))], "notes": "",
        "household_income": income, "per_capita_income": hh["per_capita_income"],
        "flags": flags, "flag_count": len(flags), "review_status": review,
        "supersedes_id": None, "superseded": False, "content_hash": "",
        "photos_declared": 0, "photos_stored": 0,
    }


def reset_all() -> None:
    """Empty every table (children first), keeping the schema."""
    reset_database()


@click.command("seed-scale")
@click.option("--households", default=50_000, show_default=True, type=click.IntRange(1),
              help="户数")
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 60),
              help="走访月数（截至本月）")
@click.option("--seed", default=20231221, show_default=True, type=int, help="随机种子")
@click.option("--county", "county_code", default="411302", show_default=True,
              help="县级单位行政区划代码")
@click.option("--reset", is_flag=True, help="先清空数据库（全部数据）")
@with_appcontext
def seed_scale_command(households: int, months: int, seed: int, county_code: str,
                       reset: bool) -> None:
    """Build a county-scale synthetic dataset (never in production)."""
    if current_app.config.get("FIELDWORK_ENV") == "production":
        click.secho("错误 / error: 生产环境不能生成规模测试数据", fg="red", err=True)
        sys.exit(1)
    if reset:
        reset_all()
    try:
        result = generate(county_code, households, months, seed, echo=click.echo)
    except ScaleError as exc:
        db.session.rollback()
        click.secho(f"错误 / error: {exc}", fg="red", err=True)
        sys.exit(1)
    click.echo(result.summary())
    click.echo(f"账号 accounts: scale-{county_code}-county, scale-{county_code}-street01…, "
               f"scale-{county_code}-h00001…, scale-city；密码 password: {SCALE_PASSWORD}")

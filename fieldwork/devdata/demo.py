"""The demo county: Nanyang's county-level units plus a seeded, plausible set of streets,
communities, households, helpers and visits in 宛城区 and 卧龙区. Same data every run."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any, cast

import sqlalchemy as sa

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.constants import CATEGORIES, CAUSES, DIMENSIONS
from fieldwork.households.file_changes import CATEGORY, CAUSES_KIND, EMPLOYER, INCOME, PHONE
from fieldwork.households.management.exit_chain import record_exit
from fieldwork.households.management.measures import default_amount, seed_catalogue
from fieldwork.households.models import (
    Assignment,
    Case,
    CaseScreening,
    Household,
    Measure,
    Member,
    PlanMeasure,
    PlatformEntry,
    ReviewDecision,
    WatchCheck,
    WatchEntry,
)
from fieldwork.places.models import DibaoStandard, Place, PolicySettings
from fieldwork.privacy.idnumber import gender_of, make_test_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.timeutil import CST, add_months, current_month, month_bounds, month_key
from fieldwork.visits.models import Visit
from fieldwork.visits.services import per_capita

DEMO_PASSWORD = "fieldwork-demo"  # noqa: S105 - the published demo password
SEED = 20231221
DEMO_NAMESPACE = uuid.UUID("6f1c2a9e-5b0d-4c1e-9a51-4e5a2d0b7c11")
DEMO_COUNTIES = ("411302", "411303")  # 宛城区, 卧龙区
GUANZHUANG_CODE = "411300GZ"  # 官庄工区 has no official code
# Each county's 城镇低保标准 (元/人·月): an earlier and the current value, so the history shows.
# Plausible figures for Nanyang in 2024–2026 (districts a little above the counties), not the
# official ones; the programme's 630 元 target stays a separate setting (income_target).
DIBAO_STANDARDS = {
    "district": ((date(2024, 1, 1), Decimal("650")), (date(2025, 7, 1), Decimal("680"))),
    "functional zone": ((date(2024, 1, 1), Decimal("650")), (date(2025, 7, 1), Decimal("680"))),
    "county": ((date(2024, 1, 1), Decimal("610")), (date(2025, 7, 1), Decimal("640"))),
    "county-level city": ((date(2024, 1, 1), Decimal("620")), (date(2025, 7, 1), Decimal("650"))),
}

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏付方白邹孟熊秦邱江尹薛闫段雷侯史陶"
    "黎贺顾毛郝龚邵万钱严武戴孔汤"
)
GIVEN = (
    "建国军华明伟芳秀英丽娟敏静强磊洋艳勇杰涛超平刚桂兰玉凤霞红梅春燕志国海波宏文斌宇"
    "浩然子涵梓萱雨欣佳怡俊豪"
)
ROADS = ("建设路", "人民路", "中州路", "工业路", "新华路", "仲景路", "七一路", "独山大道",
         "滨河路", "车站路", "解放路", "百里奚路", "信臣路", "孔明路", "光武路")
COMMUNITY_SUFFIXES = ("社区", "社区", "社区", "村")
COMMUNITY_STEMS = ("和平", "幸福", "民主", "光明", "团结", "胜利", "健康", "新村", "东风", "红旗",
                   "长青", "建设", "友谊", "永安", "金华", "翠园", "梅园", "南苑", "北苑", "卧龙")


# Per-capita monthly income at intake (元) by group: 特困 and 低保 households well below the
# 城镇低保标准, the edge group a little above it (line 45), sudden expenditure anywhere.
INTAKE_INCOME = {
    "destitute": (0, 400),
    "dibao_unemployed": (250, 600),
    "below_dibao": (300, 620),
    "edge": (690, 900),
    "expenditure": (400, 1100),
    "restructuring": (300, 700),
    "other": (400, 800),
}
RISING_CATEGORIES = ("dibao_unemployed", "below_dibao", "edge", "restructuring")
VISIT_MONTHS = 12  # full months of visits before the current one
RISEN_MONTHS_AGO = 9  # a rising household's income is above the standard since then
DEMO_DEPARTMENT = "宛城区商务局"
# Helpers' work units (工作单位): when a helper changes jobs, the unit names the successor
# (policy line 159), so the helper's page shows it. Given by index, not drawn from the seed.
HELPER_UNITS = ("民政局", "人社局", "总工会", "残联", "教育局")  # of the helper's county


def _data(name: str) -> Any:
    return json.loads(resources.files("fieldwork.data").joinpath(name).read_text("utf-8"))


def has_data() -> bool:
    return bool(db.session.scalar(sa.select(sa.func.count(Place.id))))


def reset_database() -> None:
    """Empty every table (children first), keeping the schema and its migration version."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


def _add_place(code: str, name: str, level: str, parent: Place | None, lat: float | None,
               lon: float | None, kind: str | None = None, official: bool = True) -> Place:
    place = Place(code=code, name=name, level=level, parent=parent, lat=lat, lon=lon, kind=kind,
                  official_code=official)
    db.session.add(place)
    db.session.flush()
    place.path = f"{parent.path if parent else '/'}{place.id}/"
    return place


def load_places() -> dict[str, Place]:
    """The city and its sixteen county-level units from the shipped reference data."""
    data = _data("nanyang-counties.json")
    city_d = data["city"]
    city = _add_place(city_d["code"], city_d["name"], "city", None, city_d["lat"], city_d["lon"])
    places = {city.code: city}
    for c in data["counties"]:
        code = c["code"] or GUANZHUANG_CODE
        county = _add_place(code, c["name"], "county", city, c["lat"], c["lon"], c["kind"],
                            official=c["code"] is not None)
        db.session.add(PolicySettings(place=county))
        for effective_from, amount in DIBAO_STANDARDS[c["kind"]]:
            db.session.add(DibaoStandard(place=county, amount=amount,
                                         effective_from=effective_from))
        places[code] = county
        county.demo_streets = c.get("demo_streets", [])  # type: ignore[attr-defined]
    return places


def load_measures() -> list[Measure]:
    """The city-wide catalogue (seeded once, as in production), in catalogue order."""
    seed_catalogue()
    db.session.flush()
    return list(db.session.scalars(
        sa.select(Measure).where(Measure.county_id.is_(None)).order_by(Measure.id)))


def _person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _near(rng: random.Random, lat: float | None, lon: float | None,
          metres: float) -> tuple[float, float]:
    """A point within about `metres` of (lat, lon): every demo place has coordinates."""
    lat, lon = cast(float, lat), cast(float, lon)
    dlat = rng.uniform(-metres, metres) / 111_000
    dlon = rng.uniform(-metres, metres) / 93_000  # ~cos(33°) shrinks a degree of longitude
    return round(lat + dlat, 6), round(lon + dlon, 6)


def seed_demo() -> str:
    """Build the demo county into an empty database; returns a one-paragraph summary."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
    places = load_places()
    measures = load_measures()
    city = places["411300"]

    communities: list[Place] = []
    streets: list[Place] = []
    stems = list(COMMUNITY_STEMS)
    for county_code in DEMO_COUNTIES:
        county = places[county_code]
        for i, street_name in enumerate(county.demo_streets, start=1):  # type: ignore[attr-defined]
            slat, slon = _near(rng, county.lat, county.lon, 2500)
            street = _add_place(f"{county_code}{i:03d}", street_name, "street", county, slat, slon)
            streets.append(street)
            for j in range(1, 4):
                clat, clon = _near(rng, slat, slon, 900)
                stem = stems.pop(rng.randrange(len(stems))) if stems else f"第{j}"
                if not stems:
                    stems = list(COMMUNITY_STEMS)
                name = stem + rng.choice(COMMUNITY_SUFFIXES)
                communities.append(_add_place(f"{street.code}{j:03d}", name, "community",
                                              street, clat, clon))

    first_community = communities[0]
    in_first_county = sum(c.code.startswith(DEMO_COUNTIES[0]) for c in communities)
    first_street = cast(Place, first_community.parent)
    accounts: list[tuple[str, str, Place, str, str | None, str]] = [
        ("demo-helper", roles.HELPER, first_street, "张红梅", "13837701234",
         cast(Place, first_street.parent).name + HELPER_UNITS[0]),
        ("demo-community", roles.COMMUNITY_WORKER, first_community, "李建国", "13837705678", ""),
        ("demo-street", roles.STREET_REVIEWER, first_street, "王秀英", "13937709876", ""),
        ("demo-county", roles.COUNTY_OFFICER, places["411302"], "刘志强", "0377-63112345", ""),
        # 部门筛选认定 (policy line 63): a department with hardship workers of its own.
        ("demo-department", roles.DEPARTMENT_REVIEWER, places["411302"], "赵振华",
         "0377-63198765", DEMO_DEPARTMENT),
        ("demo-city", roles.CITY_SUPERVISOR, city, "陈静", "0377-63154321", ""),
        ("demo-admin", roles.ADMIN, city, "系统管理员", None, ""),
    ]
    # The other communities of demo-street's street have their own worker: each gives the
    # community's opinion on its households' exits.
    for j, community in enumerate(communities[1:3], start=2):
        accounts.append((f"community{j:02d}", roles.COMMUNITY_WORKER, community,
                         _person_name(rng), f"138{rng.randrange(10**8):08d}", ""))
    # Every demo account has the published password: hashed once (scrypt takes a third of a
    # second, most of `make run`'s seeding time when done per account), each its own sessions.
    hashed = User()
    hashed.set_password(DEMO_PASSWORD)

    def demo_password(user: User) -> None:
        user.password_hash = hashed.password_hash
        user.rotate_sessions()

    users: dict[str, User] = {}
    for username, role, place, name, phone, organisation in accounts:
        user = User(username=username, role=role, place=place, display_name=name, phone=phone,
                    organisation=organisation)
        demo_password(user)
        users[username] = user
    helpers = [users["demo-helper"]]
    for n in range(2, 21):
        community = communities[(n * 7) % len(communities)]
        street = cast(Place, community.parent)
        user = User(username=f"helper{n:02d}", role=roles.HELPER, place=street,
                    display_name=_person_name(rng), phone=f"139{rng.randrange(10**8):08d}",
                    organisation=cast(Place, street.parent).name
                    + HELPER_UNITS[n % len(HELPER_UNITS)])
        demo_password(user)
        helpers.append(user)
    db.session.add_all(list(users.values()) + helpers)
    db.session.flush()

    today = datetime.now(CST).date()
    this_month = current_month()
    households: list[Household] = []
    # demo-helper's households sit in the demo community and street, the rest spread out.
    for n in range(300):
        if n < 16:
            community = first_community if n < 10 else communities[1]
        elif n % 25 == 0:  # not enrolled yet (_make_household): demo-county's to handle
            community = communities[rng.randrange(in_first_county)]
        else:
            community = communities[rng.randrange(len(communities))]
        hh = _make_household(rng, n, community, measures, today)
        households.append(hh)
    db.session.add_all(households)
    db.session.flush()

    # Helpers: demo-helper takes the first 16; the others share the rest in community order,
    # the households that stay enrolled evenly (a workable load of 10-20 each), and each
    # household that is leaving or not enrolled goes to a helper of its community.
    exits = _plan_exits(households, first_street, today)
    ordered = sorted(households[16:], key=lambda h: h.place.code)
    stay = [h for h in ordered if h.status == "enrolled" and id(h) not in exits]
    chunks: list[list[Household]] = [households[:16]]
    per, extra = divmod(len(stay), len(helpers) - 1)
    start = 0
    for i in range(len(helpers) - 1):
        size = per + (1 if i < extra else 0)
        chunks.append(stay[start:start + size])
        start += size
    staying = {id(h) for h in stay}
    for hh in ordered:
        if id(hh) in staying:
            continue
        same = [c for c in chunks[1:] if any(h.place_id == hh.place_id for h in c)]
        min(same or chunks[1:], key=len).append(hh)
    # The position in creation order, not the database id: PostgreSQL sequences do not restart
    # after `demo --reset`, and the demo must come out the same every time.
    position = {id(hh): n for n, hh in enumerate(households, start=1)}
    standard = {code: DIBAO_STANDARDS[places[code].kind or "district"][-1][1]
                for code in DEMO_COUNTIES}
    visits = 0
    for helper, chunk in zip(helpers, chunks, strict=True):
        for hh in chunk:
            enrolled = hh.enrolled_on or today
            handover: tuple[User, date] | None = None
            if position[id(hh)] % 9 == 0 and enrolled < today - timedelta(days=120):
                # A helper changed job: the history shows who was responsible when.
                previous = helpers[(helpers.index(helper) + 3) % len(helpers)]
                switch = today.replace(day=1) - timedelta(days=62)
                db.session.add(Assignment(household=hh, helper=previous, start_date=enrolled,
                                          end_date=switch - timedelta(days=1),
                                          reason="原帮扶责任人工作调动"))
                db.session.add(Assignment(household=hh, helper=helper, start_date=switch,
                                          reason="工作调动，重新指定帮扶责任人"))
                handover = (previous, switch)
            elif hh.status == "enrolled":  # helpers are assigned at enrolment
                db.session.add(Assignment(household=hh, helper=helper, start_date=enrolled,
                                          reason="县级解困办结对帮扶"))
            if hh.status == "enrolled":
                exit_plan = exits.get(id(hh))
                pos = position[id(hh)]
                visits += _make_visits(
                    rng, hh, helper, this_month, enrolled,
                    standard=standard[hh.place.code[:6]],
                    rising=_rising(hh, pos, today) or (exit_plan is not None
                                                        and exit_plan[0] == "stable"),
                    skip=pos % 11 == 0,
                    until=exit_plan[1] if exit_plan else None, handover=handover)
    db.session.flush()
    _record_exits(exits, households, users)
    entered = _enter_platform(households, users["demo-county"], today)
    _seed_watch_list(households, users, first_community)
    _seed_changes(users, households[:10])
    _seed_department_case(households, users)
    db.session.commit()
    return (f"演示数据已生成：{len(places)} 个县级以上单位，{len(streets)} 个街道，"
            f"{len(communities)} 个社区，{len(households)} 户（其中 {len(exits)} 户已退出），"
            f"{len(helpers)} 名帮扶责任人，{visits} 次走访，{entered} 户已登记录入监测平台。")


def _enter_platform(households: list[Household], officer: User, today: date) -> int:
    """demo-county's enrolled households were entered into the provincial platform a few days
    after enrolment, except those enrolled in the last two months: they wait on its list."""
    count = 0
    for n, hh in enumerate(households):
        enrolled = hh.enrolled_on
        if (hh.status != "enrolled" or enrolled is None or hh.county_id != officer.place_id
                or enrolled > today - timedelta(days=60)):
            continue
        db.session.add(PlatformEntry(household_id=hh.id, entered_by_id=officer.id,
                                     entered_on=enrolled + timedelta(days=3 + n % 9),
                                     reference=f"HN{hh.file_no or hh.id}"))
        count += 1
    return count


def _make_household(rng: random.Random, n: int, community: Place, measures: list[Measure],
                    today: date) -> Household:
    county_code = community.code[:6]
    category = CATEGORIES[n % len(CATEGORIES)]
    causes = {
        "destitute": ["disability", "illness"],
        "dibao_unemployed": ["layoff"],
        "below_dibao": ["illness", "education"],
        "edge": [rng.choice(["layoff", "illness", "education", "accident"])],
        "expenditure": [rng.choice(["illness", "accident"])],
        "restructuring": ["restructuring", "layoff"],
        "other": ["other"],
    }[category]
    size = rng.choice((1, 1, 2, 2, 3, 3, 3, 4, 4, 5))
    head_birth = date(rng.randrange(1948, 1990), rng.randrange(1, 13), rng.randrange(1, 29))
    head_name = _person_name(rng)
    lat, lon = _near(rng, community.lat, community.lon, 400)
    enrolled_days = rng.randrange(30, 700)
    # Every 25th household (all in 宛城区, see seed_demo) is not enrolled yet: under review (three
    # become the watch list's, one the department's case) or in publicity. The exited ones are
    # chosen later (_plan_exits), each with its route and its approved exit case.
    status = "enrolled" if n % 25 else ("reviewing", "reviewing", "publicity")[(n // 25) % 3]
    hh = Household(
        head_name=head_name,
        phone=f"13{rng.randrange(10**9):09d}",
        address=f"{cast(Place, community.parent).name}{community.name}{rng.choice(ROADS)}"
                f"{rng.randrange(1, 300)}号{rng.randrange(1, 12)}号楼{rng.randrange(1, 5)}单元"
                f"{rng.randrange(1, 7)}0{rng.randrange(1, 4)}",
        category=category,
        causes=causes,
        status=status,
        ref_lat=lat,
        ref_lon=lon,
        ref_source="demo",
        ref_source_crs="wgs84",
        ref_confirmed=True,
        enrolled_on=today - timedelta(days=enrolled_days) if status in ("enrolled", "exited")
        else None,
    )
    hh.set_place(community)
    if status in ("enrolled", "exited"):
        hh.file_no = f"{county_code}-{2024 + n % 3}-{n + 1:05d}"
    # The head is a member (one person, one ID); size and per-capita come from the members.
    # Per-capita monthly income at intake (元), as each group's definition implies against a
    # 城镇低保标准 of 640–680 元 (policy lines 39-49).
    low, high = INTAKE_INCOME[category]
    income = Decimal(rng.randrange(low, high))
    hh.intake_income = income * size
    for member in _demo_members(rng, county_code, head_name, head_birth, size, category, today):
        hh.members.append(member)
    hh.members_count = size
    hh.per_capita_income = per_capita(hh.intake_income, size)
    if status in ("enrolled", "exited"):
        by_area: dict[str, list[Measure]] = {}
        for m in measures:
            by_area.setdefault(m.area, []).append(m)
        for area in rng.sample(DIMENSIONS, k=rng.randrange(1, 4)):
            m = rng.choice(by_area[area])
            hh.plan.append(PlanMeasure(measure=m, amount=default_amount(m),
                                       start_date=hh.enrolled_on))
    return hh


def _demo_members(rng: random.Random, county_code: str, head_name: str, head_birth: date,
                  size: int, category: str, today: date) -> list[Member]:
    """A realistic family: the head, a spouse, children at school (primary, some boarding;
    junior), an elderly parent over 65 with a chronic illness; now and then a disabled
    member with the grade of the certificate, or a serious illness (支出型)."""
    def person(name: str, relation: str, birth: date, seq: int, **facts: Any) -> Member:
        number = make_test_id_number(county_code, birth, seq)
        pid = protect_id(number)
        return Member(name=name, relation=relation, birth_date=birth, gender=gender_of(number),
                      id_enc=pid.enc, id_index=pid.index, id_mask=pid.mask,
                      joined_on=min(birth, today - timedelta(days=700)) if relation != "self"
                      else None, **facts)

    def born(age: int) -> date:
        return date(today.year - age, rng.randrange(1, 13), rng.randrange(1, 29))

    def seq(odd: bool) -> int:  # the ID's sequence number: odd for men, even for women
        return rng.randrange(0, 499) * 2 + (1 if odd else 0)

    def anyone() -> int:
        return seq(rng.random() < 0.5)

    head_age = today.year - head_birth.year
    head = person(head_name, "self", head_birth, rng.randrange(1, 999),
                  employment_status="unemployed"
                  if category in ("dibao_unemployed", "restructuring")
                  else "retired" if head_age >= 60 else rng.choice(("flexible", "unemployed")),
                  illness="serious" if category == "expenditure" else "")
    family = [head]
    young = head_age < 55
    plan = (["spouse", "child", "child", "parent"] if young
            else ["spouse", "grandchild", "grandchild", "child"])[:size - 1]
    kids = 0
    for relation in plan:
        name = head_name[0] + "".join(rng.choice(GIVEN) for _ in range(2))
        if relation == "spouse":
            birth = born(max(20, head_age + rng.randrange(-4, 4)))
            male = head.gender == "female"
            family.append(person(name, relation, birth, seq(male), employment_status=rng.choice(
                ("flexible", "unemployed", "unable")), illness=rng.choice(("", "", "chronic"))))
        elif relation in ("child", "grandchild") and (young or relation == "grandchild"):
            kids += 1
            if kids == 1:  # at primary school, boarding half the time
                family.append(person(name, relation, born(rng.randrange(7, 12)),
                                     anyone(), schooling_stage="primary",
                                     boarding=rng.random() < 0.5, employment_status="student"))
            else:
                family.append(person(name, relation, born(rng.randrange(12, 15)),
                                     anyone(), schooling_stage="junior",
                                     employment_status="student"))
        elif relation == "parent":  # over 65, chronically ill
            family.append(person(name, relation, born(rng.randrange(66, 86)), anyone(),
                                 illness="chronic", employment_status="retired",
                                 health=rng.choice(("高血压", "糖尿病", "慢性阻塞性肺病"))))
        else:  # an adult child living at home
            family.append(person(name, relation, born(rng.randrange(22, 35)), anyone(),
                                 employment_status=rng.choice(("flexible", "unemployed"))))
    if category == "destitute" or rng.random() < 0.25:
        disabled = rng.choice([m for m in family if m.relation in ("self", "spouse", "child")]
                              or family)
        disabled.disability_kind = rng.choice(("physical", "visual", "intellectual"))
        disabled.disability_grade = rng.choice((1, 2, 3, 4))
        disabled.employment_status = "unable" if disabled.disability_grade <= 2 else \
            disabled.employment_status
    return family


def _rising(hh: Household, position: int, today: date) -> bool:
    """Households whose income rose above the 城镇低保标准 some nine months ago and whose
    两有四保障 have held since: after six full months above it they meet the stable-exit rule
    (the helper found work through a public-welfare job, a pension started …)."""
    return (hh.category in RISING_CATEGORIES and position % 12 in (3, 8)
            and hh.enrolled_on is not None and hh.enrolled_on <= today - timedelta(days=330))


def _make_visits(rng: random.Random, hh: Household, helper: User, this_month: int,
                 enrolled: date, *, standard: Decimal, rising: bool = False, skip: bool = False,
                 until: date | None = None,
                 handover: tuple[User, date] | None = None) -> int:
    """A visit every month since enrolment for the last twelve months (and this month's, for
    about half the households so far); `skip` misses the month before last, `until` stops at
    the exit date. Before a `handover` (previous helper, first day of the new one) the previous
    helper visited. Income moves a little from month to month; a `rising` household's rises
    above `standard` nine months ago and its six dimensions are all "ok" since then."""
    count = 0
    base = hh.per_capita_income or Decimal(0)
    raised = max(standard + 120, base + 400)
    for back in range(VISIT_MONTHS, -1, -1):
        month = add_months(this_month, -back)
        start, end = month_bounds(month)
        if end.astimezone(CST).date() <= enrolled:
            continue
        if until is not None and start.astimezone(CST).date() > until:
            break
        chance = 0.45 if back == 0 else 1.0
        if rng.random() > chance or (skip and back == 2):
            continue
        last = min(end, datetime.now(UTC))
        if until is not None:
            last = min(last, datetime.combine(until, time(18), CST))
        span = (last - start).total_seconds()
        visited_at = (start + timedelta(seconds=rng.uniform(0, span * 0.95))).replace(microsecond=0)
        lat, lon = _near(rng, hh.ref_lat, hh.ref_lon, 60)
        statuses = {d: rng.choice(("ok", "ok", "ok", "at_risk", "problem")) for d in DIMENSIONS}
        drift = Decimal(rng.randrange(-30, 31))
        if rising and back <= RISEN_MONTHS_AGO:
            statuses = dict.fromkeys(DIMENSIONS, "ok")
            # Rises a little more each month after the new job or pension.
            capita = raised + Decimal(10 * (RISEN_MONTHS_AGO - back)) + drift
        else:
            capita = max(Decimal(0), base + drift) if base else Decimal(0)
        answers: dict[str, Any] = {"present": hh.head_name}
        for d in DIMENSIONS:
            answers[f"{d}_status"] = statuses[d]
            answers[f"{d}_note"] = "" if statuses[d] == "ok" else "需持续关注"
        income = capita * hh.members_count
        answers["household_income"] = float(income)
        answers["needs"] = "" if rng.random() < 0.7 else "希望协调公益性岗位"
        answers["next_steps"] = "下月继续走访"
        db.session.add(Visit(
            id=str(uuid.uuid5(DEMO_NAMESPACE, f"visit-{hh.id}-{month}")),
            household_id=hh.id, visited_at=visited_at,
            helper_id=handover[0].id if handover and visited_at.astimezone(CST).date()
            < handover[1] else helper.id,
            month=month_key(visited_at), recorded_at=visited_at + timedelta(minutes=5),
            lat=lat, lon=lon, accuracy_m=float(rng.randrange(8, 40)), location_source="gps",
            location_captured_at=visited_at, distance_m=None, answers=answers,
            household_income=income, per_capita_income=capita,
            notes="", flags=[], flag_count=0,
        ))
        count += 1
    return count


# ---------------------------------------------------------------- the watch list (加强监测)

# (step the case was rejected at, opinion, watch reason, days ago rejected, re-check in days,
#  check: (days ago, what changed) or None). The first re-check is overdue.
_WATCHED = (
    ("community_review", "家庭人均收入略高于当地城镇低保标准，暂不符合纳入条件",
     "配偶灵活就业，收入不稳定，关注收入变化", 120, -30, None),
    ("street_review", "家庭名下有营运车辆一辆，不符合纳入条件",
     "车辆拟转让；户主患慢性病，关注医疗支出", 40, 50,
     (10, "车辆已挂牌出售，尚未成交；户主门诊费用增加")),
    ("county_confirm", "信息比对显示子女有稳定工资收入，具备赡养能力",
     "子女工作变动频繁，关注赡养和收入情况", 20, 70, None),
)


def _seed_watch_list(households: list[Household], users: dict[str, User],
                     community: Place) -> None:
    """Three households of 宛城区 not enrolled and watched (policy line 147): rejected at
    社区初审, 街道复核 and 县级审核; one re-check overdue, one with a monitoring check. Taken from
    the households under review without a case (demo-community's first), so the count stays.
    Helpers do not visit watched households: their assignments are removed."""
    county_id = community.county_id()
    pool = sorted((hh for hh in households if hh.status == "reviewing"
                   and hh.county_id == county_id),
                  key=lambda hh: (hh.place_id != community.id, households.index(hh)))
    now = datetime.now(UTC)
    today = now.astimezone(CST).date()
    by_step = {"community_review": users["demo-community"], "street_review": users["demo-street"],
               "county_confirm": users["demo-county"]}
    chain = ("community_review", "street_review", "county_confirm")
    for hh, (step, opinion, reason, days, recheck, check) in zip(pool, _WATCHED, strict=False):
        rejected_at = now - timedelta(days=days)
        opened = rejected_at - timedelta(days=12)
        case = Case(household=hh, kind="intake", channel="territorial", source="application",
                    stage=step, state="rejected", opened_at=opened, stage_since=opened,
                    closed_at=rejected_at, opened_by_id=users["demo-community"].id,
                    draft_plan="申请临时救助" if step == "county_confirm" else "")
        db.session.add(case)
        db.session.flush()
        for i, s in enumerate(chain[:chain.index(step) + 1]):
            last = s == step
            db.session.add(ReviewDecision(
                case_id=case.id, step=s, decision="reject" if last else "approve",
                opinion=opinion if last else "情况属实，同意上报", reviewer_id=by_step[s].id,
                decided_at=rejected_at if last else opened + timedelta(days=3 * (i + 1))))
        hh.status = "watch"
        entry = WatchEntry(household_id=hh.id, case_id=case.id, reason=reason,
                           recheck_on=today + timedelta(days=recheck),
                           started_by_id=by_step[step].id,
                           started_at=rejected_at + timedelta(hours=2))
        db.session.add(entry)
        db.session.flush()
        if check is not None:
            db.session.add(WatchCheck(
                entry_id=entry.id, household_id=hh.id,
                checked_on=today - timedelta(days=check[0]), changes=check[1],
                note="下次复查时核实车辆交易", next_recheck_on=entry.recheck_on,
                recorded_by_id=users["demo-community"].id,
                recorded_at=now - timedelta(days=check[0])))
        for a in list(hh.assignments):
            hh.assignments.remove(a)
# ---------------------------------------------------------------- changes after enrolment


def _seed_changes(users: dict[str, User], households: list[Household]) -> None:
    """A few changes in the demo community's history (动态管理): some applied at once, an income
    confirmed by the street, and a category change and an income waiting for their office."""
    worker, street = users["demo-community"], users["demo-street"]
    county = users["demo-county"]
    enrolled = [hh for hh in households if hh.status == "enrolled" and hh.category != "other"][:4]
    now = datetime.now(UTC)

    def backdate(change: Any, days: int, decided_days: int | None = None) -> None:
        change.requested_at = now - timedelta(days=days)
        if change.decided_at is not None:
            change.decided_at = now - timedelta(days=decided_days if decided_days is not None
                                                else days)

    a, b, c, d = enrolled
    backdate(changes.propose(a, PHONE.name, {"phone": "13837712345"}, user=worker,
                             reason="户主更换手机号码"), 75)
    backdate(changes.propose(a, EMPLOYER.name, {"employer": "南阳纺织厂（已破产）",
                                                "person_type": "worker"},
                             user=worker, reason="补录原工作单位"), 70)
    income = changes.propose(a, INCOME.name, {
        "per_capita_income": "680.00", "basis": "户主公益性岗位工资 1360 元，家庭 2 人"},
        user=worker, reason="户主安置公益性岗位")
    backdate(income, 40)
    changes.confirm(income, street, "已核实工资发放记录")
    backdate(income, 40, 37)
    causes = [c for c in CAUSES if c in {*b.causes, "education", "layoff"}]
    backdate(changes.propose(b, CAUSES_KIND.name, {"causes": causes}, user=worker,
                             reason="配偶下岗，子女考入高中，教育支出增加"), 30)
    groups = changes.propose(c, CATEGORY.name, {
        "category": c.category, "groups": [g for g in ("expenditure", "edge")
                                           if g != c.category]},
        user=county, reason="综合审核：同时属于多个重点群体")
    backdate(groups, 20)
    # Waiting: a category change for the county office, an income for the street.
    target = "expenditure" if d.category != "expenditure" else "edge"
    backdate(changes.propose(d, CATEGORY.name, {"category": target, "groups": []},
                             user=worker, reason="户主突发重病住院，医疗支出大增"), 3)
    backdate(changes.propose(b, INCOME.name, {"per_capita_income": "420.00",
                                              "basis": "配偶失业，仅户主灵活就业收入"},
                             user=worker, reason="配偶所在企业停产"), 2)


# ---------------------------------------------------------------- exits (退出)

# (route, days ago the exit took effect, the reason on the exit case). One household of
# demo-street's street leaves by each route; the stable exit was publicised first.
_EXITS = (
    ("stable", 35, "户主经公益性岗位安置就业，家庭人均收入连续六个月以上高于城镇低保标准，"
                   "“两有四保障”持续稳固，致困因素已稳定消除"),
    ("death", 70, "户主因病去世，家庭无其他共同生活成员"),
    ("moved", 100, "全家随子女迁往郑州市居住，户籍已迁出本区"),
    ("ineligible", 130, "复核中信息比对发现家庭成员名下新购商品房一套，家庭财产状况不再符合条件"),
    ("withdrawn", 160, "户主本人书面申请退出帮扶：已自主创业，经营稳定"),
    ("fraud", 200, "信息比对发现申请时隐瞒配偶在外地的工资收入，经核实取消帮扶资格"),
)
EXIT_OPINIONS = {
    "exit_community": "经社区入户核实，情况属实，同意退出",
    "exit_street": "经街道解困办复核，同意退出，报县级解困办审批",
    "exit_county": "同意退出",
}


def _plan_exits(households: list[Household], street: Place,
                today: date) -> dict[int, tuple[str, date, str]]:
    """Six enrolled households of demo-street's street (not demo-helper's), enrolled close to a
    year or more ago, leave by the six routes; the smallest (one person) by the death route."""
    street_enrolled = [hh for n, hh in enumerate(households)
                       if n >= 16 and hh.status == "enrolled" and hh.place.parent_id == street.id
                       and hh.enrolled_on is not None]
    year_ago = today - timedelta(days=330)
    pool = [hh for hh in street_enrolled if cast(date, hh.enrolled_on) <= year_ago]
    # The death route ends a one-person household (when the head of a larger one dies, the
    # family stays and names a new head).
    single = min(street_enrolled, key=lambda hh: hh.members_count)
    plans: dict[int, tuple[str, date, str]] = {}
    for route, days, reason in _EXITS:
        if route == "death":
            hh = single
        else:
            hh = next(hh for hh in pool if id(hh) not in plans and hh is not single)
        # Never before the household was enrolled (nor the exit case opened before it).
        exit_on = max(today - timedelta(days=days),
                      cast(date, hh.enrolled_on) + timedelta(days=25))
        plans[id(hh)] = (route, exit_on, reason)
    return plans


def _record_exits(plans: dict[int, tuple[str, date, str]], households: list[Household],
                  users: dict[str, User]) -> None:
    """Each planned exit as the office records it: an exit case proposed by the community,
    with the community's, the street's and the county's opinions (three different people),
    approved, then the exit itself (helper and measures end that day)."""
    workers = {u.place_id: u for u in users.values() if u.role == roles.COMMUNITY_WORKER}
    street, county = users["demo-street"], users["demo-county"]
    for hh in households:
        if id(hh) not in plans:
            continue
        route, exit_on, reason = plans[id(hh)]
        worker = workers[hh.place_id]
        publicised = route == "stable"
        decided = exit_on - timedelta(days=8 if publicised else 0)
        at = {"exit_community": decided - timedelta(days=12),
              "exit_street": decided - timedelta(days=6), "exit_county": decided}
        opened = datetime.combine(at["exit_community"] - timedelta(days=2), time(9), CST)
        closed = datetime.combine(exit_on, time(10), CST)
        case = Case(household=hh, kind="exit", channel="territorial", stage="exit_county",
                    state="approved", opened_at=opened, stage_since=closed, closed_at=closed,
                    opened_by_id=worker.id, exit_route=route, exit_on=exit_on,
                    exit_reason=reason,
                    publicity_ends_on=exit_on - timedelta(days=1) if publicised else None)
        db.session.add(case)
        db.session.flush()
        for step, reviewer in (("exit_community", worker), ("exit_street", street),
                               ("exit_county", county)):
            db.session.add(ReviewDecision(
                case_id=case.id, step=step, decision="approve", opinion=EXIT_OPINIONS[step],
                reviewer_id=reviewer.id,
                decided_at=datetime.combine(at[step], time(15), CST)))
        record_exit(hh, exit_on, route)


# ---------------------------------------------------------------- 部门筛选认定


def _seed_department_case(households: list[Household], users: dict[str, User]) -> None:
    """demo-department screened one of its laid-off workers (部门筛选认定, policy line 63):
    its 初审 opinion and 认定结果 are in, and the case waits for demo-county's 综合审核确认."""
    department, county = users["demo-department"], users["demo-county"]
    with_case = set(db.session.scalars(sa.select(Case.household_id)))
    hh = next(hh for hh in households if hh.status == "reviewing"
              and hh.county_id == county.place_id and hh.id not in with_case)
    now = datetime.now(UTC)
    opened = now - timedelta(days=9)
    case = Case(household=hh, kind="intake", channel="departmental", source="department",
                stage="county_confirm", state="open", opened_at=opened,
                stage_since=opened + timedelta(days=2), opened_by_id=department.id,
                organisation=DEMO_DEPARTMENT)
    db.session.add(case)
    db.session.flush()
    db.session.add(ReviewDecision(
        case_id=case.id, step="department_review", decision="approve",
        opinion="原南阳市第二纺织厂职工，企业破产后下岗失业，家庭生活困难，同意上报",
        reviewer_id=department.id, decided_at=opened + timedelta(days=2)))
    db.session.add(CaseScreening(
        case_id=case.id, result="eligible", decided_on=(opened + timedelta(days=2)).date(),
        organisation=DEMO_DEPARTMENT, document_no=f"宛商〔{opened.year}〕12号",
        note="企业破产清算后下岗失业，符合困难职工认定条件", recorded_by_id=department.id,
        recorded_at=opened + timedelta(days=2)))

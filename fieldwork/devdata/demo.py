"""The demo county: Nanyang's county-level units plus a seeded, plausible set of streets,
communities, households, helpers and visits in 宛城区 and 卧龙区. Same data every run."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any, cast

import sqlalchemy as sa

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households.constants import CATEGORIES, DIMENSIONS
from fieldwork.households.management.measures import seed_catalogue
from fieldwork.households.models import Assignment, Household, Measure, Member, PlanMeasure
from fieldwork.places.models import Place, PolicySettings
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
    first_street = first_community.parent
    accounts = [
        ("demo-helper", roles.HELPER, first_street, "张红梅", "13837701234"),
        ("demo-community", roles.COMMUNITY_WORKER, first_community, "李建国", "13837705678"),
        ("demo-street", roles.STREET_REVIEWER, first_street, "王秀英", "13937709876"),
        ("demo-county", roles.COUNTY_OFFICER, places["411302"], "刘志强", "0377-63112345"),
        ("demo-city", roles.CITY_SUPERVISOR, city, "陈静", "0377-63154321"),
        ("demo-admin", roles.ADMIN, city, "系统管理员", None),
    ]
    users: dict[str, User] = {}
    for username, role, place, name, phone in accounts:
        user = User(username=username, role=role, place=place, display_name=name, phone=phone)
        user.set_password(DEMO_PASSWORD)
        users[username] = user
    helpers = [users["demo-helper"]]
    for n in range(2, 21):
        community = communities[(n * 7) % len(communities)]
        user = User(username=f"helper{n:02d}", role=roles.HELPER, place=community.parent,
                    display_name=_person_name(rng), phone=f"139{rng.randrange(10**8):08d}")
        user.set_password(DEMO_PASSWORD)
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
        else:
            community = communities[rng.randrange(len(communities))]
        hh = _make_household(rng, n, community, measures, today)
        households.append(hh)
    db.session.add_all(households)
    db.session.flush()

    # Helpers: demo-helper takes the first 16; the others share the rest evenly (14–15 each)
    # in community order.
    ordered = households[:16] + sorted(households[16:], key=lambda h: h.place.code)
    chunks: list[list[Household]] = [ordered[:16]]
    rest = ordered[16:]
    per, extra = divmod(len(rest), len(helpers) - 1)
    start = 0
    for i in range(len(helpers) - 1):
        size = per + (1 if i < extra else 0)
        chunks.append(rest[start:start + size])
        start += size
    # The position in creation order, not the database id: PostgreSQL sequences do not restart
    # after `demo --reset`, and the demo must come out the same every time.
    position = {id(hh): n for n, hh in enumerate(households, start=1)}
    visits = 0
    for helper, chunk in zip(helpers, chunks, strict=True):
        for hh in chunk:
            enrolled = hh.enrolled_on or today
            if position[id(hh)] % 9 == 0 and enrolled < today - timedelta(days=120):
                # A helper changed job: the history shows who was responsible when.
                previous = helpers[(helpers.index(helper) + 3) % len(helpers)]
                switch = today.replace(day=1) - timedelta(days=62)
                db.session.add(Assignment(household=hh, helper=previous, start_date=enrolled,
                                          end_date=switch - timedelta(days=1),
                                          reason="原帮扶责任人工作调动"))
                db.session.add(Assignment(household=hh, helper=helper, start_date=switch,
                                          reason="工作调动，重新指定帮扶责任人"))
            else:
                db.session.add(Assignment(household=hh, helper=helper, start_date=enrolled,
                                          reason="县级解困办结对帮扶"))
            if hh.status == "enrolled":
                visits += _make_visits(rng, hh, helper, this_month, enrolled)
    db.session.commit()
    return (f"演示数据已生成：{len(places)} 个县级以上单位，{len(streets)} 个街道，"
            f"{len(communities)} 个社区，{len(households)} 户，{len(helpers)} 名帮扶责任人，"
            f"{visits} 次走访。")


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
    }[category]
    size = rng.choice((1, 1, 2, 2, 3, 3, 3, 4, 4, 5))
    head_birth = date(rng.randrange(1948, 1990), rng.randrange(1, 13), rng.randrange(1, 29))
    head_name = _person_name(rng)
    lat, lon = _near(rng, community.lat, community.lon, 400)
    enrolled_days = rng.randrange(30, 700)
    status = "enrolled" if n % 25 else rng.choice(("reviewing", "publicity", "watch", "exited"))
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
    income = Decimal(rng.randrange(1200, 2600) if category == "edge" else rng.randrange(0, 1800))
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
            hh.plan.append(PlanMeasure(measure=m, amount=m.amount, start_date=hh.enrolled_on))
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


def _make_visits(rng: random.Random, hh: Household, helper: User, this_month: int,
                 enrolled: date) -> int:
    count = 0
    for back in range(6, -1, -1):
        month = add_months(this_month, -back)
        start, end = month_bounds(month)
        if end.astimezone(CST).date() <= enrolled:
            continue
        chance = 0.45 if back == 0 else 0.9
        if rng.random() > chance:
            continue
        span = (min(end, datetime.now(UTC)) - start).total_seconds()
        visited_at = (start + timedelta(seconds=rng.uniform(0, span * 0.95))).replace(microsecond=0)
        lat, lon = _near(rng, hh.ref_lat, hh.ref_lon, 60)
        statuses = {d: rng.choice(("ok", "ok", "ok", "at_risk", "problem")) for d in DIMENSIONS}
        answers: dict[str, Any] = {"present": hh.head_name}
        for d in DIMENSIONS:
            answers[f"{d}_status"] = statuses[d]
            answers[f"{d}_note"] = "" if statuses[d] == "ok" else "需持续关注"
        income = (hh.per_capita_income or Decimal(0)) * hh.members_count
        answers["household_income"] = float(income)
        answers["needs"] = "" if rng.random() < 0.7 else "希望协调公益性岗位"
        answers["next_steps"] = "下月继续走访"
        db.session.add(Visit(
            id=str(uuid.uuid5(DEMO_NAMESPACE, f"visit-{hh.id}-{month}")),
            household_id=hh.id, helper_id=helper.id, visited_at=visited_at,
            month=month_key(visited_at), recorded_at=visited_at + timedelta(minutes=5),
            lat=lat, lon=lon, accuracy_m=float(rng.randrange(8, 40)), location_source="gps",
            location_captured_at=visited_at, distance_m=None, answers=answers,
            household_income=income, per_capita_income=hh.per_capita_income,
            notes="", flags=[], flag_count=0,
        ))
        count += 1
    return count

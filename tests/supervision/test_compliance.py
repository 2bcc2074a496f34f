"""Compliance figures checked against an independent count.

A generated dataset (fixed seed) with mid-month and month-boundary reassignments, an
assignment that lapses mid-month, households without a helper, rejected and superseded visits,
visits a few minutes either side of midnight in Nanyang, a county asking for two visits a month,
exited, newly enrolled and never enrolled households, and households filed directly at a
street. The expected numbers are worked out below in plain Python from the rows as created —
never from the service's own queries — for every officer's scope, down to the helpers of each
community."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fieldwork.access.scope import household_clause
from fieldwork.extensions import db as _db
from fieldwork.households.models import Assignment, Household
from fieldwork.places.models import PolicySettings
from fieldwork.supervision import compliance
from fieldwork.supervision.views import place_filter
from fieldwork.visits.models import Visit

NANYANG = ZoneInfo("Asia/Shanghai")
# "Now" for these tests: December 2026 is running, October and November have ended.
NOW_MONTH = 202612
MONTHS = (202609, 202610, 202611, 202612)
FIRST = {202609: date(2026, 9, 1), 202610: date(2026, 10, 1), 202611: date(2026, 11, 1),
         202612: date(2026, 12, 1)}
LAST = {202609: date(2026, 9, 30), 202610: date(2026, 10, 31), 202611: date(2026, 11, 30),
        202612: date(2026, 12, 31)}
PREVIOUS = {202609: 202608, 202610: 202609, 202611: 202610, 202612: 202611}


@dataclass
class H:
    """A household as the test created it."""

    id: int
    county_id: int
    street_id: int | None
    place_id: int
    status: str
    enrolled_on: date | None
    exited_on: date | None
    assignments: list[tuple[int, date, date | None]] = field(default_factory=list)
    visits: list[dict] = field(default_factory=list)


@pytest.fixture(autouse=True)
def frozen_month(monkeypatch):
    monkeypatch.setattr(compliance, "current_month", lambda: NOW_MONTH)


@pytest.fixture
def dataset(world, make_user):
    """About 140 households over both counties; returns (households, helpers, users)."""
    rng = random.Random(20261101)
    _db.session.execute(sa.update(PolicySettings).where(
        PolicySettings.place_id == world.county_b.id).values(visits_per_month=2))
    helpers_a = [make_user("helper", place=world.street, display_name=f"帮扶甲{i}")
                 for i in range(5)]
    # One helper with no display name: rows must fall back to the user name.
    helpers_a.append(make_user("helper", place=world.street_2, display_name=""))
    helpers_b = [make_user("helper", place=world.street_b, display_name=f"帮扶乙{i}")
                 for i in range(3)]
    homes = ([world.community] * 4 + [world.community_2] * 3 + [world.community_3] * 3
             + [world.street] + [world.community_b] * 4)
    households: list[H] = []
    for n in range(140):
        home = homes[n % len(homes)]
        pool = helpers_b if home.is_within(world.county_b) else helpers_a
        kind = rng.random()
        status, enrolled, exited = "enrolled", date(2025, 3, 1) + timedelta(days=n), None
        if kind < 0.07:
            status, enrolled = rng.choice(["reviewing", "publicity", "watch"]), None
        elif kind < 0.14:
            status, exited = "exited", rng.choice([date(2026, 10, 20), date(2026, 11, 1),
                                                    date(2026, 10, 31), date(2026, 11, 30)])
        elif kind < 0.2:
            enrolled = rng.choice([date(2026, 11, 15), date(2026, 11, 30), date(2026, 12, 1),
                                   date(2026, 10, 31)])
        hh = Household(head_name=f"户{n}", address=f"测试路{n}号", category="below_dibao",
                       causes=["illness"], status=status, enrolled_on=enrolled,
                       exited_on=exited, file_no=f"C-{n:04d}")
        hh.set_place(home)
        _db.session.add(hh)
        _db.session.flush()
        h = H(hh.id, hh.county_id, hh.street_id, hh.place_id, status, enrolled, exited)
        households.append(h)

        first, second = rng.sample(pool, 2)
        pattern = rng.random()
        if pattern < 0.08:
            plan = []  # nobody assigned yet
        elif pattern < 0.3:  # handed over in the middle of November
            plan = [(first, date(2025, 1, 1), date(2026, 11, 14)),
                    (second, date(2026, 11, 15), None)]
        elif pattern < 0.4:  # handed over exactly at the November boundary
            plan = [(first, date(2025, 1, 1), date(2026, 10, 31)),
                    (second, date(2026, 11, 1), None)]
        elif pattern < 0.47:  # the helper left on 20 November and nobody took over
            plan = [(first, date(2025, 1, 1), date(2026, 11, 20))]
        elif pattern < 0.52:  # a stand-in overlapping a standing assignment
            plan = [(first, date(2025, 1, 1), None),
                    (second, date(2026, 11, 10), date(2026, 11, 20))]
        else:
            plan = [(first, date(2025, 1, 1), None)]
        for helper, start, end in plan:
            _db.session.add(Assignment(household_id=hh.id, helper_id=helper.id,
                                       start_date=start, end_date=end))
            h.assignments.append((helper.id, start, end))

        for month in MONTHS:
            y, m = divmod(month, 100)
            for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 3])):
                day = rng.randrange(1, 29)
                at = datetime(y, m, day, rng.randrange(0, 24), rng.randrange(60),
                              tzinfo=NANYANG).astimezone(UTC)
                h.visits.append(_visit(rng, hh, plan, at, pool[0]))
        edge = rng.random()
        # Either side of midnight at the start of November (Nanyang time) and of December.
        if edge < 0.15:
            at = datetime(2026, 10, 31, 16, 30, tzinfo=UTC)
        elif edge < 0.25:
            at = datetime(2026, 10, 31, 15, 59, tzinfo=UTC)
        elif edge < 0.32:
            at = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
        else:
            continue
        h.visits.append(_visit(rng, hh, plan, at, pool[0]))
    for h in households:
        for v in h.visits:
            _db.session.add(Visit(**v["row"]))
    _db.session.commit()
    return households, helpers_a + helpers_b


def _visit(rng: random.Random, hh: Household, plan, at: datetime, anyone) -> dict:
    helper_id = (plan[0][0] if plan else anyone).id
    state = rng.random()
    review_status = "rejected" if state < 0.1 else ("accepted" if state < 0.15 else "none")
    superseded = 0.15 <= state < 0.22
    flags = ["no_photo"] if rng.random() < 0.2 else []
    row = {
        "id": str(uuid.uuid4()), "household_id": hh.id, "helper_id": helper_id,
        "visited_at": at, "month": _month_of(at), "answers": {},
        "review_status": review_status, "superseded": superseded, "flags": flags,
        "flag_count": len(flags),
    }
    return {"row": row, "at": at, "valid": review_status != "rejected" and not superseded,
            "flagged": bool(flags)}


def _month_of(at: datetime) -> int:
    local = at.astimezone(NANYANG)
    return local.year * 100 + local.month


# ---------------------------------------------------------------- the independent count

def required(h: H, world) -> int:
    return 2 if h.county_id == world.county_b.id else 1


def is_due(h: H, month: int) -> bool:
    return (h.status in ("enrolled", "exited") and h.enrolled_on is not None
            and h.enrolled_on <= LAST[month]
            and (h.exited_on is None or h.exited_on > FIRST[month]))  # docs/exit.md


def valid_count(h: H, month: int) -> int:
    return sum(1 for v in h.visits if v["valid"] and _month_of(v["at"]) == month)


def flagged_count(h: H, month: int) -> int:
    return sum(1 for v in h.visits if v["valid"] and v["flagged"] and _month_of(v["at"]) == month)


def attributed(h: H, month: int) -> int | None:
    overlapping = [(helper, start, end) for helper, start, end in h.assignments
                   if start <= LAST[month] and (end is None or end >= FIRST[month])]
    if not overlapping:
        return None
    at_end = [a for a in overlapping if a[2] is None or a[2] >= LAST[month]]
    chosen = max(at_end or overlapping, key=lambda a: a[1])
    return chosen[0]


def expected(households: list[H], month: int, world) -> dict:
    """due/visited/overdue/flagged/visits over the households given."""
    out = {"due": 0, "visited": 0, "overdue": 0, "flagged": 0, "visits": 0}
    for h in households:
        if not is_due(h, month):
            continue
        need = required(h, world)
        n = valid_count(h, month)
        out["due"] += 1
        out["visits"] += n
        out["flagged"] += flagged_count(h, month)
        if n >= need:
            out["visited"] += 1
        elif month < NOW_MONTH or (h.enrolled_on < FIRST[month]
                                   and valid_count(h, PREVIOUS[month]) < need):
            out["overdue"] += 1
    return out


def as_dict(c: compliance.Counts) -> dict:
    return {"due": c.due, "visited": c.visited, "overdue": c.overdue, "flagged": c.flagged,
            "visits": c.visits}


def in_place(h: H, place) -> bool:
    return {"city": True, "county": h.county_id == place.id, "street": h.street_id == place.id,
            "community": h.place_id == place.id}[place.level]


# ---------------------------------------------------------------- tests

def officers(world, make_user):
    return [
        make_user("street_reviewer", place=world.street),
        make_user("street_reviewer", place=world.street_b),
        make_user("county_officer", place=world.county),
        make_user("county_officer", place=world.county_b),
        make_user("city_supervisor", place=world.city),
        make_user("admin", place=world.city),
    ]


@pytest.mark.parametrize("month", [202610, 202611, 202612])
def test_totals_match_an_independent_count_for_every_scope(dataset, world, make_user, month):
    households, _helpers = dataset
    for user in officers(world, make_user):
        mine = [h for h in households if in_place(h, user.place)]
        got = compliance.totals(household_clause(user), month)
        assert as_dict(got) == expected(mine, month, world), (user.role, user.place.name)
        assert got.due > 0


@pytest.mark.parametrize("month", [202610, 202611, 202612])
def test_the_breakdown_adds_up_down_the_tree(dataset, world, make_user, month):
    households, helpers = dataset
    city = make_user("city_supervisor", place=world.city)
    county = make_user("county_officer", place=world.county)
    street = make_user("street_reviewer", place=world.street)
    names = {u.id: u.display_name or u.username for u in helpers}
    for user, place in [(city, world.city), (city, world.county), (county, world.county),
                        (county, world.street), (street, world.street),
                        (street, world.community), (county, world.community_3),
                        (city, world.community_b)]:
        scope = household_clause(user)
        rows = compliance.breakdown(place, scope, month)
        here = [h for h in households if in_place(h, place) and in_place(h, user.place)]
        assert sum(r.counts.due for r in rows) == expected(here, month, world)["due"]
        if place.level == "community":
            by_helper = defaultdict(list)
            for h in here:
                by_helper[attributed(h, month)].append(h)
            got = {r.key: as_dict(r.counts) for r in rows}
            want = {k: expected(v, month, world) for k, v in by_helper.items()}
            want = {k: v for k, v in want.items() if v["due"]}
            assert got == want, place.name
            for r in rows:
                assert r.name == (names[r.key] if r.key else "未指定帮扶责任人")
        else:
            for r in rows:
                if r.key is None:  # households filed directly at the place
                    members = [h for h in here if not any(
                        in_place(h, child) for child in place.children)]
                else:
                    child = next(c for c in place.children if c.id == r.key)
                    members = [h for h in here if in_place(h, child)]
                assert as_dict(r.counts) == expected(members, month, world), (place.name, r.name)


def test_a_street_filed_household_has_its_own_row(dataset, world, make_user):
    county = make_user("county_officer", place=world.county)
    rows = compliance.breakdown(world.street, household_clause(county), 202611)
    direct = [r for r in rows if r.key is None]
    assert len(direct) == 1 and direct[0].name == "直属东关街道"
    assert [r.name for r in rows[:2]] == ["和平社区", "幸福社区"]


@pytest.mark.parametrize("month", [202611, 202612])
def test_helper_rows_follow_the_assignment_history(dataset, world, make_user, month):
    households, _helpers = dataset
    county = make_user("county_officer", place=world.county)
    got = {r.key: as_dict(r.counts)
           for r in compliance.helper_rows(household_clause(county), month)}
    groups = defaultdict(list)
    for h in households:
        if h.county_id == world.county.id:
            groups[attributed(h, month)].append(h)
    want = {k: expected(v, month, world) for k, v in groups.items()}
    assert got == {k: v for k, v in want.items() if v["due"]}


def test_attribution_in_the_handover_month(world, make_user, make_household, make_visit,
                                           db):
    """Handed over on 15 November: November (and its visits) belong to the new helper, the
    October figures stay with the old one; a lapsed assignment keeps its month."""
    old = make_user("helper", display_name="原帮扶人")
    new = make_user("helper", display_name="新帮扶人")
    hh = make_household(helper=None, enrolled_on=date(2026, 1, 5))
    db.session.add_all([
        Assignment(household_id=hh.id, helper_id=old.id, start_date=date(2026, 1, 5),
                   end_date=date(2026, 11, 14)),
        Assignment(household_id=hh.id, helper_id=new.id, start_date=date(2026, 11, 15)),
    ])
    db.session.commit()
    make_visit(hh, old, visited_at=datetime(2026, 11, 3, 2, 0, tzinfo=UTC))
    county = make_user("county_officer")
    assert [(r.name, r.counts.visited) for r in compliance.breakdown(
        world.community, household_clause(county), 202611)] == [("新帮扶人", 1)]
    assert [(r.name, r.counts.overdue) for r in compliance.breakdown(
        world.community, household_clause(county), 202610)] == [("原帮扶人", 1)]


@pytest.mark.parametrize("month", [202611, 202612])
def test_overdue_households_and_their_last_visit(dataset, world, make_user, month):
    households, _helpers = dataset
    city = make_user("city_supervisor", place=world.city)
    got = {hh.id: (helper_id, last) for hh, helper_id, last in
           compliance.overdue_households(household_clause(city), month, limit=1000)}
    want = {}
    for h in households:
        if not is_due(h, month):
            continue
        need = required(h, world)
        if valid_count(h, month) >= need:
            continue
        if month == NOW_MONTH and (h.enrolled_on >= FIRST[month]
                                   or valid_count(h, PREVIOUS[month]) >= need):
            continue
        valid = [v["at"] for v in h.visits if v["valid"] and _month_of(v["at"]) <= month]
        want[h.id] = (attributed(h, month), max(valid) if valid else None)
    assert got == want
    assert len(got) == compliance.totals(household_clause(city), month).overdue


def test_trend_is_the_totals_of_each_month(dataset, world, make_user):
    households, _helpers = dataset
    street = make_user("street_reviewer", place=world.street)
    mine = [h for h in households if h.street_id == world.street.id]
    trend = compliance.trend(household_clause(street), 202612, months=4)
    assert [m for m, _c in trend] == list(MONTHS)
    assert [as_dict(c) for _m, c in trend] == [expected(mine, m, world) for m in MONTHS]
    # Ended months only (computed together), and every scope, agree with the count too.
    for user in officers(world, make_user):
        mine = [h for h in households if in_place(h, user.place)]
        got = compliance.trend(household_clause(user), 202611, months=3)
        assert [as_dict(c) for _m, c in got] == [expected(mine, m, world) for m in MONTHS[:3]]


def test_month_boundaries_in_nanyang_time(world, make_user, make_household, make_visit):
    """16:30 UTC on 31 October is 00:30 on 1 November in Nanyang: it counts for November."""
    helper = make_user("helper")
    late = make_household(helper=helper, enrolled_on=date(2026, 1, 1))
    early = make_household(helper=helper, enrolled_on=date(2026, 1, 1))
    make_visit(late, helper, visited_at=datetime(2026, 10, 31, 16, 30, tzinfo=UTC))
    make_visit(early, helper, visited_at=datetime(2026, 10, 31, 15, 59, tzinfo=UTC))
    county = make_user("county_officer")
    scope = household_clause(county)
    october = compliance.overdue_households(scope, 202610)
    november = compliance.overdue_households(scope, 202611)
    assert [hh.id for hh, _h, _d in october] == [late.id]
    assert [hh.id for hh, _h, _d in november] == [early.id]


def test_two_visits_a_month_where_the_county_asks_for_two(world, make_user, make_household,
                                                          make_visit, db):
    db.session.execute(sa.update(PolicySettings).where(
        PolicySettings.place_id == world.county_b.id).values(visits_per_month=2))
    db.session.commit()
    helper = make_user("helper", place=world.street_b)
    once = make_household(place=world.community_b, helper=helper,
                          enrolled_on=date(2026, 1, 1))
    twice = make_household(place=world.community_b, helper=helper,
                           enrolled_on=date(2026, 1, 1))
    make_visit(once, helper, visited_at=datetime(2026, 11, 3, 2, tzinfo=UTC))
    for day in (3, 20):
        make_visit(twice, helper, visited_at=datetime(2026, 11, day, 2, tzinfo=UTC))
    city = make_user("city_supervisor")
    got = compliance.totals(household_clause(city), 202611)
    assert (got.due, got.visited, got.overdue, got.visits) == (2, 1, 1, 3)


def test_rejected_and_superseded_visits_do_not_count(world, make_user, make_household,
                                                     make_visit):
    helper = make_user("helper")
    hh = make_household(helper=helper, enrolled_on=date(2026, 1, 1))
    at = datetime(2026, 11, 3, 2, tzinfo=UTC)
    make_visit(hh, helper, visited_at=at, review_status="rejected", flags=["no_photo"],
               flag_count=1)
    make_visit(hh, helper, visited_at=at, superseded=True)
    county = make_user("county_officer")
    got = compliance.totals(household_clause(county), 202611)
    assert (got.due, got.visited, got.overdue, got.visits, got.flagged) == (1, 0, 1, 0, 0)
    make_visit(hh, helper, visited_at=at, review_status="accepted", flags=["no_photo"],
               flag_count=1)
    got = compliance.totals(household_clause(county), 202611)
    assert (got.visited, got.overdue, got.visits, got.flagged) == (1, 0, 1, 1)


def test_who_is_due(world, make_user, make_household):
    """Enrolled during the month or exited after its first day: due; exited on its first day
    or before it began, enrolled after it ended, or never enrolled: not due."""
    helper = make_user("helper")
    make_household(helper=helper, enrolled_on=date(2026, 11, 30))
    make_household(helper=helper, status="exited", enrolled_on=date(2025, 1, 1),
                   exited_on=date(2026, 11, 2))
    make_household(helper=helper, status="exited", enrolled_on=date(2025, 1, 1),
                   exited_on=date(2026, 11, 1))
    make_household(helper=helper, status="exited", enrolled_on=date(2025, 1, 1),
                   exited_on=date(2026, 10, 31))
    make_household(helper=helper, enrolled_on=date(2026, 12, 1))
    make_household(helper=helper, status="reviewing")
    make_household(helper=helper, status="watch")
    county = make_user("county_officer")
    assert compliance.totals(household_clause(county), 202611).due == 2


def test_a_running_month_is_overdue_only_after_last_month_was_missed(
        world, make_user, make_household, make_visit):
    helper = make_user("helper")
    seen_last_month = make_household(helper=helper, enrolled_on=date(2026, 1, 1))
    missed_both = make_household(helper=helper, enrolled_on=date(2026, 1, 1))
    make_household(helper=helper, enrolled_on=date(2026, 12, 3))  # new: not overdue yet
    make_visit(seen_last_month, helper, visited_at=datetime(2026, 11, 10, 2, tzinfo=UTC))
    county = make_user("county_officer")
    running = compliance.totals(household_clause(county), 202612)
    assert (running.due, running.visited, running.overdue) == (3, 0, 1)
    assert [hh.id for hh, _h, _d in compliance.overdue_households(
        household_clause(county), 202612)] == [missed_both.id]


def test_place_filter_limits_to_the_place(dataset, world, make_user):
    households, _helpers = dataset
    city = make_user("city_supervisor", place=world.city)
    for place in (world.county_b, world.street_2, world.community_2):
        scope = sa.and_(household_clause(city), place_filter(place))
        mine = [h for h in households if in_place(h, place)]
        assert as_dict(compliance.totals(scope, 202611)) == expected(mine, 202611, world)

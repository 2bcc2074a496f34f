"""Visits count per calendar month in Nanyang (Asia/Shanghai), not per UTC month: the month a
visit lands in, and what a helper's list says about each household's month."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from fieldwork.extensions import db as _db
from fieldwork.households import services as hs
from fieldwork.places.services import policy_for_county
from fieldwork.timeutil import (
    CST,
    add_months,
    current_month,
    date_plus_months,
    month_bounds,
    month_key,
    now_utc,
)
from fieldwork.visits.models import Visit
from fieldwork.visits.services import parse_visit_record, record_visit
from tests.factories import set_policy, utc, visit_record

# ------------------------------------------------------------------ month_key / month_bounds

@pytest.mark.parametrize(("instant", "month"), [
    (utc(2026, 10, 31, 15, 59, 59), 202610),
    # 00:30 on 1 November in Nanyang, still October in UTC.
    (utc(2026, 10, 31, 16, 30), 202611),
    (utc(2026, 11, 30, 15, 59, 59), 202611),
    (utc(2026, 11, 30, 16, 0, 0), 202612),
    (utc(2026, 12, 31, 15, 59, 59), 202612),
    # New Year in Nanyang eight hours before London.
    (utc(2026, 12, 31, 16, 0, 0), 202701),
    (datetime(2027, 1, 1, 0, 0, tzinfo=CST), 202701),
    (datetime(2026, 11, 30, 23, 59, 59, tzinfo=CST), 202611),
])
def test_month_key_is_the_nanyang_calendar_month(instant, month):
    assert month_key(instant) == month


def test_month_key_refuses_a_time_without_offset():
    with pytest.raises(ValueError):
        month_key(datetime(2026, 11, 1, 0, 30))


@pytest.mark.parametrize(("key", "start", "end"), [
    (202611, utc(2026, 10, 31, 16), utc(2026, 11, 30, 16)),
    (202612, utc(2026, 11, 30, 16), utc(2026, 12, 31, 16)),
    (202701, utc(2026, 12, 31, 16), utc(2027, 1, 31, 16)),
    (202602, utc(2026, 1, 31, 16), utc(2026, 2, 28, 16)),
])
def test_month_bounds_are_utc_instants_of_the_local_month(key, start, end):
    assert month_bounds(key) == (start, end)
    lo, hi = month_bounds(key)
    assert lo.utcoffset() == timedelta(0)
    assert month_key(lo) == key
    assert month_key(hi - timedelta(microseconds=1)) == key
    assert month_key(hi) == add_months(key, 1)
    assert month_key(lo - timedelta(microseconds=1)) == add_months(key, -1)


def test_add_months_crosses_the_year():
    assert add_months(202612, 1) == 202701
    assert add_months(202601, -1) == 202512
    assert add_months(202611, 14) == 202801


def test_date_plus_months_keeps_the_day_or_takes_the_months_last():
    assert date_plus_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert date_plus_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert date_plus_months(date(2026, 3, 15), -3) == date(2025, 12, 15)


# ------------------------------------------------------------------ the month a visit lands in

def push(helper, household, visited_at: str, *, now: datetime) -> Visit:
    raw = visit_record(household.id, visited_at=visited_at, location=None)
    result = record_visit(helper, parse_visit_record(raw, device_id="dev"), now=now)
    assert result.status == "created", result.errors
    _db.session.commit()
    _db.session.expire_all()
    return _db.session.get(Visit, result.id)


@pytest.mark.parametrize(("sent", "instant", "month"), [
    ("2026-10-31T16:30:00Z", utc(2026, 10, 31, 16, 30), 202611),
    ("2026-11-01T00:30:00+08:00", utc(2026, 10, 31, 16, 30), 202611),
    ("2026-10-31T15:59:00+00:00", utc(2026, 10, 31, 15, 59), 202610),
    ("2026-11-30T15:59:59Z", utc(2026, 11, 30, 15, 59, 59), 202611),
    ("2026-11-30T16:00:00Z", utc(2026, 11, 30, 16), 202612),
    ("2026-12-31T23:59:00+08:00", utc(2026, 12, 31, 15, 59), 202612),
    ("2026-12-31T16:00:00Z", utc(2026, 12, 31, 16), 202701),
    # A phone set to another zone still reports the same instant.
    ("2026-11-30T10:00:00-06:00", utc(2026, 11, 30, 16), 202612),
])
def test_a_recorded_visit_lands_in_the_nanyang_month(make_user, make_household, sent, instant,
                                                     month):
    helper = make_user("helper")
    household = make_household(helper=helper)
    visit = push(helper, household, sent, now=instant + timedelta(hours=1))
    assert visit.month == month
    assert visit.visited_at == instant  # stored as the UTC instant, offset kept
    assert visit.visited_at.utcoffset() == timedelta(0)


# ------------------------------------------------------------------ visited / due / overdue

NOV = 202611
DEC = 202612


def at(key: int, days: float = 3) -> datetime:
    """An instant inside the Nanyang month key."""
    return month_bounds(key)[0] + timedelta(days=days)


def states(households, month: int) -> dict[str, str]:
    """The month state of each household, with the county's required visits per month."""
    counts = hs.visit_counts([h.id for h in households], [month, add_months(month, -1)])
    out = {}
    for h in households:
        required = policy_for_county(h.county_id).visits_per_month
        out[h.head_name] = hs.month_state(counts, h.id, month, required).state
    return out


def test_month_state_with_one_visit_a_month(world, make_user, make_household, make_visit):
    helper = make_user("helper")
    hh = {name: make_household(helper=helper, head_name=name) for name in (
        "visited", "due", "overdue", "rejected", "superseded", "prev_rejected", "boundary",
        "prev_boundary")}
    make_visit(hh["visited"], helper, visited_at=at(NOV))
    make_visit(hh["visited"], helper, visited_at=at(add_months(NOV, -1)))
    make_visit(hh["due"], helper, visited_at=at(add_months(NOV, -1)))
    # A visit rejected in review or replaced by a correction does not count.
    make_visit(hh["rejected"], helper, visited_at=at(NOV), review_status="rejected")
    make_visit(hh["rejected"], helper, visited_at=at(add_months(NOV, -1)))
    make_visit(hh["superseded"], helper, visited_at=at(NOV), superseded=True)
    make_visit(hh["superseded"], helper, visited_at=at(add_months(NOV, -1)))
    make_visit(hh["prev_rejected"], helper, visited_at=at(add_months(NOV, -1)),
               review_status="rejected")
    # 00:00:00 on 1 December in Nanyang is December's, whatever UTC says.
    make_visit(hh["boundary"], helper, visited_at=utc(2026, 11, 30, 16, 0, 0))
    make_visit(hh["boundary"], helper, visited_at=at(add_months(NOV, -1)))
    # 00:30 on 1 November in Nanyang counts for November, not October.
    make_visit(hh["prev_boundary"], helper, visited_at=utc(2026, 10, 31, 16, 30))
    # An accepted flagged visit counts like any other.
    make_visit(hh["due"], helper, visited_at=at(add_months(NOV, -2)), review_status="accepted")

    assert states(hh.values(), NOV) == {
        "visited": "visited", "due": "due", "overdue": "overdue", "rejected": "due",
        "superseded": "due", "prev_rejected": "overdue", "boundary": "due",
        "prev_boundary": "visited",
    }
    assert states([hh["boundary"]], DEC) == {"boundary": "visited"}
    assert states([hh["prev_boundary"]], add_months(NOV, -1)) == {"prev_boundary": "overdue"}


def test_month_state_follows_the_countys_visits_per_month(world, make_user, make_household,
                                                         make_visit):
    helper = make_user("helper")
    one = make_household(helper=helper, head_name="one")
    two = make_household(helper=helper, head_name="two")
    two_rejected = make_household(helper=helper, head_name="two_rejected")
    lagging = make_household(helper=helper, head_name="lagging")
    for h in (one, two, two_rejected):
        make_visit(h, helper, visited_at=at(add_months(NOV, -1), 2))
        make_visit(h, helper, visited_at=at(add_months(NOV, -1), 9))
    make_visit(one, helper, visited_at=at(NOV, 2))
    make_visit(two, helper, visited_at=at(NOV, 2))
    make_visit(two, helper, visited_at=at(NOV, 20))
    make_visit(two_rejected, helper, visited_at=at(NOV, 2))
    make_visit(two_rejected, helper, visited_at=at(NOV, 20), review_status="rejected")
    make_visit(lagging, helper, visited_at=at(add_months(NOV, -1), 2))
    make_visit(lagging, helper, visited_at=at(NOV, 2))
    households = [one, two, two_rejected, lagging]

    assert states(households, NOV) == {
        "one": "visited", "two": "visited", "two_rejected": "visited", "lagging": "visited"}

    set_policy(world, visits_per_month=2)
    assert policy_for_county(world.county.id).visits_per_month == 2
    assert states(households, NOV) == {
        "one": "due", "two": "visited", "two_rejected": "due", "lagging": "overdue"}


def test_helpers_list_says_visited_only_after_the_required_visits(
        world, client, auth, make_user, make_household, make_visit):
    """The state the helper's list shows for this month (drawn from the pull), with 2 visits
    required: "visited" only after both."""
    helper = make_user("helper")
    household = make_household(helper=helper, head_name="李秀英")
    month = current_month()
    start = month_bounds(month)[0]
    now = now_utc()
    prev = month_bounds(add_months(month, -1))[0]
    make_visit(household, helper, visited_at=prev + timedelta(days=1))
    make_visit(household, helper, visited_at=prev + timedelta(days=2))
    make_visit(household, helper, visited_at=start + (now - start) / 3)
    auth.login(as_=helper)

    def state() -> tuple[str, bool]:
        [pulled] = client.get("/api/sync/v1/pull").get_json()["households"]
        return pulled["visit_state"], pulled["due_this_month"]

    assert state() == ("visited", False)

    set_policy(world, visits_per_month=2)
    assert state() == ("due", True)  # "本月待走访", "已走访 0 / 1 户"

    make_visit(household, helper, visited_at=start + (now - start) * 2 / 3)
    assert state() == ("visited", False)  # "本月已走访", "已走访 1 / 1 户"

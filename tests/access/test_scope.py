"""The one scope rule (fieldwork/access/scope.py) for every role, and what it means on the
pages: in scope answers 200, out of scope answers 404 and shows nothing of the record."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from fieldwork.access.scope import (
    can_see_household,
    can_see_place,
    visible_households,
)
from fieldwork.households.models import Assignment
from fieldwork.places.models import PolicySettings
from fieldwork.timeutil import add_months, current_month, month_bounds, today_local

pytestmark = pytest.mark.usefixtures("fresh_g")


def visible(db, user) -> set[int]:
    return {h.id for h in db.session.scalars(visible_households(user))}


def visible_names(db, user) -> set[str]:
    return {h.head_name for h in db.session.scalars(visible_households(user))}


def assign(db, household, helper, start, end=None):
    db.session.add(Assignment(household=household, helper=helper, start_date=start, end_date=end))
    db.session.commit()


# ---------------------------------------------------------------- helpers: by assignment


@pytest.fixture
def helpers(make_user, world):
    return make_user("helper", username="helper-me"), make_user("helper", username="helper-other")


def test_helper_sees_only_households_currently_assigned_to_them(db, world, helpers,
                                                                make_household):
    me, other = helpers
    today = today_local()
    long_ago = today - timedelta(days=400)

    current = make_household(head_name="现帮扶", helper=me)
    make_household(head_name="他人户", helper=other)
    make_household(head_name="无人帮扶")
    ends_today = make_household(head_name="今天结束")
    assign(db, ends_today, me, long_ago, today)
    ended = make_household(head_name="已结束")
    assign(db, ended, me, long_ago, today - timedelta(days=1))
    future = make_household(head_name="尚未开始")
    assign(db, future, me, today + timedelta(days=1))
    # Reassigned away from me ten days ago; and to me from someone else.
    away = make_household(head_name="已转出")
    assign(db, away, me, long_ago, today - timedelta(days=10))
    assign(db, away, other, today - timedelta(days=9))
    to_me = make_household(head_name="已转入")
    assign(db, to_me, other, long_ago, today - timedelta(days=10))
    assign(db, to_me, me, today - timedelta(days=9))
    # Assignment, not geography: a household in the other county is still mine if assigned.
    far = make_household(head_name="外县户", place=world.community_b, helper=me)

    assert visible_names(db, me) == {"现帮扶", "今天结束", "已转入", "外县户"}
    assert visible_names(db, other) == {"他人户", "已转出"}
    assert can_see_household(me, current) and can_see_household(me, far)
    assert not can_see_household(me, away)
    assert not can_see_household(me, future)
    assert not can_see_household(other, to_me)


def test_inactive_helper_sees_nothing(db, helpers, make_household):
    me, _ = helpers
    make_household(helper=me)
    me.active = False
    db.session.commit()
    assert visible(db, me) == set()


# ---------------------------------------------------------------- officers: by place


@pytest.fixture
def spread(world, make_household, helpers):
    """One household in each community of the world, named after where it is."""
    me, _ = helpers
    return {
        "c1": make_household(head_name="c1", place=world.community, helper=me),
        "c2": make_household(head_name="c2", place=world.community_2),
        "c3": make_household(head_name="c3", place=world.community_3, status="reported"),
        "b": make_household(head_name="b", place=world.community_b, status="exited"),
    }


@pytest.mark.parametrize(
    ("role", "place", "expected"),
    [
        ("community_worker", "community", {"c1"}),
        ("community_worker", "community_2", {"c2"}),
        ("street_reviewer", "street", {"c1", "c2"}),
        ("street_reviewer", "street_2", {"c3"}),
        ("county_officer", "county", {"c1", "c2", "c3"}),
        ("county_officer", "county_b", {"b"}),
        ("city_supervisor", "city", {"c1", "c2", "c3", "b"}),
        ("admin", "city", {"c1", "c2", "c3", "b"}),
        ("admin", "county", {"c1", "c2", "c3"}),
    ],
)
def test_officers_see_their_place_and_below(db, world, make_user, spread, role, place, expected):
    user = make_user(role, place=getattr(world, place))
    assert visible_names(db, user) == expected
    for name, household in spread.items():
        assert can_see_household(user, household) is (name in expected), name


@pytest.mark.parametrize(
    ("role", "place", "seen", "hidden"),
    [
        ("community_worker", "community", ["community"],
         ["community_2", "street", "county", "city", "community_b"]),
        ("street_reviewer", "street", ["street", "community", "community_2"],
         ["street_2", "community_3", "county", "city", "street_b"]),
        ("county_officer", "county", ["county", "street", "street_2", "community_3"],
         ["county_b", "street_b", "community_b", "city"]),
        ("city_supervisor", "city", ["city", "county", "county_b", "community_b"], []),
    ],
)
def test_place_scope(world, make_user, role, place, seen, hidden):
    user = make_user(role, place=getattr(world, place))
    for name in seen:
        assert can_see_place(user, getattr(world, name)), name
    for name in hidden:
        assert not can_see_place(user, getattr(world, name)), name


# ---------------------------------------------------------------- through the pages

SECRETS = {
    "head_name": "秘密户主甲",
    "address": "保密路77号3单元",
    "file_no": "SECRET-0077",
    "head_id_mask": "411302********0077",
}


@pytest.mark.parametrize(
    ("role", "place", "inside", "outside"),
    [
        ("community_worker", "community", "community", "community_2"),
        ("street_reviewer", "street", "community_2", "community_3"),
        ("county_officer", "county", "community_3", "community_b"),
        ("city_supervisor", "city", "community_b", None),
        ("admin", "city", "community", None),
    ],
)
def test_household_page_answers_404_out_of_scope(client, auth, world, make_user, make_household,
                                                 role, place, inside, outside):
    user = make_user(role, place=getattr(world, place))
    auth.login(as_=user)

    mine = make_household(place=getattr(world, inside), head_name="可见户主乙")
    response = client.get(f"/households/{mine.id}")
    assert response.status_code == 200
    assert "可见户主乙" in response.get_data(as_text=True)

    if outside is not None:
        hidden = make_household(place=getattr(world, outside), phone="13912340077", **SECRETS)
        _assert_hidden(client.get(f"/households/{hidden.id}"))


def test_helper_household_pages(client, auth, world, helpers, make_household, db):
    me, other = helpers
    auth.login(as_=me)
    today = today_local()
    own = make_household(head_name="我的户", helper=me)
    assert client.get(f"/households/{own.id}").status_code == 200

    # Same community, another helper's household: out of scope all the same.
    _assert_hidden(client.get(f"/households/{make_household(helper=other, **SECRETS).id}"))

    reassigned = make_household(head_name="转出户", phone="13912340077", file_no="SECRET-0078",
                                address="保密路78号")
    assign(db, reassigned, me, today - timedelta(days=300), today - timedelta(days=1))
    assign(db, reassigned, other, today)
    response = client.get(f"/households/{reassigned.id}")
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "转出户" not in body and "保密路78号" not in body and "SECRET-0078" not in body


def test_missing_and_hidden_households_look_the_same(client, auth, world, make_user,
                                                     make_household):
    auth.login(as_=make_user("community_worker", place=world.community))
    hidden = make_household(place=world.community_b, **SECRETS)
    missing = client.get("/households/999999")
    out_of_scope = client.get(f"/households/{hidden.id}")
    assert missing.status_code == out_of_scope.status_code == 404
    title = re.compile(r"<h1>(.*?)</h1>", re.S)
    assert title.search(missing.get_data(as_text=True)).group(1) == \
        title.search(out_of_scope.get_data(as_text=True)).group(1)


def _assert_hidden(response) -> None:
    assert response.status_code == 404  # not 403: no hint that the household exists
    body = response.get_data(as_text=True)
    for value in [*SECRETS.values(), "13912340077", "1391234"]:
        assert value not in body, value
    assert "找不到该页面或记录" in body


@pytest.mark.parametrize(
    ("role", "place", "ok", "not_found"),
    [
        ("community_worker", "community", ["community"], ["community_2", "street", "county"]),
        ("street_reviewer", "street", ["street", "community"], ["street_2", "county", "city"]),
        ("county_officer", "county", ["county", "community_3"], ["county_b", "community_b"]),
        ("city_supervisor", "city", ["city", "county_b", "community_b"], []),
        ("helper", "street", [], ["street", "community", "county", "city"]),
    ],
)
def test_place_pages_answer_404_out_of_scope(client, auth, world, make_user, make_household,
                                             role, place, ok, not_found):
    auth.login(as_=make_user(role, place=getattr(world, place)))
    make_household(place=world.community_b, head_name="卧龙户")
    for name in ok:
        assert client.get(f"/places/{getattr(world, name).id}").status_code == 200, name
    for name in not_found:
        target = getattr(world, name)
        response = client.get(f"/places/{target.id}")
        assert response.status_code == 404, name
        assert "卧龙户" not in response.get_data(as_text=True)
    assert client.get("/places/999999").status_code == 404


def test_county_page_counts_only_the_county(client, auth, world, make_user, make_household):
    auth.login(as_=make_user("county_officer", place=world.county))
    make_household(place=world.community)
    make_household(place=world.community_3)
    make_household(place=world.community_b)
    html = client.get(f"/places/{world.county.id}").get_data(as_text=True)
    assert "帮扶中 2 户" in html
    assert "七一街道" not in html and "光明社区" not in html


# ---------------------------------------------------------------- the helper's list


def _this_month_instant():
    return month_bounds(current_month())[0] + timedelta(minutes=1)


def _last_month_instant():
    return month_bounds(add_months(current_month(), -1))[0] + timedelta(days=1)


def _list_states(client) -> dict[str, str]:
    """{head name: this month's state} of the helper's list, from the pull it is drawn from
    (static/js/pages/mine.js; the chips and order are checked in tests/browser)."""
    assert client.get("/households/mine").status_code == 200
    response = client.get("/api/sync/v1/pull")
    assert response.status_code == 200
    return {h["head_name"]: h["visit_state"] for h in response.get_json()["households"]}


def test_my_households_lists_exactly_mine_with_this_months_state(client, auth, world, helpers,
                                                                 make_household, make_visit, db):
    me, other = helpers
    now, before = _this_month_instant(), _last_month_instant()

    visited = make_household(head_name="已访户", helper=me)
    make_visit(visited, me, visited_at=now)
    due = make_household(head_name="待访户", helper=me)
    make_visit(due, me, visited_at=before)
    make_household(head_name="逾期户", helper=me)
    rejected = make_household(head_name="驳回户", helper=me)
    make_visit(rejected, me, visited_at=now, review_status="rejected")
    make_visit(rejected, me, visited_at=before)
    superseded = make_household(head_name="作废户", helper=me)
    make_visit(superseded, me, visited_at=now, superseded=True)
    # A visit by a colleague standing in still counts for the household.
    covered = make_household(head_name="代访户", helper=me)
    make_visit(covered, other, visited_at=now)
    far = make_household(head_name="外县户", place=world.community_b, helper=me)
    make_visit(far, me, visited_at=before)

    # Not mine, or not to be visited.
    make_household(head_name="他人户", helper=other)
    make_household(head_name="已退出户", helper=me, status="exited")
    gone = make_household(head_name="转出户")
    assign(db, gone, me, today_local() - timedelta(days=300), today_local() - timedelta(days=1))

    auth.login(as_=me)
    states = _list_states(client)
    assert states == {
        "已访户": "visited",
        "待访户": "due",
        "逾期户": "overdue",
        "驳回户": "due",
        "作废户": "overdue",
        "代访户": "visited",
        "外县户": "due",
    }
    assert list(states.values()).count("visited") == 2  # "已走访 2 / 7 户"


def test_required_visits_come_from_the_county_policy(client, auth, world, helpers,
                                                     make_household, make_visit, db):
    me, _ = helpers
    policy = db.session.scalar(sa.select(PolicySettings).where(
        PolicySettings.place_id == world.county.id))
    policy.visits_per_month = 2
    db.session.commit()
    now, before = _this_month_instant(), _last_month_instant()

    once = make_household(head_name="一次户", helper=me)
    make_visit(once, me, visited_at=now)
    for _ in range(2):
        make_visit(once, me, visited_at=before)
    twice = make_household(head_name="两次户", helper=me)
    make_visit(twice, me, visited_at=now)
    make_visit(twice, me, visited_at=now + timedelta(minutes=1))
    short = make_household(head_name="欠访户", helper=me)
    make_visit(short, me, visited_at=before)

    auth.login(as_=me)
    assert _list_states(client) == {
        "一次户": "due", "两次户": "visited", "欠访户": "overdue",
    }


def test_my_households_is_for_helpers_only(client, auth, make_user):
    auth.login(as_=make_user("county_officer"))
    assert client.get("/households/mine").status_code == 404

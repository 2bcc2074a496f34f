"""帮扶人任务清单 (issue 15 part 3): the service's rows (which households, duty states, order,
open problems, measures to follow up), the printed page and who may read it, and the pull
fields the phone's list draws from."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from fieldwork.households.models import Assignment, Measure, PlanMeasure
from fieldwork.supervision.tasks import task_list
from fieldwork.timeutil import (
    add_months,
    current_month,
    month_bounds,
    month_first_day,
    month_last_day,
    today_local,
)
from tests.factories import set_policy

THIS = current_month()
LAST = add_months(THIS, -1)
LONG_AGO = date(2024, 1, 1)


def at(month: int, minutes: int = 1):
    """An instant inside the month (never in the future for the running month)."""
    return month_bounds(month)[0] + timedelta(minutes=minutes)


@pytest.fixture
def desk(world, make_user, make_household, make_visit, db):
    helper = make_user("helper", display_name="张红梅", organisation="宛城区人社局")
    other = make_user("helper", display_name="李四")
    hh = {}
    # Names sorted against the states, so the order can only come from the states.
    hh["visited"] = make_household(helper=helper, head_name="甲一", enrolled_on=LONG_AGO,
                                   phone="13912345678")
    hh["due"] = make_household(helper=helper, head_name="乙二", enrolled_on=LONG_AGO)
    hh["overdue"] = make_household(helper=helper, head_name="丙三", enrolled_on=LONG_AGO,
                                   place=world.community_2)
    hh["new"] = make_household(helper=helper, head_name="丁四",
                               enrolled_on=month_first_day(THIS))
    hh["theirs"] = make_household(helper=other, head_name="戊五", enrolled_on=LONG_AGO)
    hh["exited"] = make_household(helper=helper, head_name="己六", status="exited",
                                  enrolled_on=LONG_AGO, exited_on=LONG_AGO + timedelta(days=40))
    make_visit(hh["visited"], helper, visited_at=at(THIS),
               answers={"income_status": "problem", "housing_status": "normal",
                        "medical_status": "at_risk"})
    make_visit(hh["due"], helper, visited_at=at(LAST), answers={"income_status": "normal"})
    # A rejected visit counts for nothing: the overdue household stays overdue.
    make_visit(hh["overdue"], helper, visited_at=at(THIS, 2), review_status="rejected")
    dibao = Measure(county_id=None, area="income", department="民政", name="城乡最低生活保障金",
                    unit="元/月")
    school = Measure(county_id=None, area="education", department="教育", name="教育救助")
    rent = Measure(county_id=None, area="housing", department="住建", name="公租房租赁补贴")
    old = Measure(county_id=None, area="medical", department="医保", name="医疗救助")
    db.session.add_all([dibao, school, rent, old])
    db.session.flush()
    today = today_local()
    db.session.add_all([
        PlanMeasure(household_id=hh["due"].id, measure_id=dibao.id, amount=Decimal("450"),
                    start_date=LONG_AGO),
        PlanMeasure(household_id=hh["due"].id, measure_id=school.id,
                    start_date=month_first_day(THIS)),
        PlanMeasure(household_id=hh["due"].id, measure_id=rent.id, start_date=LONG_AGO,
                    end_date=month_last_day(THIS)),
        PlanMeasure(household_id=hh["due"].id, measure_id=old.id, start_date=LONG_AGO,
                    end_date=LONG_AGO + timedelta(days=300)),
    ])
    db.session.commit()
    assert today >= month_first_day(THIS)
    return {"helper": helper, "other": other, "hh": hh,
            "measures": {"dibao": dibao, "school": school, "rent": rent, "old": old}}


def test_rows_are_the_helpers_households_overdue_first_then_due_then_visited(desk):
    rows = task_list(desk["helper"], THIS)
    hh = desk["hh"]
    assert [r.household.id for r in rows] == [
        hh["overdue"].id,            # 逾期: missed last month too
        hh["new"].id, hh["due"].id,  # 待走访, by name (丁 < 乙 by code point)
        hh["visited"].id,            # 已走访
    ]
    assert [r.state.state for r in rows] == ["overdue", "due", "due", "visited"]
    # Another helper's household and an exited one are not on the list.
    ids = {r.household.id for r in rows}
    assert hh["theirs"].id not in ids and hh["exited"].id not in ids


def test_duty_counts_valid_visits_against_the_county_policy(desk, world):
    set_policy(world, visits_per_month=2)
    rows = {r.household.id: r for r in task_list(desk["helper"], THIS)}
    visited = rows[desk["hh"]["visited"].id]
    # One valid visit of two required: still to visit (last month had none, so overdue).
    assert (visited.state.visits, visited.state.required) == (1, 2)
    assert visited.state.state == "overdue"
    assert rows[desk["hh"]["overdue"].id].state.visits == 0  # the rejected visit is no visit
    # Enrolled this month: to visit, never overdue before the month is out.
    assert rows[desk["hh"]["new"].id].state.state == "due"


def test_open_problems_and_last_visit_come_from_the_latest_valid_visit(desk):
    rows = {r.household.id: r for r in task_list(desk["helper"], THIS)}
    visited = rows[desk["hh"]["visited"].id]
    assert visited.open_problems == ["income", "medical"]
    assert visited.last_visit_on == month_first_day(THIS)
    assert visited.phone_mask and "12345678" not in visited.phone_mask
    assert rows[desk["hh"]["overdue"].id].last_visit_on is None  # only a rejected visit
    assert rows[desk["hh"]["due"].id].open_problems == []


def test_measures_in_force_with_those_starting_or_ending_this_month_to_follow_up(desk):
    row = next(r for r in task_list(desk["helper"], THIS)
               if r.household.id == desk["hh"]["due"].id)
    m = desk["measures"]
    listed = {t.entry.measure_id: t.follow_up for t in row.measures}
    assert listed == {m["dibao"].id: "", m["school"].id: "starts", m["rent"].id: "ends"}
    assert [t.entry.measure_id for t in row.follow_ups] == [m["rent"].id, m["school"].id]


def test_an_ended_month_follows_the_compliance_attribution(desk, db):
    hh = desk["hh"]
    # Last month: the due household was visited, the others not: overdue (the month is over).
    rows = {r.household.id: r.state.state for r in task_list(desk["helper"], LAST)}
    assert rows[hh["due"].id] == "visited"
    assert rows[hh["overdue"].id] == "overdue" and rows[hh["visited"].id] == "overdue"
    assert hh["new"].id not in rows  # not yet enrolled last month
    # Handed over to the other helper from today: last month stays this helper's, this
    # month's list is the other helper's.
    a = db.session.query(Assignment).filter_by(household_id=hh["due"].id).one()
    a.end_date = today_local() - timedelta(days=1)
    db.session.add(Assignment(household_id=hh["due"].id, helper_id=desk["other"].id,
                              start_date=today_local()))
    db.session.commit()
    assert hh["due"].id in {r.household.id for r in task_list(desk["helper"], LAST)}
    assert hh["due"].id not in {r.household.id for r in task_list(desk["helper"], THIS)}
    assert hh["due"].id in {r.household.id for r in task_list(desk["other"], THIS)}


# ---------------------------------------------------------------- the printed list

def rows_of(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-testid="task-row" data-household="(\d+)" data-state="(\w+)"', html)


def test_the_helper_prints_their_own_list(client, auth, desk):
    auth.login(desk["helper"])
    response = client.get(f"/print/helpers/{desk['helper'].id}/tasks")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("帮扶人任务清单", "张红梅", "宛城区人社局", "宛城区", "帮扶责任人签字",
                 "css/print.css", "★教育救助", "★公租房租赁补贴"):
        assert text in html
    hh = desk["hh"]
    assert rows_of(html) == [(str(hh["overdue"].id), "overdue"), (str(hh["new"].id), "due"),
                             (str(hh["due"].id), "due"), (str(hh["visited"].id), "visited")]
    assert "13912345678" not in html and "戊五" not in html


def test_a_month_may_be_chosen_and_a_wrong_one_is_named(client, auth, desk):
    auth.login(desk["helper"])
    url = f"/print/helpers/{desk['helper'].id}/tasks"
    last = client.get(url, query_string={"month": f"{LAST // 100}-{LAST % 100:02d}"})
    assert last.status_code == 200
    assert (str(desk["hh"]["due"].id), "visited") in rows_of(last.get_data(as_text=True))
    for bad, message in (("2026-13", "不存在"), ("abc", "无法识别"),
                         (f"{add_months(THIS, 1)}", "还没有到")):
        response = client.get(url, query_string={"month": bad})
        assert response.status_code == 400, bad
        assert message in response.get_data(as_text=True)


@pytest.mark.parametrize(("who", "status"), [
    ("other_helper", 404), ("street_other", 404), ("county_b", 404),
    ("community_worker", 404), ("city_supervisor", 404),
    ("street", 200), ("county", 200),
])
def test_who_may_read_a_helpers_list(client, auth, make_user, world, desk, who, status):
    reader = {
        "other_helper": lambda: desk["other"],
        "street_other": lambda: make_user("street_reviewer", place=world.street_2),
        "county_b": lambda: make_user("county_officer", place=world.county_b),
        "community_worker": lambda: make_user("community_worker"),
        "city_supervisor": lambda: make_user("city_supervisor"),
        "street": lambda: make_user("street_reviewer"),
        "county": lambda: make_user("county_officer"),
    }[who]()
    auth.login(reader)
    response = client.get(f"/print/helpers/{desk['helper'].id}/tasks")
    assert response.status_code == status
    if status == 200:
        assert len(rows_of(response.get_data(as_text=True))) == 4


def test_not_a_helper_or_no_such_user_is_a_404(client, auth, make_user, desk):
    officer = make_user("county_officer")
    auth.login(officer)
    assert client.get(f"/print/helpers/{officer.id}/tasks").status_code == 404
    assert client.get("/print/helpers/999999/tasks").status_code == 404


def test_the_helper_page_in_management_links_the_list(client, auth, make_user, desk):
    auth.login(make_user("county_officer"))
    html = client.get(f"/manage/assignments/helpers/{desk['helper'].id}").get_data(as_text=True)
    assert f'/print/helpers/{desk["helper"].id}/tasks' in html


# ---------------------------------------------------------------- the phone's data

def test_the_pull_carries_the_duty_and_the_measures_end(client, auth, desk, world):
    from fieldwork.extensions import db as _db
    from offline_sync.services import households_json

    set_policy(world, visits_per_month=2)
    got = {h["id"]: h for h in households_json([h.id for h in desk["hh"].values()],
                                              file_pages=True)}
    visited = got[str(desk["hh"]["visited"].id)]
    assert (visited["visits_this_month"], visited["visits_required"]) == (1, 2)
    ends = {m["name"]: m["end_date"] for m in got[str(desk["hh"]["due"].id)]["measures"]}
    assert ends == {"城乡最低生活保障金": None, "教育救助": None,
                    "公租房租赁补贴": month_last_day(THIS).isoformat()}
    _db.session.rollback()


def test_the_phone_page_is_the_shell_for_helpers_only(client, auth, make_user, desk):
    auth.login(desk["helper"])
    response = client.get("/households/mine/tasks")
    assert response.status_code == 200 and "data-offline-app" in response.get_data(as_text=True)
    auth.logout()
    auth.login(make_user("county_officer"))
    assert client.get("/households/mine/tasks").status_code == 404

"""Entry into 低收入人口动态监测信息平台: the county officer lists the enrolled households not yet
entered and records one or several at once; street and city read; scope answers 404."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.models import PlatformEntry
from fieldwork.timeutil import today_local


@pytest.fixture
def officer(make_user):
    return make_user("county_officer", display_name="吴科长")


def entries() -> dict[int, PlatformEntry]:
    _db.session.expire_all()
    return {e.household_id: e for e in _db.session.scalars(sa.select(PlatformEntry))}


def test_list_shows_only_enrolled_households_not_yet_entered(client, auth, world, officer,
                                                             make_household):
    waiting = make_household(head_name="待录户", enrolled_on=date(2025, 3, 1))
    make_household(head_name="审核中户", status="reviewing")
    make_household(head_name="别县户", place=world.community_b, enrolled_on=date(2025, 3, 1))
    done = make_household(head_name="已录户", enrolled_on=date(2025, 3, 1))
    _db.session.add(PlatformEntry(household_id=done.id, entered_on=date(2025, 3, 5),
                                  entered_by_id=officer.id))
    _db.session.commit()
    auth.login(officer)
    page = client.get("/manage/platform").get_data(as_text=True)
    assert f'value="{waiting.id}"' in page and "待录户" in page
    assert "审核中户" not in page and "别县户" not in page
    assert f'value="{done.id}"' not in page  # listed under recent entries, without a checkbox
    assert "待录入 1 户" in page and "已录入 1 户" in page
    # The management navigation links the page.
    assert 'href="/manage/platform"' in client.get("/manage/").get_data(as_text=True)


def test_bulk_record_then_the_file_shows_the_entry(client, auth, world, officer,
                                                   make_household):
    first = make_household(head_name="赵一", enrolled_on=date(2025, 3, 1))
    second = make_household(head_name="钱二", enrolled_on=date(2025, 4, 1))
    third = make_household(head_name="孙三", enrolled_on=date(2025, 4, 1))
    auth.login(officer)
    response = client.post("/manage/platform", data={
        "household_ids": [str(first.id), str(second.id)], "entered_on": "2025-04-10",
        "reference": "HN-4113-0001", "note": "批量录入"})
    assert response.status_code == 302
    got = entries()
    assert set(got) == {first.id, second.id}
    assert all(e.entered_on == date(2025, 4, 10) and e.entered_by_id == officer.id
               and e.reference == "HN-4113-0001" for e in got.values())
    assert len(list(_db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "platform.entered")))) == 2

    page = client.get("/manage/platform").get_data(as_text=True)
    assert "已登记 2 户录入低收入人口动态监测信息平台" in page
    assert f'value="{third.id}"' in page and f'value="{first.id}"' not in page

    file = client.get(f"/households/{first.id}").get_data(as_text=True)
    assert "已于 2025-04-10 录入低收入人口动态监测信息平台（吴科长 登记）" in file
    assert "HN-4113-0001" in file
    waiting = client.get(f"/households/{third.id}").get_data(as_text=True)
    assert "尚未登记录入低收入人口动态监测信息平台" in waiting

    # Entering the same household twice is refused.
    again = client.post("/manage/platform", data={
        "household_ids": [str(first.id), str(third.id)], "entered_on": "2025-04-11"})
    assert again.status_code == 422
    assert "以下住户不在帮扶中或已登记录入：赵一" in again.get_data(as_text=True)
    assert set(entries()) == {first.id, second.id}


@pytest.mark.parametrize(("entered_on", "message"), [
    ("future", "录入日期不能晚于今天"),
    ("2025-02-28", "录入日期不能早于纳入帮扶日期：待录户（2025-03-01）"),
    ("", "请填写录入日期"),
    ("2025年3月", "录入日期格式应为"),
])
def test_bad_dates_are_refused_and_nothing_written(client, auth, officer, make_household,
                                                   entered_on, message):
    household = make_household(head_name="待录户", enrolled_on=date(2025, 3, 1))
    other = make_household(head_name="另一户", enrolled_on=date(2025, 1, 1))
    if entered_on == "future":
        entered_on = (today_local() + timedelta(days=1)).isoformat()
    auth.login(officer)
    response = client.post("/manage/platform", data={
        "household_ids": [str(household.id), str(other.id)], "entered_on": entered_on})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert message in text
    assert f'value="{household.id}" checked' in text  # the ticks survive the refusal
    assert entries() == {}


def test_nothing_ticked_is_refused(client, auth, officer, make_household):
    make_household(enrolled_on=date(2025, 3, 1))
    auth.login(officer)
    response = client.post("/manage/platform", data={"entered_on": "2025-04-01"})
    assert response.status_code == 422
    assert "请勾选已录入平台的住户" in response.get_data(as_text=True)


def test_an_officer_of_another_county_gets_404(client, auth, world, make_user,
                                               make_household):
    here = make_household(enrolled_on=date(2025, 3, 1))
    there = make_household(place=world.community_b, enrolled_on=date(2025, 3, 1))
    auth.login(make_user("county_officer", place=world.county_b))
    response = client.post("/manage/platform", data={
        "household_ids": [str(there.id), str(here.id)], "entered_on": "2025-04-01"})
    assert response.status_code == 404
    assert client.post("/manage/platform", data={
        "household_ids": ["abc"], "entered_on": "2025-04-01"}).status_code == 404
    assert entries() == {}
    page = client.get("/manage/platform").get_data(as_text=True)
    assert f'value="{there.id}"' in page and f'value="{here.id}"' not in page


def test_street_and_city_read_only(client, auth, world, officer, make_user, make_household):
    mine = make_household(head_name="东关户", enrolled_on=date(2025, 3, 1))
    make_household(head_name="他街户", place=world.community_3, enrolled_on=date(2025, 3, 1))
    auth.login(make_user("street_reviewer"))
    page = client.get("/manage/platform").get_data(as_text=True)
    assert "东关户" in page and "他街户" not in page
    assert 'name="household_ids"' not in page
    assert client.post("/manage/platform", data={
        "household_ids": [str(mine.id)], "entered_on": "2025-04-01"}).status_code == 404
    auth.logout()

    auth.login(make_user("city_supervisor"))
    page = client.get(f"/manage/platform?county={world.county.id}").get_data(as_text=True)
    assert "东关户" in page and "他街户" in page and 'name="household_ids"' not in page
    assert client.post("/manage/platform", data={
        "household_ids": [str(mine.id)], "entered_on": "2025-04-01"}).status_code == 404
    assert entries() == {}


@pytest.mark.parametrize("role", ["helper", "community_worker"])
def test_field_roles_get_404(client, auth, make_user, role):
    auth.login(make_user(role))
    assert client.get("/manage/platform").status_code == 404

"""The office pages of a household's members: add, correct, record leaving -- bad input
answered in Chinese with nothing written, a community worker's add pending until the
street confirms, the roster with its derived flags."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.models import HouseholdChange, Member
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.timeutil import today_local

HEAD_ID = make_test_id_number("411302", date(1950, 5, 6), 11)  # a man over 65
WIFE_ID = make_test_id_number("411302", date(1980, 8, 9), 22)  # a woman of screening age
OTHER_ID = make_test_id_number("411303", date(1990, 1, 2), 33)


def _household(make_household, **kw):
    hh = make_household(members_count=1, intake_income=Decimal("2000"), **kw)
    p = protect_id(HEAD_ID)
    db.session.add(Member(household=hh, name=hh.head_name, relation="self", id_enc=p.enc,
                          id_index=p.index, id_mask=p.mask, gender="male",
                          birth_date=date(1950, 5, 6)))
    db.session.commit()
    return hh


def _changes(hh) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(HouseholdChange)
                             .where(HouseholdChange.household_id == hh.id))


def _add_form(**over):
    form = {"name": "刘桂兰", "relation": "spouse", "id_number": WIFE_ID, "illness": "",
            "disability_kind": "", "disability_grade": "", "schooling_stage": "",
            "employment_status": "unemployed", "monthly_income": "", "note": "",
            "reason": "结婚迁入"}
    form.update(over)
    return form


def test_bad_input_on_the_add_page_is_answered_in_chinese_and_nothing_written(
        client, auth, make_user, make_household, world):
    hh = _household(make_household)
    elsewhere = make_household(place=world.community_b, members_count=1)
    p = protect_id(OTHER_ID)
    db.session.add(Member(household=elsewhere, name="赵外户", relation="self", id_enc=p.enc,
                          id_index=p.index, id_mask=p.mask))
    db.session.commit()
    auth.login(make_user("street_reviewer"))
    url = f"/households/{hh.id}/members/new"
    bad_check = WIFE_ID[:-1] + ("1" if WIFE_ID[-1] != "1" else "2")
    cases = [
        ({"id_number": bad_check}, "身份证号校验位不正确"),
        ({"relation": "self"}, "一户只能有一位户主"),
        ({"disability_grade": "3"}, "未选择残疾类别时不能填写残疾等级"),
        ({"id_number": OTHER_ID}, "光明社区"),
        ({"reason": ""}, "请填写变更原因"),
    ]
    for over, message in cases:
        response = client.post(url, data=_add_form(**over))
        page = response.get_data(as_text=True)
        assert response.status_code == 422, over
        assert message in page, over
        assert "赵外户" not in page
    db.session.expire_all()
    assert len(db.session.get(type(hh), hh.id).members) == 1 and _changes(hh) == 0


def test_a_community_workers_add_is_pending_until_the_street_confirms(
        client, auth, make_user, make_household):
    hh = _household(make_household, category="dibao_unemployed")
    auth.login(make_user("community_worker"))
    response = client.post(f"/households/{hh.id}/members/new", data=_add_form())
    assert response.status_code == 302
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    assert "待确认" in page and "新增成员：刘桂兰" in page
    db.session.expire_all()
    hh = db.session.get(type(hh), hh.id)
    assert hh.members_count == 1 and len(hh.members) == 1
    change = db.session.scalar(sa.select(HouseholdChange).where(
        HouseholdChange.household_id == hh.id))
    changes.confirm(change, make_user("street_reviewer"), "核实")
    db.session.commit()
    assert hh.members_count == 2 and hh.per_capita_income == Decimal("1000.00")
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    assert "刘桂兰" in page and "待确认" not in page
    assert "65岁以上" in page and "两癌筛查对象" in page
    assert WIFE_ID not in page and WIFE_ID[:4] + "*" * 10 + WIFE_ID[-4:] in page


def test_a_death_recorded_by_the_street_shows_apart_and_a_future_date_is_refused(
        client, auth, make_user, make_household):
    hh = _household(make_household)
    auth.login(make_user("street_reviewer"))
    client.post(f"/households/{hh.id}/members/new",
                data=_add_form(id_number="", name="小宝", relation="grandchild",
                               birth_date=(today_local() - timedelta(days=40)).isoformat(),
                               gender="male", reason="出生"))
    db.session.expire_all()
    hh = db.session.get(type(hh), hh.id)
    assert hh.members_count == 2
    head = next(m for m in hh.members if m.relation == "self")
    url = f"/households/{hh.id}/members/{head.id}/leave"
    future = client.post(url, data={"left_on": (today_local() + timedelta(days=1)).isoformat(),
                                    "left_reason": "died"})
    assert future.status_code == 422 and "离开日期不能晚于今天" in future.get_data(as_text=True)
    assert client.post(url, data={"left_on": today_local().isoformat(),
                                  "left_reason": "died"}).status_code == 302
    db.session.expire_all()
    hh = db.session.get(type(hh), hh.id)
    assert hh.members_count == 1 and hh.per_capita_income == Decimal("2000.00")
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    assert "已离开本户的成员" in page and "死亡" in page


def test_an_edit_applies_at_once_and_grade_without_kind_is_refused(
        client, auth, make_user, make_household):
    hh = _household(make_household)
    head = hh.members[0]
    auth.login(make_user("community_worker"))
    url = f"/households/{hh.id}/members/{head.id}/edit"
    form = client.get(url)
    assert form.status_code == 200 and HEAD_ID not in form.get_data(as_text=True)
    bad = client.post(url, data={"name": head.name, "relation": "self", "id_number": "",
                                 "disability_grade": "2"})
    assert bad.status_code == 422 and "未选择残疾类别" in bad.get_data(as_text=True)
    ok = client.post(url, data={"name": head.name, "relation": "self", "id_number": "",
                                "disability_kind": "physical", "disability_grade": "2",
                                "schooling_stage": "", "employment_status": "unable"})
    assert ok.status_code == 302
    db.session.expire_all()
    change = db.session.scalar(sa.select(HouseholdChange).where(
        HouseholdChange.household_id == hh.id))
    assert change.state == "applied" and change.after == {
        "disability_kind": "physical", "disability_grade": 2, "employment_status": "unable"}


def test_a_helper_and_another_county_cannot_reach_the_member_pages(
        client, auth, make_user, make_household, world):
    hh = _household(make_household)
    auth.login(make_user("helper"))
    assert client.get(f"/households/{hh.id}/members/new").status_code == 404
    auth.logout()
    auth.login(make_user("county_officer", place=world.county_b))
    assert client.post(f"/households/{hh.id}/members/new",
                       data=_add_form()).status_code == 404
    assert _changes(hh) == 0

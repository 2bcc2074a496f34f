"""The office's pages for changes: the form on the household file, the queue of changes to
confirm, and who may do what (a category change is refused for a street reviewer and
confirmed by the county; other counties do not see it at all)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.extensions import db
from fieldwork.households.models import Household, HouseholdChange


def reload(hh):
    db.session.expire_all()
    return db.session.get(Household, hh.id)


def pending(hh):
    return db.session.scalars(sa.select(HouseholdChange).where(
        HouseholdChange.household_id == hh.id, HouseholdChange.state == "pending")).all()


def test_a_category_change_is_refused_for_the_street_and_confirmed_by_the_county(
        client, auth, make_user, make_household):
    hh = make_household(category="below_dibao")
    auth.login(as_=make_user("community_worker"))
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    assert "变更档案信息" in page
    response = client.post(f"/households/{hh.id}/change/category", data={
        "category": "expenditure", "groups": ["below_dibao"], "reason": "住院支出大增"})
    assert response.status_code == 302
    assert "变更已提交，等待县级解困办确认" in client.get(response.headers["Location"]).get_data(
        as_text=True)
    [change] = pending(hh)
    assert reload(hh).category == "below_dibao"
    auth.logout()

    street = make_user("street_reviewer")
    auth.login(as_=street)
    assert "住院支出大增" not in client.get("/households/changes").get_data(as_text=True)
    refused = client.post(f"/households/{hh.id}/changes/{change.id}",
                          data={"decision": "confirm"})
    assert refused.status_code == 403
    assert "该变更须由县级解困办确认" in refused.get_data(as_text=True)
    assert reload(hh).category == "below_dibao" and pending(hh)
    auth.logout()

    auth.login(as_=make_user("county_officer"))
    queue = client.get("/households/changes").get_data(as_text=True)
    assert "住院支出大增" in queue
    assert "收入低于城镇低保线" in queue and "支出突增致困（同时属于：收入低于城镇低保线）" in queue
    done = client.post(f"/households/{hh.id}/changes/{change.id}",
                       data={"decision": "confirm", "note": "核实住院票据", "next": "queue"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/households/changes")
    hh = reload(hh)
    assert (hh.category, hh.groups) == ("expenditure", ["below_dibao"])
    history = client.get(f"/households/{hh.id}").get_data(as_text=True)
    assert "核实住院票据" in history and "已生效" in history
    again = client.post(f"/households/{hh.id}/changes/{change.id}", data={"decision": "reject",
                                                                          "note": "x"})
    assert again.status_code == 409


def test_refusing_needs_a_reason_and_keeps_the_file(client, auth, make_user, make_household):
    hh = make_household(per_capita_income=Decimal("500"))
    auth.login(as_=make_user("community_worker"))
    client.post(f"/households/{hh.id}/change/income", data={
        "per_capita_income": "900", "basis": "新工作", "reason": "再就业"})
    [change] = pending(hh)
    auth.logout()
    auth.login(as_=make_user("street_reviewer"))
    blank = client.post(f"/households/{hh.id}/changes/{change.id}",
                        data={"decision": "reject", "note": " ", "next": "queue"})
    assert blank.status_code == 422 and "请填写不同意的理由" in blank.get_data(as_text=True)
    assert pending(hh)
    client.post(f"/households/{hh.id}/changes/{change.id}",
                data={"decision": "reject", "note": "未提供工资证明"})
    hh = reload(hh)
    assert hh.per_capita_income == Decimal("500") and not pending(hh)
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    assert "未通过" in page and "未提供工资证明" in page


def test_the_form_shows_every_error_in_chinese_and_saves_nothing(client, auth, make_user,
                                                                  make_household):
    hh = make_household(phone="13800000000")
    auth.login(as_=make_user("street_reviewer"))
    response = client.post(f"/households/{hh.id}/change/employer",
                           data={"person_type": "", "employer": "x" * 101, "reason": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    for message in ("请选择职工或居民", "不能超过 100 个字", "请填写变更原因"):
        assert message in page
    assert 'value="' + "x" * 101 + '"' in page  # what was typed is kept
    same = client.post(f"/households/{hh.id}/change/phone",
                       data={"phone": "13800000000", "reason": "核对"})
    assert same.status_code == 422 and "没有任何改动" in same.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(HouseholdChange.id))) == 0
    client.post(f"/households/{hh.id}/change/phone", data={"phone": "13912345678",
                                                            "reason": "换号"})
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    # The history and the timeline show the numbers masked, like the file.
    assert "13912345678" not in page and "13800000000" not in page
    assert "139****5678" in page and "138****0000" in page


def test_the_queue_is_scoped_to_the_confirming_office(client, auth, make_user, make_household,
                                                      world):
    here = make_household(per_capita_income=Decimal("500"))
    other_street = make_household(place=world.community_3, per_capita_income=Decimal("500"))
    other_county = make_household(place=world.community_b)
    worker = make_user("community_worker")
    auth.login(as_=worker)
    client.post(f"/households/{here.id}/change/income",
                data={"per_capita_income": "700", "basis": "A户", "reason": "甲"})
    client.post(f"/households/{here.id}/change/category",
                data={"category": "edge", "reason": "乙"})
    auth.logout()
    for hh, place in ((other_street, world.community_3), (other_county, world.community_b)):
        auth.login(as_=make_user("community_worker", place=place))
        client.post(f"/households/{hh.id}/change/income",
                    data={"per_capita_income": "650", "basis": "他户", "reason": "丙"})
        auth.logout()

    def queue_of(user):
        auth.login(as_=user)
        page = client.get("/households/changes")
        auth.logout()
        return page.status_code, page.get_data(as_text=True).count('data-testid="pending-change"')

    assert queue_of(make_user("street_reviewer")) == (200, 1)  # income of its street only
    assert queue_of(make_user("county_officer")) == (200, 3)  # its county: street + county
    assert queue_of(make_user("county_officer", place=world.county_b)) == (200, 1)
    status, _ = queue_of(worker)
    assert status == 403
    auth.login(as_=make_user("city_supervisor"))
    page = client.get("/households/changes")
    assert page.status_code == 403 and "只有街道(乡镇)审核人和县级解困办" in page.get_data(
        as_text=True)
    # Read-only: the supervisor sees the history but has no form.
    assert "变更档案信息" not in client.get(f"/households/{here.id}").get_data(as_text=True)
    assert client.get(f"/households/{here.id}/change/phone").status_code == 403
    auth.logout()
    # Another county's officer: the household and its changes do not exist for them.
    [change] = [c for c in pending(here) if c.kind == "category"]
    auth.login(as_=make_user("county_officer", place=world.county_b))
    assert client.post(f"/households/{here.id}/changes/{change.id}",
                       data={"decision": "confirm"}).status_code == 404
    assert client.post(f"/households/{here.id}/change/phone",
                       data={"phone": "1", "reason": "x"}).status_code == 404
    auth.logout()
    # A change of another household is not reachable through this one's address.
    auth.login(as_=make_user("county_officer"))
    [theirs] = pending(other_street)
    assert client.post(f"/households/{here.id}/changes/{theirs.id}",
                       data={"decision": "confirm"}).status_code == 404


@pytest.mark.parametrize("kind", ["category", "causes", "income", "address", "reference",
                                  "phone", "employer"])
def test_every_kind_has_its_form(client, auth, make_user, make_household, kind):
    hh = make_household()
    auth.login(as_=make_user("county_officer"))
    page = client.get(f"/households/{hh.id}/change/{kind}")
    assert page.status_code == 200 and 'name="reason"' in page.get_data(as_text=True)


def test_the_nav_links_the_queue_for_confirming_offices(client, auth, make_user):
    auth.login(as_=make_user("street_reviewer"))
    assert "/households/changes" in client.get("/reviews/").get_data(as_text=True)
    auth.logout()
    auth.login(as_=make_user("community_worker"))
    assert "/households/changes" not in client.get("/reviews/").get_data(as_text=True)

"""Household plans as a county officer uses them: plan entries with amounts and dates,
delivery seen from the visits, and the phone's measure list following the plan."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.management import plans
from fieldwork.households.models import Household, Measure, PlanMeasure
from fieldwork.timeutil import today_local

# ---------------------------------------------------------------- plan

def test_add_to_plan_defaults_amount_and_bumps_version(client, auth, world, officer, catalogue,
                                                      make_household):
    household = make_household()
    version = household.version
    measure = catalogue["学前教育家庭经济困难学生生活补助"]
    auth.login(officer)
    response = client.post(f"/manage/households/{household.id}/plan", data={
        "measure_id": measure.id, "amount": "", "start_date": "2025-03-01", "end_date": ""})
    assert response.status_code == 302
    _db.session.expire_all()
    household = _db.session.get(Household, household.id)
    [pm] = household.plan
    assert pm.amount == Decimal("400") and pm.start_date == date(2025, 3, 1)
    assert pm.end_date is None
    assert household.version == version + 1
    [event] = _db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "plan.change"))
    assert event.detail["op"] == "add" and event.detail["entry"]["measure"] == measure.id
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert "学前教育家庭经济困难学生生活补助" in page and "400 元/生·年" in page
    assert f"/print/households/{household.id}/card" in page


def test_plan_amount_and_dates(client, auth, world, officer, catalogue, make_household):
    household = make_household()
    measure = catalogue["临时救助"]
    auth.login(officer)
    ok = client.post(f"/manage/households/{household.id}/plan", data={
        "measure_id": measure.id, "amount": "1500.5", "start_date": "2025-01-10",
        "end_date": "2025-01-10", "note": "一次性"})
    assert ok.status_code == 302
    pm = _db.session.scalar(sa.select(PlanMeasure))
    assert pm.amount == Decimal("1500.50") and pm.end_date == date(2025, 1, 10)


@pytest.mark.parametrize(("data", "message"), [
    ({"measure_id": ""}, "请从本区措施目录中选择一项在用的措施"),
    ({"measure_id": "999999"}, "请从本区措施目录中选择一项在用的措施"),
    ({"start_date": ""}, "请填写“开始日期”"),
    ({"start_date": "2025-13-01"}, "“开始日期”格式不正确"),
    ({"start_date": "2025-05-01", "end_date": "2025-04-30"}, "结束日期不能早于开始日期"),
    ({"amount": "-1"}, "金额不能为负数"),
    ({"start_date": "1999-01-01"}, "“开始日期”超出合理范围"),
])
def test_bad_plan_entry_is_refused(client, auth, officer, catalogue, make_household, data,
                                   message):
    household = make_household()
    auth.login(officer)
    form = {"measure_id": catalogue["临时救助"].id, "start_date": "2025-05-01", **data}
    response = client.post(f"/manage/households/{household.id}/plan", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _db.session.scalar(sa.select(sa.func.count(PlanMeasure.id))) == 0
    _db.session.expire_all()
    assert _db.session.get(Household, household.id).version == household.version


def test_the_same_measure_cannot_overlap_itself(client, auth, officer, catalogue,
                                                make_household):
    household = make_household()
    mid = catalogue["最低生活保障金"].id
    auth.login(officer)
    url = f"/manage/households/{household.id}/plan"
    client.post(url, data={"measure_id": mid, "amount": "450", "start_date": "2025-01-01",
                           "end_date": "2025-06-30"})
    clash = client.post(url, data={"measure_id": mid, "amount": "500",
                                   "start_date": "2025-06-01"})
    assert clash.status_code == 422
    assert "该措施在这段时间已在计划中" in clash.get_data(as_text=True)
    # From the day after the first ends, a new amount is fine: the plan keeps both periods.
    assert client.post(url, data={"measure_id": mid, "amount": "500",
                                  "start_date": "2025-07-01"}).status_code == 302
    amounts = [pm.amount for pm in _db.session.scalars(
        sa.select(PlanMeasure).order_by(PlanMeasure.start_date))]
    assert amounts == [Decimal("450"), Decimal("500")]


def test_measure_of_another_county_cannot_be_added(client, auth, world, officer, catalogue,
                                                   make_household):
    other = Measure(county_id=world.county_b.id, area="income", name="卧龙区专项")
    _db.session.add(other)
    _db.session.commit()
    household = make_household()
    auth.login(officer)
    response = client.post(f"/manage/households/{household.id}/plan",
                           data={"measure_id": other.id, "start_date": "2025-01-01"})
    assert response.status_code == 422


def test_end_a_measure_and_the_phone_drops_it(client, auth, world, officer, catalogue,
                                              make_user, make_household):
    helper = make_user("helper")
    household = make_household(helper=helper)
    measure = catalogue["临时救助"]
    start = today_local() - timedelta(days=30)
    pm = PlanMeasure(household=household, measure=measure, amount=Decimal("600"),
                     start_date=start)
    _db.session.add(pm)
    _db.session.commit()

    auth.login(helper)
    pulled = client.get("/api/sync/v1/pull").get_json()
    assert [m["id"] for m in pulled["households"][0]["measures"]] == [measure.id]
    auth.logout()

    auth.login(officer)
    url = f"/manage/households/{household.id}/plan/{pm.id}/end"
    early = client.post(url, data={"end_date": (start - timedelta(days=1)).isoformat()})
    assert early.status_code == 422 and "结束日期不能早于开始日期" in early.get_data(as_text=True)
    yesterday = today_local() - timedelta(days=1)
    assert client.post(url, data={"end_date": yesterday.isoformat()}).status_code == 302
    _db.session.expire_all()
    assert _db.session.get(PlanMeasure, pm.id).end_date == yesterday
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert "已结束或未开始的措施" in page
    auth.logout()

    auth.login(helper)
    again = client.get(f"/api/sync/v1/pull?since={pulled['cursor']}").get_json()
    [h] = again["households"]
    assert h["id"] == str(household.id) and h["measures"] == []


def test_plan_page_shows_the_last_visit_that_delivered_each_measure(
        client, auth, officer, catalogue, make_user, make_household, make_visit):
    helper = make_user("helper", display_name="王帮扶")
    household = make_household(helper=helper)
    a, b = catalogue["临时救助"], catalogue["最低生活保障金"]
    for m in (a, b):
        _db.session.add(PlanMeasure(household=household, measure=m, start_date=date(2024, 1, 1)))
    _db.session.commit()
    make_visit(household, helper, visited_at=datetime(2025, 3, 5, 2, tzinfo=UTC),
               answers={"measures_delivered": [a.id]})
    make_visit(household, helper, visited_at=datetime(2025, 4, 8, 2, tzinfo=UTC),
               answers={"measures_delivered": [a.id]})
    # A rejected visit does not count as delivery.
    make_visit(household, helper, visited_at=datetime(2025, 5, 9, 2, tzinfo=UTC),
               answers={"measures_delivered": [a.id, b.id]}, review_status="rejected")
    view = plans.plan_view(household)
    rows = {r.entry.measure_id: r for r in view.current}
    assert rows[a.id].last_delivery.visited_at.date() == date(2025, 4, 8)
    assert rows[a.id].deliveries == 2
    assert rows[b.id].last_delivery is None
    auth.login(officer)
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert "2025-04-08" in page and "共 2 次" in page and "走访尚未记录落实" in page


def test_exited_household_plan_is_read_only(client, auth, officer, catalogue, make_household):
    household = make_household(status="exited")
    auth.login(officer)
    page = client.get(f"/manage/households/{household.id}/plan")
    assert page.status_code == 200
    assert "帮扶计划不能再调整" in page.get_data(as_text=True)
    response = client.post(f"/manage/households/{household.id}/plan",
                           data={"measure_id": catalogue["临时救助"].id,
                                 "start_date": "2025-01-01"})
    assert response.status_code == 422
    assert "该户当前状态下不能调整帮扶计划" in response.get_data(as_text=True)

"""The measures catalogue and household plans as a county officer uses them: county measures,
本区调整 of city-wide ones, deactivation that never breaks a plan, plan entries with amounts
and dates, delivery seen from the visits, and the phone's measure list following the plan."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.management import measures, plans
from fieldwork.households.models import Household, Measure, PlanMeasure
from fieldwork.timeutil import today_local


@pytest.fixture
def catalogue(app, world):
    added = measures.seed_catalogue()
    _db.session.commit()
    assert added == 49
    return {m.name: m for m in _db.session.scalars(sa.select(Measure))}


@pytest.fixture
def officer(make_user):
    return make_user("county_officer")


def names(county_id, **kw) -> set[str]:
    return {e.measure.name for e in measures.catalogue(county_id, **kw)}


def audit(action: str) -> list[AuditEvent]:
    return list(_db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def measure_form(**over):
    return {"name": "宛城区困难家庭冬季取暖补贴", "area": "income", "department": "民政",
            "amount": "300", "unit": "元/年", "note": "每年11月发放", **over}


# ---------------------------------------------------------------- catalogue

def test_seed_is_idempotent(catalogue):
    assert measures.seed_catalogue() == 0
    assert len(names(None)) == 49
    dibao = catalogue["低保户每月免费用电"]
    assert dibao.amount == Decimal("10") and dibao.county_id is None


def test_county_officer_adds_a_county_measure(client, auth, world, officer, catalogue):
    auth.login(officer)
    response = client.post("/manage/measures", data=measure_form())
    assert response.status_code == 302
    added = _db.session.scalar(sa.select(Measure).where(Measure.name.like("宛城区%")))
    assert added.county_id == world.county.id and added.amount == Decimal("300")
    assert added.name in names(world.county.id)
    assert added.name not in names(world.county_b.id)
    [event] = audit("measure.change")
    assert event.detail["op"] == "add" and event.place_id == world.county.id
    page = client.get("/manage/measures").get_data(as_text=True)
    assert "宛城区困难家庭冬季取暖补贴" in page and "本区" in page


@pytest.mark.parametrize(("over", "message"), [
    ({"name": ""}, "请填写“措施名称”"),
    ({"name": "长" * 121}, "“措施名称”不能超过 120 个字"),
    ({"area": "fun"}, "请选择所属领域"),
    ({"amount": "-5"}, "金额不能为负数"),
    ({"amount": "三百"}, "金额应为数字"),
    ({"amount": "99999999999"}, "金额过大"),
    ({"name": "临时救助"}, "全市目录已有同名措施"),
])
def test_bad_measure_is_refused(client, auth, officer, catalogue, over, message):
    auth.login(officer)
    before = _db.session.scalar(sa.select(sa.func.count(Measure.id)))
    response = client.post("/manage/measures", data=measure_form(**over))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _db.session.scalar(sa.select(sa.func.count(Measure.id))) == before
    assert audit("measure.change") == []


def test_county_names_are_unique_within_the_county(client, auth, world, officer, make_user,
                                                   catalogue):
    auth.login(officer)
    client.post("/manage/measures", data=measure_form())
    response = client.post("/manage/measures", data=measure_form(amount="1"))
    assert response.status_code == 422
    assert "本区目录已有同名措施" in response.get_data(as_text=True)
    # Another county may use the same name for its own measure.
    auth.logout()
    auth.login(make_user("county_officer", place=world.county_b))
    assert client.post("/manage/measures", data=measure_form()).status_code == 302


def test_override_makes_a_county_copy_and_hides_the_city_row_here_only(
        client, auth, world, officer, catalogue, make_household):
    city = catalogue["临时救助"]
    household = make_household()
    _db.session.add(PlanMeasure(household=household, measure=city, amount=Decimal("500"),
                                start_date=date(2024, 1, 1)))
    _db.session.commit()
    auth.login(officer)
    edit = client.get(f"/manage/measures/{city.id}/edit")
    assert edit.status_code == 200 and "本区调整" in edit.get_data(as_text=True)
    response = client.post(f"/manage/measures/{city.id}/edit", data={
        "name": "改名的临时救助", "area": "income", "department": "民政、应急",
        "amount": "800", "unit": "元/次", "note": ""})
    assert response.status_code == 302
    copy = _db.session.scalar(sa.select(Measure).where(Measure.county_id == world.county.id))
    # The name stays the city's, so the copy replaces it in this county's catalogue only.
    assert copy.name == "临时救助" and copy.amount == Decimal("800")
    assert copy.department == "民政、应急"
    here = measures.catalogue(world.county.id)
    assert [e.measure.id for e in here if e.measure.name == "临时救助"] == [copy.id]
    assert next(e for e in here if e.measure.id == copy.id).replaces.id == city.id
    elsewhere = measures.catalogue(world.county_b.id)
    assert [e.measure.id for e in elsewhere if e.measure.name == "临时救助"] == [city.id]
    # The city row itself is unchanged and the existing plan still points at it.
    _db.session.expire_all()
    assert _db.session.get(Measure, city.id).amount is None
    assert _db.session.scalar(sa.select(PlanMeasure.measure_id)) == city.id
    [event] = audit("measure.change")
    assert event.detail["op"] == "override" and event.detail["replaces"] == city.id
    assert event.detail["changes"]["amount"] == [None, "800.00"]
    # Once replaced, the city row is not editable from this county any more.
    assert client.get(f"/manage/measures/{city.id}/edit").status_code == 404


def test_edit_a_county_measure_in_place(client, auth, world, officer, catalogue):
    auth.login(officer)
    client.post("/manage/measures", data=measure_form())
    m = _db.session.scalar(sa.select(Measure).where(Measure.county_id == world.county.id))
    response = client.post(f"/manage/measures/{m.id}/edit",
                           data=measure_form(amount="350", department="民政局"))
    assert response.status_code == 302
    _db.session.expire_all()
    m = _db.session.get(Measure, m.id)
    assert m.amount == Decimal("350") and m.department == "民政局"
    assert _db.session.scalar(sa.select(sa.func.count(Measure.id)).where(
        Measure.county_id == world.county.id)) == 1
    edit = audit("measure.change")[-1]
    assert edit.detail["op"] == "edit"
    assert edit.detail["changes"] == {"department": ["民政", "民政局"],
                                      "amount": ["300.00", "350.00"]}
    bad = client.post(f"/manage/measures/{m.id}/edit", data=measure_form(amount="-1"))
    assert bad.status_code == 422 and "金额不能为负数" in bad.get_data(as_text=True)
    _db.session.expire_all()
    assert _db.session.get(Measure, m.id).amount == Decimal("350")


def test_another_countys_measure_is_404(client, auth, world, make_user, catalogue):
    other = Measure(county_id=world.county_b.id, area="income", name="卧龙区措施")
    _db.session.add(other)
    _db.session.commit()
    auth.login(make_user("county_officer"))
    assert client.get(f"/manage/measures/{other.id}/edit").status_code == 404
    assert client.post(f"/manage/measures/{other.id}/edit",
                       data=measure_form()).status_code == 404
    assert client.post(f"/manage/measures/{other.id}/active",
                       data={"active": "0"}).status_code == 404
    assert _db.session.get(Measure, other.id).active is True


def test_deactivate_keeps_plans_and_leaves_the_picker(client, auth, world, officer, catalogue,
                                                      make_household):
    city = catalogue["公益性岗位安置"]
    household = make_household()
    _db.session.add(PlanMeasure(household=household, measure=city, amount=None,
                                start_date=date(2024, 1, 1)))
    _db.session.commit()
    auth.login(officer)
    assert client.post(f"/manage/measures/{city.id}/active",
                       data={"active": "0"}).status_code == 302
    assert city.name not in names(world.county.id, active_only=True)
    assert city.name in names(world.county_b.id, active_only=True)  # other county unaffected
    _db.session.expire_all()
    assert _db.session.get(Measure, city.id).active is True  # the city row itself stays
    assert [pm.measure_id for pm in _db.session.get(Household, household.id).plan] == [city.id]
    page = client.get("/manage/measures").get_data(as_text=True)
    assert "已停用" in page
    # Adding it to a plan is refused now.
    refused = client.post(f"/manage/households/{household.id}/plan",
                          data={"measure_id": city.id, "start_date": "2025-01-01"})
    assert refused.status_code == 422
    assert "请从本区措施目录中选择一项在用的措施" in refused.get_data(as_text=True)
    # And it can be brought back (the county copy is reactivated).
    copy = _db.session.scalar(sa.select(Measure).where(Measure.county_id == world.county.id))
    assert copy.active is False and copy.name == city.name
    client.post(f"/manage/measures/{copy.id}/active", data={"active": "1"})
    assert city.name in names(world.county.id, active_only=True)
    assert [e["op"] for e in (a.detail for a in audit("measure.change"))] == [
        "deactivate", "activate"]


# ---------------------------------------------------------------- plan

def test_add_to_plan_defaults_amount_and_bumps_version(client, auth, world, officer, catalogue,
                                                      make_household):
    household = make_household()
    version = household.version
    measure = catalogue["学前教育家庭经济困难幼儿生活补助"]
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
    [event] = audit("plan.change")
    assert event.detail["op"] == "add" and event.detail["entry"]["measure"] == measure.id
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert "学前教育家庭经济困难幼儿生活补助" in page and "400 元/生·年" in page
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
    mid = catalogue["城乡最低生活保障金"].id
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
    a, b = catalogue["临时救助"], catalogue["城乡最低生活保障金"]
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

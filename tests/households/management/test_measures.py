"""The measures catalogue as a county officer uses it: county measures, 本区调整 of city-wide
ones, and deactivation that never breaks a plan."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.management import measures
from fieldwork.households.models import Household, Measure, PlanMeasure


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
    assert len(names(None)) == 64
    dibao = catalogue["电力补助"]
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

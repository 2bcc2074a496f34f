"""Amounts as the policy states them (issue 14 point 4): the catalogue's forms, one text for
display, plan amounts checked against the standard, and the upgrade of a stored catalogue."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.extensions import db as _db
from fieldwork.households.management import measures
from fieldwork.households.models import Household, Measure, PlanMeasure

POLICY = "/work/shared/reference/policy-zh.txt"


def _row(name):
    return next(r for r in json.loads(measures.DATA.read_text(encoding="utf-8"))["measures"]
                if r["name"] == name)


# ---------------------------------------------------------------- the catalogue

@pytest.mark.parametrize(("name", "department", "line"), [
    ("意外伤害保险", "财政", 119),
    ("重度残疾人护理补贴", "民政", 73),
    ("困难残疾人生活补贴", "民政", 73),
    ("受艾滋病影响人员基本生活补助", "民政", 73),
    ("“金秋助学”公益助学活动", "慈善组织", 109),
    ("常态化助学救助", "工会", 103),
    ("“春蕾计划”助学项目", "妇联", 105),
    ("事实无人抚养儿童助学", "民政", 101),
    ("“情系学子 福彩圆梦”项目", "民政", 101),
    ("“六种情形”人员集中托养、康复", "民政", 121),
    ("“政福保”工程", "民政", 121),
    ("残疾孤儿手术康复明天计划", "民政", 121),
    ("企业吸纳就业补助", "企业", 131),
    ("特困人员护理补贴", "民政", 73),
])
def test_catalogue_assigns_departments_and_lines_as_the_policy(catalogue, name, department,
                                                               line):
    measure = catalogue[name]
    assert measure.department == department and measure.policy_line == line


def test_every_measure_cites_a_line_of_the_policy_section(catalogue):
    try:
        text = open(POLICY, encoding="utf-8").read().splitlines()
    except OSError:
        pytest.skip("policy text not on this machine")
    for measure in catalogue.values():
        assert 69 <= measure.policy_line <= 140, measure.name
        line = text[measure.policy_line - 1]
        # the source words are the policy's own, cut with …… where shortened
        for part in measure.source.split("……"):
            assert part.strip(",。") in line, (measure.name, part)


@pytest.mark.parametrize(("name", "kind", "text"), [
    ("学前教育家庭经济困难学生生活补助", "minimum", "不低于 400 元/生·年"),
    ("创业担保贷款", "cap", "上限 200000 元"),
    ("义务教育寄宿生生活补助（初中）", "fixed", "1250 元/生·年"),
    ("倾斜救助", "rule", "年度政策范围内自付费用超过 12000 元的部分按 60% 救助，年度最高 10000 元"),
    ("职业培训补贴", "rule", "按《河南省就业补助资金管理办法》职业培训补贴标准的 80% 执行"),
    ("临时救助", "none", "按政策标准"),
])
def test_amount_forms_and_their_text(app, catalogue, name, kind, text):
    measure = catalogue[name]
    assert measure.amount_kind == kind
    with app.test_request_context():
        assert measures.standard_text(measure) == text
        assert measures.amount_text(measure) == text
        assert measures.amount_text(measure, Decimal("625.50")) == (
            "625.5" + (f" {measure.unit}" if measure.unit else ""))


def test_range_text(app):
    m = Measure(name="x", area="income", amount_kind="range", amount=Decimal("300"),
                amount_max=Decimal("500.00"), unit="元/月")
    with app.test_request_context():
        assert measures.standard_text(m) == "300–500 元/月"


def test_no_amount_is_written_into_a_name(catalogue):
    assert not [m.name for m in catalogue.values() if any(c.isdigit() for c in m.name)
                and "六" not in m.name]
    rule = catalogue["倾斜救助"].rule
    assert rule == {"kind": "over_threshold", "threshold": 12000, "rate": 0.6, "cap": 10000}


# ---------------------------------------------------------------- plan amounts

@pytest.mark.parametrize(("name", "amount", "message"), [
    ("学前教育家庭经济困难学生生活补助", "399.99", "金额不能低于 400 元/生·年"),
    ("创业担保贷款", "200000.01", "金额不能超过 200000 元"),
    ("倾斜救助", "10001", "金额不能超过 10000 元/年"),
])
def test_plan_amount_outside_the_standard_is_refused(client, auth, officer, catalogue,
                                                     make_household, name, amount, message):
    household = make_household()
    version = household.version
    auth.login(officer)
    response = client.post(f"/manage/households/{household.id}/plan", data={
        "measure_id": catalogue[name].id, "amount": amount, "start_date": "2025-03-01"})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    _db.session.expire_all()
    assert _db.session.scalar(sa.select(sa.func.count(PlanMeasure.id))) == 0
    assert _db.session.get(Household, household.id).version == version


@pytest.mark.parametrize(("name", "amount", "stored"), [
    ("学前教育家庭经济困难学生生活补助", "500", Decimal("500")),
    ("学前教育家庭经济困难学生生活补助", "", Decimal("400")),  # the minimum by default
    ("创业担保贷款", "200000", Decimal("200000")),
    ("创业担保贷款", "", None),  # a cap is not a default amount
    ("倾斜救助", "", None),
    ("义务教育寄宿生生活补助（小学）", "", Decimal("1000")),
])
def test_plan_amount_within_the_standard(client, auth, officer, catalogue, make_household,
                                         name, amount, stored):
    household = make_household()
    auth.login(officer)
    response = client.post(f"/manage/households/{household.id}/plan", data={
        "measure_id": catalogue[name].id, "amount": amount, "start_date": "2025-03-01"})
    assert response.status_code == 302
    assert _db.session.scalar(sa.select(PlanMeasure)).amount == stored


def test_plan_page_and_card_show_the_amount_text(client, auth, officer, catalogue,
                                                 make_household):
    household = make_household()
    auth.login(officer)
    client.post(f"/manage/households/{household.id}/plan", data={
        "measure_id": catalogue["倾斜救助"].id, "start_date": "2025-03-01"})
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert "超过 12000 元的部分按 60% 救助" in page
    card = client.get(f"/print/households/{household.id}/card")
    if card.status_code == 200:
        assert "超过 12000 元的部分按 60% 救助" in card.get_data(as_text=True)


# ---------------------------------------------------------------- the county's form

def test_county_sets_a_minimum_and_a_range(client, auth, world, officer, catalogue):
    auth.login(officer)
    base = {"area": "income", "department": "民政", "unit": "元/月", "note": ""}
    assert client.post("/manage/measures", data=dict(
        base, name="本区取暖补贴", amount_kind="minimum", amount="200")).status_code == 302
    assert client.post("/manage/measures", data=dict(
        base, name="本区护理补贴", amount_kind="range", amount="100",
        amount_max="300")).status_code == 302
    got = {m.name: m for m in _db.session.scalars(
        sa.select(Measure).where(Measure.county_id == world.county.id))}
    assert got["本区取暖补贴"].amount_kind == "minimum"
    assert got["本区护理补贴"].amount_max == Decimal("300")
    page = client.get("/manage/measures").get_data(as_text=True)
    assert "不低于 200 元/月" in page and "100–300 元/月" in page


@pytest.mark.parametrize(("data", "message"), [
    ({"amount_kind": "range", "amount": "300", "amount_max": "200"}, "最高金额应大于最低金额"),
    ({"amount_kind": "range", "amount": "300"}, "区间标准请填写最高金额"),
    ({"amount_kind": "cap", "amount": ""}, "请填写标准金额"),
    ({"amount_kind": "rule", "amount": ""}, "请选择金额标准的形式"),
    ({"amount_kind": "weird", "amount": "1"}, "请选择金额标准的形式"),
])
def test_amount_form_refusals(client, auth, world, officer, catalogue, data, message):
    auth.login(officer)
    response = client.post("/manage/measures", data=dict(
        {"area": "income", "name": "本区补贴", "department": "", "unit": "", "note": ""},
        **data))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _db.session.scalar(sa.select(Measure).where(Measure.name == "本区补贴")) is None


def test_county_adjustment_of_a_rule_measure_keeps_the_rule(client, auth, world, officer,
                                                            catalogue):
    city = catalogue["倾斜救助"]
    auth.login(officer)
    form = client.get(f"/manage/measures/{city.id}/edit").get_data(as_text=True)
    assert "按计算规则" in form and "超过 12000 元的部分" in form
    response = client.post(f"/manage/measures/{city.id}/edit", data={
        "name": city.name, "area": "medical", "department": "医保", "unit": "元/年",
        "note": "本区", "amount_kind": "rule", "amount": ""})
    assert response.status_code == 302
    copy = _db.session.scalar(sa.select(Measure).where(Measure.county_id == world.county.id))
    assert copy.rule == city.rule and copy.policy_line == 115 and copy.amount_kind == "rule"


# ---------------------------------------------------------------- upgrading a stored catalogue

def test_upgrade_renames_stored_rows_in_place(app, world, make_household):
    old = json.loads((measures.DATA.parent / "measures.json").read_text(encoding="utf-8"))
    renamed = [r for r in old["measures"] if r.get("was") and r["was"] != r["name"]]
    # a catalogue as stored before issue 14: the old names, no amount forms
    for r in old["measures"]:
        if r.get("was"):
            _db.session.add(Measure(county_id=None, area=r["area"], department="旧",
                                    name=r["was"], amount=None, unit=""))
    _db.session.flush()
    dibao = _db.session.scalar(sa.select(Measure).where(Measure.name == "城乡最低生活保障金"))
    county_copy = Measure(county_id=world.county.id, area="income", name="城乡最低生活保障金")
    _db.session.add(county_copy)
    household = make_household()
    pm = PlanMeasure(household=household, measure=dibao, start_date=household.created_at.date())
    _db.session.add(pm)
    _db.session.commit()
    before = _db.session.scalar(sa.select(sa.func.count(Measure.id)))

    updated, added = measures.upgrade_catalogue()
    _db.session.commit()
    assert added == 64 - sum(1 for r in old["measures"] if r.get("was"))
    assert updated == sum(1 for r in old["measures"] if r.get("was"))
    assert _db.session.scalar(sa.select(sa.func.count(Measure.id))) == before + added
    _db.session.expire_all()
    pm = _db.session.get(PlanMeasure, pm.id)
    assert pm.measure.name == "最低生活保障金" and pm.measure.policy_line == 73
    assert _db.session.get(Measure, county_copy.id).name == "最低生活保障金"
    assert renamed and _db.session.scalar(sa.select(sa.func.count(Measure.id)).where(
        Measure.name.in_([r["was"] for r in renamed]))) == 0
    assert measures.upgrade_catalogue() == (0, 0)
    # and the upgraded catalogue is the seeded one
    accident = _db.session.scalar(sa.select(Measure).where(Measure.name == "意外伤害保险"))
    assert accident.department == "财政" and accident.amount == Decimal("30")
    assert _row("意外伤害保险")["was"] == "意外伤害保险"

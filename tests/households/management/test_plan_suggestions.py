"""Suggested measures (issue 14 point 4.3): one test per rule of the table, and accepting or
dismissing a suggestion on the plan page."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.management import suggestions
from fieldwork.households.models import Household, Measure, Member, PlanMeasure
from fieldwork.timeutil import today_local

TODAY = today_local()


def _born(age: int) -> date:
    return date(TODAY.year - age - 1, 1, 1)


def _household(make_household, members=(), **kw):
    household = make_household(category=kw.pop("category", "other"), **kw)
    for facts in members:
        household.members.append(Member(name=facts.pop("name", "成员"), relation="child",
                                        **facts))
    _db.session.commit()
    return household


def _suggested(household):
    return {s.rule.key: s for s in suggestions.suggest(household)}


# rule key, household facts, member facts, the measure suggested
CASES = [
    ("dibao", {"category": "dibao_unemployed"}, None, "最低生活保障金"),
    ("dibao", {"category": "below_dibao"}, None, "最低生活保障金"),
    ("destitute", {"category": "destitute"}, None, "特困人员基本生活费"),
    ("destitute_care", {"category": "other", "groups": ["destitute"]}, None, "特困人员护理补贴"),
    ("union", {"person_type": "worker"}, None, "工会救助帮扶"),
    ("power", {"category": "dibao_unemployed"}, None, "电力补助"),
    ("power", {"category": "edge", "groups": ["dibao_unemployed"]}, None, "电力补助"),
    ("severe_care", {}, {"disability_kind": "physical", "disability_grade": 2},
     "重度残疾人护理补贴"),
    ("disability_living", {}, {"disability_kind": "visual", "disability_grade": 4},
     "困难残疾人生活补贴"),
    ("aids", {}, {"disability_kind": "hearing", "disability_grade": 1}, "免费适配基本型辅助器具"),
    ("preschool", {}, {"schooling_stage": "preschool"}, "学前教育家庭经济困难学生生活补助"),
    ("primary_boarding", {}, {"schooling_stage": "primary", "boarding": True},
     "义务教育寄宿生生活补助（小学）"),
    ("junior_boarding", {}, {"schooling_stage": "junior", "boarding": True},
     "义务教育寄宿生生活补助（初中）"),
    ("primary_day", {}, {"schooling_stage": "primary"}, "义务教育非寄宿生生活补助（小学）"),
    ("junior_day", {}, {"schooling_stage": "junior"}, "义务教育非寄宿生生活补助（初中）"),
    ("senior", {}, {"schooling_stage": "senior"}, "普通高中国家助学金"),
    ("senior_disabled", {}, {"schooling_stage": "senior", "disability_kind": "speech",
                             "disability_grade": 3}, "普通高中残疾学生免除学费、住宿费"),
    ("vocational_fees", {}, {"schooling_stage": "vocational"}, "中等职业教育免学费"),
    ("vocational_grant", {}, {"schooling_stage": "vocational"}, "中等职业教育国家助学金"),
    ("higher", {}, {"schooling_stage": "higher"}, "高等教育国家助学金"),
    ("higher_disabled", {}, {"schooling_stage": "higher", "disability_kind": "physical",
                             "disability_grade": 4}, "残疾大学新生一次性入学资助"),
    ("insurance_aid", {"category": "destitute"}, None, "城乡居民基本医疗保险参保资助"),
    ("insurance_aid", {"category": "dibao_unemployed"}, None, "城乡居民基本医疗保险参保资助"),
    ("chronic", {}, {"illness": "chronic"}, "慢性病政策待遇"),
    ("serious", {}, {"illness": "serious"}, "倾斜救助"),
    ("checkup", {}, {"birth_date": _born(70)}, "健康体检及健康巡诊"),
    ("screening", {"category": "dibao_unemployed"}, {"gender": "female", "birth_date": _born(40)},
     "“两癌”筛查"),
    ("accident", {}, None, "意外伤害保险"),
    ("child_rehab", {}, {"disability_kind": "intellectual", "disability_grade": 3,
                         "birth_date": _born(8)}, "残疾儿童康复救助"),
    ("public_job", {}, {"employment_status": "unemployed"}, "公益性岗位安置"),
    ("training", {}, {"employment_status": "unemployed"}, "技能培训及就业创业培训补贴"),
    ("home_care", {}, {"birth_date": _born(66)}, "“六助”上门服务"),
]
# the same facts, one step off: the rule stays silent
NEGATIVE = [
    ("dibao", {"category": "edge"}, None),
    ("destitute", {"category": "below_dibao"}, None),
    ("union", {"person_type": "resident"}, None),
    ("power", {"category": "below_dibao"}, None),
    ("severe_care", {}, {"disability_kind": "physical", "disability_grade": 3}),
    ("aids", {}, {"disability_kind": "physical", "disability_grade": 4}),
    ("primary_boarding", {}, {"schooling_stage": "primary"}),
    ("primary_day", {}, {"schooling_stage": "primary", "boarding": True}),
    ("senior_disabled", {}, {"schooling_stage": "senior"}),
    ("higher_disabled", {}, {"schooling_stage": "higher"}),
    ("insurance_aid", {"category": "edge"}, None),
    ("checkup", {}, {"birth_date": _born(60)}),
    ("screening", {"category": "below_dibao"}, {"gender": "female", "birth_date": _born(40)}),
    ("screening", {"category": "dibao_unemployed"}, {"gender": "male", "birth_date": _born(40)}),
    ("child_rehab", {}, {"disability_kind": "physical", "disability_grade": 3,
                         "birth_date": _born(15)}),
    ("public_job", {}, {"employment_status": "flexible"}),
    ("home_care", {}, {"birth_date": _born(50)}),
]


def test_every_rule_is_tested_and_names_a_catalogue_measure(catalogue):
    assert {c[0] for c in CASES} == set(suggestions.RULES_BY_KEY)
    for rule in suggestions.RULES:
        assert rule.measure in catalogue, rule.key
        assert catalogue[rule.measure].policy_line == rule.line, rule.key


@pytest.mark.parametrize(("key", "facts", "member", "measure"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_suggests(app, catalogue, make_household, key, facts, member, measure):
    with app.test_request_context():
        household = _household(make_household, [dict(member, name="张小明")] if member else [],
                               **facts)
        found = _suggested(household)
        assert key in found
        assert found[key].measure.name == measure
        assert found[key].reason
        if member:
            assert found[key].text.startswith("张小明：")
            assert found[key].key.startswith(f"{key}:")


@pytest.mark.parametrize(("key", "facts", "member"), NEGATIVE,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(NEGATIVE)])
def test_rule_stays_silent(app, catalogue, make_household, key, facts, member):
    with app.test_request_context():
        household = _household(make_household, [member] if member else [], **facts)
        assert key not in _suggested(household)


def test_a_member_who_left_is_not_counted(app, catalogue, make_household):
    with app.test_request_context():
        household = _household(make_household, [{"schooling_stage": "senior",
                                                 "left_on": date(2024, 1, 1),
                                                 "left_reason": "moved_out"}])
        assert "senior" not in _suggested(household)


def test_planned_or_deactivated_measures_are_not_suggested(app, world, catalogue,
                                                           make_household):
    with app.test_request_context():
        household = _household(make_household, [{"schooling_stage": "senior"}],
                               category="dibao_unemployed")
        _db.session.add(PlanMeasure(household=household, measure=catalogue["电力补助"],
                                    start_date=date(2024, 1, 1)))
        ended = PlanMeasure(household=household, measure=catalogue["最低生活保障金"],
                            start_date=date(2023, 1, 1), end_date=date(2023, 12, 31))
        _db.session.add(ended)
        city = catalogue["普通高中国家助学金"]
        _db.session.add(Measure(county_id=world.county.id, area=city.area, name=city.name,
                                active=False))
        _db.session.commit()
        found = _suggested(household)
        assert "power" not in found and "senior" not in found
        assert "dibao" in found  # the earlier entry ended: suggested again


def test_street_reviewer_accepts_a_suggestion(client, auth, world, catalogue, make_household,
                                              make_user):
    household = _household(make_household, [{"name": "李小红", "schooling_stage": "primary",
                                              "boarding": True}])
    version = household.version
    auth.login(make_user("street_reviewer"))
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert "建议的措施" in page and "李小红：小学寄宿生" in page and "1000 元/生·年" in page
    member_id = household.members[-1].id
    response = client.post(f"/manage/households/{household.id}/plan/suggestions",
                           data={"key": f"primary_boarding:{member_id}", "action": "accept"})
    assert response.status_code == 302
    _db.session.expire_all()
    household = _db.session.get(Household, household.id)
    [pm] = household.plan
    assert pm.measure.name == "义务教育寄宿生生活补助（小学）" and pm.amount == 1000
    assert pm.start_date == today_local() and pm.note == "李小红：小学寄宿生"
    assert household.version == version + 1
    [event] = _db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "plan.change"))
    assert event.detail["op"] == "add"
    assert event.detail["suggestion"]["rule"] == "primary_boarding"
    assert event.detail["suggestion"]["policy_line"] == 99
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert "李小红：小学寄宿生" in page  # now as the plan entry's note
    assert f'data-key="primary_boarding:{member_id}"' not in page


def test_county_officer_dismisses_a_suggestion(client, auth, world, catalogue, make_household,
                                               officer):
    household = _household(make_household, category="dibao_unemployed")
    auth.login(officer)
    response = client.post(f"/manage/households/{household.id}/plan/suggestions",
                           data={"key": "power", "action": "dismiss"})
    assert response.status_code == 302
    assert _db.session.scalar(sa.select(sa.func.count(PlanMeasure.id))) == 0
    [event] = _db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "plan.change"))
    assert event.detail["op"] == "dismiss" and event.detail["suggestion"]["name"] == "电力补助"
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert 'data-key="power"' not in page and 'data-key="dibao"' in page


@pytest.mark.parametrize("key", ["", "power", "nonsense:12", "dibao:1"])
def test_unknown_or_stale_suggestion_is_refused(client, auth, world, catalogue, make_household,
                                                officer, key):
    household = _household(make_household, category="edge")  # no power allowance
    auth.login(officer)
    response = client.post(f"/manage/households/{household.id}/plan/suggestions",
                           data={"key": key, "action": "accept"})
    assert response.status_code == 422
    assert "该建议已处理或不再适用" in response.get_data(as_text=True)
    assert _db.session.scalar(sa.select(sa.func.count(PlanMeasure.id))) == 0


def test_no_suggestions_once_exited(client, auth, world, catalogue, make_household, officer):
    household = _household(make_household, status="exited", category="dibao_unemployed")
    auth.login(officer)
    page = client.get(f"/manage/households/{household.id}/plan").get_data(as_text=True)
    assert "建议的措施" not in page
    response = client.post(f"/manage/households/{household.id}/plan/suggestions",
                           data={"key": "power", "action": "accept"})
    assert response.status_code == 422
    assert "该户当前状态下不能调整帮扶计划" in response.get_data(as_text=True)


def test_helpers_cannot_act_on_suggestions(client, auth, world, catalogue, make_household,
                                           make_user):
    household = _household(make_household, category="dibao_unemployed")
    auth.login(make_user("helper"))
    response = client.post(f"/manage/households/{household.id}/plan/suggestions",
                           data={"key": "power", "action": "accept"})
    assert response.status_code in (403, 404)
    assert _db.session.scalar(sa.select(sa.func.count(PlanMeasure.id))) == 0

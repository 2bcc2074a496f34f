"""Exit by every route (issue 14): the proposal with the route's facts, the chain 社区意见 →
街道(乡镇)解困办意见 → 县级解困办审批 with four eyes, the publicity of a stable exit, the
exit's effects on the file, the helper's phone and compliance, and each refusal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.access.scope import household_clause
from fieldwork.audit.models import AuditEvent
from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.households.management import exit as exits
from fieldwork.households.management import exit_chain as chain
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Measure,
    Member,
    Objection,
    PlanMeasure,
    ReviewDecision,
)
from fieldwork.places.models import PolicySettings
from fieldwork.supervision import compliance
from fieldwork.timeutil import add_months, current_month, today_local

DIMS = ("income", "housing", "education", "medical", "employment", "elderly")


def ok_answers() -> dict:
    return {f"{d}_status": "ok" for d in DIMS}


def months_back(n: int) -> list[int]:
    this = current_month()
    return [add_months(this, -i) for i in range(n, 0, -1)]


def mid(month: int, day: int = 15) -> datetime:
    return datetime(month // 100, month % 100, day, 4, tzinfo=UTC)


@pytest.fixture
def helper(make_user):
    return make_user("helper", display_name="孙帮扶")


@pytest.fixture
def people(make_user):
    """The household's community worker, street reviewer and two county officers."""
    return {"community": make_user("community_worker", display_name="社区小李"),
            "street": make_user("street_reviewer", display_name="街道老王"),
            "county": make_user("county_officer", display_name="县办张科"),
            "county2": make_user("county_officer", display_name="县办刘科")}


@pytest.fixture
def household(make_household, helper, make_visit, world):
    """An enrolled household with a helper, a plan measure and six good months."""
    hh = make_household(helper=helper, assigned_on=date(2024, 1, 1),
                        enrolled_on=date(2024, 1, 1), head_name="钱平安",
                        head_id_index="blind-index-1")
    measure = Measure(county_id=None, area="income", name="城乡最低生活保障金", unit="元/月")
    _db.session.add(measure)
    _db.session.add(PlanMeasure(household=hh, measure=measure, amount=Decimal("400"),
                                start_date=date(2024, 1, 1)))
    _db.session.commit()
    for m in months_back(6):
        make_visit(hh, helper, visited_at=mid(m), answers=ok_answers(),
                   per_capita_income=Decimal("900"))
    return hh


def set_policy(world, **values) -> None:
    row = _db.session.scalar(sa.select(PolicySettings).where(
        PolicySettings.place_id == world.county.id))
    for k, v in values.items():
        setattr(row, k, v)
    _db.session.commit()


def audit(action: str) -> list[AuditEvent]:
    return list(_db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def only_case() -> Case:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(Case))


def fresh(household) -> Household:
    _db.session.expire_all()
    return _db.session.get(Household, household.id)


def as_user(client, auth, user):
    auth.logout()
    auth.login(user)
    return client


STABLE = {"route": "stable", "reason": "女儿就业，月工资 3200 元，医疗费用已由医保报销",
          "causes_resolved": "1", "opinion": "收入稳定，六项均正常"}
YESTERDAY = (today_local() - timedelta(days=1)).isoformat()
ROUTE_FORMS = {
    "death": {"route": "death", "event_on": YESTERDAY, "reason": "户主去世，一人户，有死亡证明"},
    "moved": {"route": "moved", "event_on": YESTERDAY, "destination": "郑州市金水区",
              "reason": "全家户籍迁至郑州，有迁移证"},
    "ineligible": {"route": "ineligible", "event_on": YESTERDAY,
                   "reason": "复核发现家庭购置商品房一套，收入已超标准"},
    "withdrawn": {"route": "withdrawn", "event_on": YESTERDAY, "reason": ""},
    "fraud": {"route": "fraud", "event_on": YESTERDAY, "reason": "隐瞒经营性收入，查实有门面出租"},
}


def through_street(client, auth, people, case_id: int) -> None:
    for who in ("community", "street"):
        as_user(client, auth, people[who])
        r = client.post(f"/manage/exit/cases/{case_id}/decide", data={"decision": "approve"})
        assert r.status_code == 302, r.get_data(as_text=True)


# ---------------------------------------------------------------- the stable route

def test_stable_exit_through_the_chain_and_publicity(client, auth, world, people, helper,
                                                     household):
    version = household.version
    auth.login(helper)
    first = client.get("/api/sync/v1/pull").get_json()
    assert [h["id"] for h in first["households"]] == [str(household.id)]

    # The community worker asks from the household page: the route first, then its fields.
    as_user(client, auth, people["community"])
    page = client.get(f"/households/{household.id}").get_data(as_text=True)
    assert "申请退出" in page
    form = client.get(f"/manage/exit/households/{household.id}/propose?route=stable")
    text = form.get_data(as_text=True)
    assert form.status_code == 200 and "致困因素已稳定消除" in text and "低保标准" in text
    proposed = client.post(f"/manage/exit/households/{household.id}/propose", data=STABLE)
    assert proposed.status_code == 302
    case = only_case()
    assert (case.kind, case.stage, case.state, case.exit_route) == (
        "exit", "exit_community", "open", "stable")
    assert case.exit_reason == STABLE["reason"] and chain.facts(case)["causes_resolved"] is True
    assert case.exit_on is None
    queue = client.get("/manage/exit").get_data(as_text=True)
    assert "社区意见" in queue and "平稳退出" in queue and "待您办理" in queue

    through_street(client, auth, people, case.id)
    as_user(client, auth, people["county"])
    shown = client.get(f"/manage/exit/cases/{case.id}").get_data(as_text=True)
    assert "社区小李" in shown and "街道老王" in shown and "退出条件核对" in shown
    decided = client.post(f"/manage/exit/cases/{case.id}/decide",
                          data={"decision": "approve", "opinion": "同意平稳退出"})
    assert decided.status_code == 302
    case = only_case()
    assert case.stage == "exit_publicity" and case.state == "open"
    assert case.publicity_ends_on == today_local() + timedelta(days=7)
    assert fresh(household).status == "enrolled"  # visits go on during the publicity

    # Not before the publicity's end; an objection recorded and dismissed.
    early = client.post(f"/manage/exit/cases/{case.id}/finish")
    assert early.status_code == 422 and "期满后退出才能生效" in early.get_data(as_text=True)
    assert client.post(f"/manage/exit/cases/{case.id}/objections",
                       data={"text": "邻居反映仍有困难", "raised_by": "匿名"}).status_code == 302
    [objection] = _db.session.scalars(sa.select(Objection.id)).all()
    pending = client.post(f"/manage/exit/cases/{case.id}/finish")
    assert pending.status_code == 422
    assert client.post(f"/manage/exit/cases/{case.id}/objections/{objection}/resolve",
                       data={"outcome": "dismiss", "resolution": "经核实收入稳定"}
                       ).status_code == 302
    ends = today_local() - timedelta(days=1)
    case = only_case()
    case.publicity_ends_on = ends
    _db.session.commit()
    finished = client.post(f"/manage/exit/cases/{case.id}/finish")
    assert finished.status_code == 302
    hh = fresh(household)
    case = _db.session.get(Case, case.id)
    assert (hh.status, hh.exited_on, hh.exit_route) == ("exited", ends, "stable")
    assert case.state == "approved" and case.exit_on == ends
    assert hh.version > version and hh.file_no is not None
    assert hh.head.id_index == "blind-index-1"
    [assignment] = hh.assignments
    [pm] = hh.plan
    assert assignment.end_date == ends and pm.end_date == ends
    assert [(d.step, d.decision) for d in case.decisions] == [
        ("exit_proposal", "approve"), ("exit_community", "approve"),
        ("exit_street", "approve"), ("exit_county", "approve")]
    [event] = audit("case.exit")
    assert event.detail["exited_on"] == ends.isoformat()

    as_user(client, auth, helper)
    after = client.get(f"/api/sync/v1/pull?since={first['cursor']}").get_json()
    assert after["removed"] == [str(household.id)]


def test_without_publicity_the_county_decision_exits_today(client, auth, world, people,
                                                           household):
    set_policy(world, exit_publicity=False)
    auth.login(people["street"])
    assert client.post(f"/manage/exit/households/{household.id}/propose",
                       data=STABLE).status_code == 302
    case = only_case()
    through_street(client, auth, people, case.id)
    as_user(client, auth, people["county"])
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "approve"}).status_code == 302
    hh = fresh(household)
    assert (hh.status, hh.exited_on, hh.exit_route) == ("exited", today_local(), "stable")
    assert only_case().state == "approved"
    scope = household_clause(people["county"])
    assert compliance.totals(scope, add_months(current_month(), 1)).due == 0


def test_stable_exit_needs_the_evidence_and_the_judgement(client, auth, people, helper,
                                                         make_household, make_visit,
                                                         household):
    short = make_household(helper=helper, enrolled_on=date(2024, 1, 1))
    for m in months_back(4):
        make_visit(short, helper, visited_at=mid(m), answers=ok_answers(),
                   per_capita_income=Decimal("900"))
    auth.login(people["community"])
    refused = client.post(f"/manage/exit/households/{short.id}/propose", data=STABLE)
    assert refused.status_code == 422
    assert "该户目前不符合平稳退出条件" in refused.get_data(as_text=True)
    no_judgement = client.post(f"/manage/exit/households/{household.id}/propose",
                               data={**STABLE, "causes_resolved": ""})
    assert no_judgement.status_code == 422
    assert "致困因素已稳定消除" in no_judgement.get_data(as_text=True)
    no_reason = client.post(f"/manage/exit/households/{household.id}/propose",
                            data={**STABLE, "reason": " "})
    assert no_reason.status_code == 422 and "致困因素消除情况" in no_reason.get_data(
        as_text=True)
    assert _db.session.scalar(sa.select(sa.func.count(Case.id))) == 0


def test_county_approval_rechecks_the_evidence(client, auth, people, helper, make_visit,
                                               household):
    auth.login(people["community"])
    client.post(f"/manage/exit/households/{household.id}/propose", data=STABLE)
    case = only_case()
    through_street(client, auth, people, case.id)
    make_visit(household, helper, visited_at=mid(months_back(6)[3], 27),
               answers={**ok_answers(), "employment_status": "problem"},
               per_capita_income=Decimal("900"))
    as_user(client, auth, people["county"])
    response = client.post(f"/manage/exit/cases/{case.id}/decide", data={"decision": "approve"})
    assert response.status_code == 422 and "就业" in response.get_data(as_text=True)
    assert only_case().stage == "exit_county"
    assert fresh(household).status == "enrolled"


# ---------------------------------------------------------------- every other route

@pytest.mark.parametrize("route", ["death", "moved", "ineligible", "withdrawn", "fraud"])
def test_every_route_through_the_chain(client, auth, world, people, household, route):
    auth.login(people["community"])
    form = ROUTE_FORMS[route]
    page = client.get(f"/manage/exit/households/{household.id}/propose?route={route}")
    assert page.status_code == 200 and str(chain.ROUTES[route].date_label) in page.get_data(
        as_text=True)
    assert client.post(f"/manage/exit/households/{household.id}/propose",
                       data=form).status_code == 302
    case = only_case()
    assert case.exit_route == route and case.stage == "exit_community"
    assert chain.facts(case)["event_on"] == YESTERDAY
    through_street(client, auth, people, case.id)
    as_user(client, auth, people["county"])
    shown = client.get(f"/manage/exit/cases/{case.id}").get_data(as_text=True)
    assert "退出条件核对" not in shown  # the stable route's evidence only
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "approve"}).status_code == 302
    hh = fresh(household)
    expected = (today_local() - timedelta(days=1) if route in ("death", "moved")
                else today_local())
    assert (hh.status, hh.exited_on, hh.exit_route) == ("exited", expected, route)
    case = only_case()
    assert case.state == "approved" and case.exit_on == expected
    assert case.publicity_ends_on is None  # only a stable exit is publicised
    assert hh.assignments[0].end_date == expected and hh.plan[0].end_date == expected
    if route == "moved":
        assert chain.facts(case)["destination"] == "郑州市金水区"
    [decision] = [e for e in audit("case.decision") if e.detail["step"] == "exit_county"]
    assert decision.detail["exit_route"] == route


def test_a_death_recorded_on_the_members_is_evidence(app, world, people, household):
    head = household.head
    head.left_on, head.left_reason = today_local() - timedelta(days=3), "died"
    _db.session.commit()
    case = chain.propose(household, people["community"], {
        "route": "death", "event_on": head.left_on.isoformat(), "reason": "户主去世"})
    assert chain.facts(case)["recorded_deaths"] == [
        {"member": head.id, "relation": "self", "left_on": head.left_on.isoformat()}]


@pytest.mark.parametrize(("form", "field", "message"), [
    ({}, "route", "请选择退出类型"),
    ({"route": "leaving"}, "route", "请选择退出类型"),
    ({"route": "death", "reason": "去世"}, "event_on", "请填写“死亡日期”"),
    ({"route": "death", "event_on": "2099-01-01", "reason": "去世"}, "event_on",
     "不能晚于今天"),
    ({"route": "death", "event_on": "2023-06-01", "reason": "去世"}, "event_on",
     "不能早于该户纳入日期"),
    ({"route": "death", "event_on": "昨天", "reason": "去世"}, "event_on", "格式不正确"),
    ({"route": "death", "event_on": YESTERDAY}, "reason", "请填写“死亡人员及证明材料”"),
    ({"route": "moved", "event_on": YESTERDAY, "reason": "迁走"}, "destination", "请填写迁往地"),
    ({"route": "ineligible", "event_on": YESTERDAY}, "reason", "复核发现的变化"),
    ({"route": "withdrawn"}, "event_on", "请填写“书面申请日期”"),
    ({"route": "fraud", "event_on": YESTERDAY}, "reason", "查实的隐瞒或虚报情况"),
    ({"route": "fraud", "event_on": YESTERDAY, "reason": "长" * 1001}, "reason", "不能超过"),
])
def test_each_missing_or_bad_field_is_refused(client, auth, people, household, form, field,
                                              message):
    auth.login(people["community"])
    response = client.post(f"/manage/exit/households/{household.id}/propose", data=form)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert _db.session.scalar(sa.select(sa.func.count(Case.id))) == 0
    with pytest.raises(FormError) as refused:
        chain.propose(household, people["community"], form)
    assert field in refused.value.errors


def test_one_open_case_per_household_and_only_enrolled(client, auth, people, household,
                                                       make_household):
    auth.login(people["county"])
    assert client.post(f"/manage/exit/households/{household.id}/propose",
                       data=ROUTE_FORMS["withdrawn"]).status_code == 302
    again = client.post(f"/manage/exit/households/{household.id}/propose",
                        data=ROUTE_FORMS["fraud"])
    assert again.status_code == 422 and "已有办理中的退出申请" in again.get_data(as_text=True)
    watched = make_household(status="watch")
    not_in = client.post(f"/manage/exit/households/{watched.id}/propose",
                         data=ROUTE_FORMS["withdrawn"])
    assert not_in.status_code == 422 and "只有帮扶中的住户" in not_in.get_data(as_text=True)


# ---------------------------------------------------------------- the chain's rules

def test_four_eyes_the_proposer_never_decides(client, auth, people, household):
    auth.login(people["county"])
    assert client.post(f"/manage/exit/households/{household.id}/propose",
                       data=ROUTE_FORMS["fraud"]).status_code == 302
    case = only_case()
    through_street(client, auth, people, case.id)
    as_user(client, auth, people["county"])
    page = client.get(f"/manage/exit/cases/{case.id}").get_data(as_text=True)
    assert "不能再作县级审批决定" in page and 'name="decision"' not in page
    refused = client.post(f"/manage/exit/cases/{case.id}/decide", data={"decision": "approve"})
    assert refused.status_code == 422
    assert "不能再作县级审批决定" in refused.get_data(as_text=True)
    assert only_case().stage == "exit_county" and fresh(household).status == "enrolled"
    # A colleague returns it; the street sends it back to the community, which returns it
    # to the proposer; after a resubmission by the colleague neither may decide it.
    as_user(client, auth, people["county2"])
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "return", "opinion": "请补充查实材料"}
                       ).status_code == 302
    assert only_case().stage == "exit_street"
    as_user(client, auth, people["street"])
    client.post(f"/manage/exit/cases/{case.id}/decide",
                data={"decision": "return", "opinion": "社区补充"})
    as_user(client, auth, people["community"])
    client.post(f"/manage/exit/cases/{case.id}/decide",
                data={"decision": "return", "opinion": "请提出人补充"})
    assert only_case().stage == "exit_returned"
    as_user(client, auth, people["county2"])
    assert client.post(f"/manage/exit/cases/{case.id}/resubmit",
                       data={"opinion": "已补充出租合同"}).status_code == 302
    through_street(client, auth, people, case.id)
    for who in ("county", "county2"):
        as_user(client, auth, people[who])
        assert client.post(f"/manage/exit/cases/{case.id}/decide",
                           data={"decision": "approve"}).status_code == 422
    assert chain.signers(only_case()) >= {people["county"].id, people["county2"].id}


def test_return_resubmit_and_reject(client, auth, people, household):
    auth.login(people["community"])
    client.post(f"/manage/exit/households/{household.id}/propose", data=ROUTE_FORMS["moved"])
    case = only_case()
    no_reason = client.post(f"/manage/exit/cases/{case.id}/decide", data={"decision": "return"})
    assert no_reason.status_code == 422 and "请填写意见" in no_reason.get_data(as_text=True)
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "return", "opinion": "请补充迁移证"}).status_code == 302
    assert only_case().stage == "exit_returned"
    early = client.post(f"/manage/exit/cases/{case.id}/decide", data={"decision": "approve"})
    assert early.status_code == 422 and "不在待审核状态" in early.get_data(as_text=True)
    assert client.post(f"/manage/exit/cases/{case.id}/resubmit",
                       data={"opinion": ""}).status_code == 422
    future = client.post(f"/manage/exit/cases/{case.id}/resubmit",
                         data={"opinion": "已补充", "event_on": "2099-01-01"})
    assert future.status_code == 422 and "不能晚于今天" in future.get_data(as_text=True)
    assert client.post(f"/manage/exit/cases/{case.id}/resubmit",
                       data={"opinion": "已补充迁移证", "destination": "洛阳市"}
                       ).status_code == 302
    case = only_case()
    assert case.stage == "exit_community" and chain.facts(case)["destination"] == "洛阳市"
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "approve"}).status_code == 302
    as_user(client, auth, people["street"])
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "reject", "opinion": "未实际迁出"}).status_code == 302
    case = only_case()
    assert case.state == "rejected" and fresh(household).status == "enrolled"
    assert [(d.step, d.decision) for d in case.decisions] == [
        ("exit_proposal", "approve"), ("exit_community", "return"),
        ("exit_proposal", "approve"), ("exit_community", "approve"),
        ("exit_street", "reject")]


def test_wrong_step_wrong_stage_and_wrong_scope(client, auth, world, make_user, people,
                                                household):
    auth.login(people["community"])
    client.post(f"/manage/exit/households/{household.id}/propose", data=ROUTE_FORMS["fraud"])
    case = only_case()
    # The street and the county cannot speak before the community.
    for who in ("street", "county2"):
        as_user(client, auth, people[who])
        assert client.post(f"/manage/exit/cases/{case.id}/decide",
                           data={"decision": "approve"}).status_code == 403
    # Another community of the same street does not see it; another county neither.
    as_user(client, auth, make_user("community_worker", place=world.community_2))
    assert client.get(f"/manage/exit/cases/{case.id}").status_code == 404
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "approve"}).status_code == 404
    assert client.post(f"/manage/exit/households/{household.id}/propose",
                       data=ROUTE_FORMS["fraud"]).status_code == 404
    as_user(client, auth, make_user("county_officer", place=world.county_b))
    assert client.get(f"/manage/exit/cases/{case.id}").status_code == 404
    # The city supervisor reads, and cannot propose or decide.
    as_user(client, auth, make_user("city_supervisor"))
    assert client.get(f"/manage/exit?county={world.county.id}").status_code == 200
    assert client.get(f"/manage/exit/cases/{case.id}").status_code == 200
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "approve"}).status_code == 403
    # Publicity actions on a case not in publicity; a stale stage.
    as_user(client, auth, people["county2"])
    assert client.post(f"/manage/exit/cases/{case.id}/finish").status_code == 422
    as_user(client, auth, people["community"])
    stale = client.post(f"/manage/exit/cases/{case.id}/decide",
                        data={"decision": "approve", "stage": "exit_street"})
    assert stale.status_code == 409
    # Helpers see none of it.
    as_user(client, auth, make_user("helper"))
    assert client.get("/manage/exit").status_code == 404
    assert only_case().stage == "exit_community"


def test_an_upheld_objection_returns_or_ends_the_exit(app, world, people, household):
    case = chain.propose(household, people["community"], STABLE)
    for who in ("community", "street", "county"):
        chain.decide(case, people[who], {"decision": "approve"})
    assert case.stage == "exit_publicity"
    objection = chain.intake_publicity.record_objection(people["county2"], case, "仍有大病负担")
    chain.intake_publicity.resolve_objection(people["county2"], objection, "return", "核实属实")
    assert (case.stage, case.publicity_ends_on) == ("exit_county", None)
    chain.decide(case, people["county2"], {"decision": "approve"})
    assert case.stage == "exit_publicity"
    objection = chain.intake_publicity.record_objection(people["county2"], case, "再次反映")
    chain.intake_publicity.resolve_objection(people["county2"], objection, "reject", "属实")
    _db.session.commit()
    assert case.state == "rejected" and fresh(household).status == "enrolled"
    assert [d.step for d in case.decisions][-1] == "exit_publicity"


def test_the_case_page_lists_objections_and_resolves_them(client, auth, people, household):
    """The exit case page shows the publicity's objections (the list enrolment uses too) and,
    for the county, the form to resolve an open one with the exit's own outcomes."""
    case = chain.propose(household, people["community"], STABLE)
    for who in ("community", "street", "county"):
        chain.decide(case, people[who], {"decision": "approve"})
    objection = chain.intake_publicity.record_objection(people["county2"], case, "仍有大病负担")
    _db.session.commit()
    as_user(client, auth, people["county2"])
    html = client.get(f"/manage/exit/cases/{case.id}").get_data(as_text=True)
    assert "仍有大病负担" in html and "待处理" in html
    assert (f'action="/manage/exit/cases/{case.id}/objections/{objection.id}'
            in html), "the resolve form posts to the exit's own endpoint"
    assert "异议成立，不予退出" in html
    as_user(client, auth, people["community"])
    html = client.get(f"/manage/exit/cases/{case.id}").get_data(as_text=True)
    assert "仍有大病负担" in html and "提交处理结果" not in html


def test_legacy_open_case_is_decided_by_the_county(app, world, people, household):
    case = Case(household_id=household.id, kind="exit", channel="territorial",
                stage="exit_review", state="open", opened_by_id=people["county"].id)
    _db.session.add(case)
    _db.session.flush()
    with pytest.raises(FormError):
        chain.decide(case, people["county"], {"decision": "approve"})
    chain.decide(case, people["county2"], {"decision": "reject", "opinion": "重新按程序申请"})
    assert case.state == "rejected" and case.decisions[-1].step == "exit_county"


def test_exit_ends_a_scheduled_handover_too(app, world, people, make_user, household):
    successor = make_user("helper")
    _db.session.add(Assignment(household_id=household.id, helper_id=successor.id,
                               start_date=today_local() + timedelta(days=10)))
    household.assignments[0].end_date = today_local() + timedelta(days=9)
    _db.session.commit()
    case = chain.propose(household, people["community"], ROUTE_FORMS["ineligible"])
    for who in ("community", "street", "county"):
        chain.decide(case, people[who], {"decision": "approve"})
    _db.session.commit()
    rows = fresh(household).assignments
    assert [(a.start_date, a.end_date) for a in rows] == [(date(2024, 1, 1), today_local())]


# ---------------------------------------------------------------- visits after an exit

def test_due_in_the_exit_month_only_when_exited_after_its_first_day(app, world, people,
                                                                    make_household):
    this = current_month()
    last = add_months(this, -1)
    first_day = date(last // 100, last % 100, 1)
    on_first = make_household(enrolled_on=date(2024, 1, 1), status="exited")
    on_first.exited_on = first_day
    on_second = make_household(enrolled_on=date(2024, 1, 1), status="exited")
    on_second.exited_on = first_day + timedelta(days=1)
    _db.session.commit()
    scope = household_clause(people["county"])
    assert compliance.totals(scope, last).due == 1  # only the one that left on the 2nd
    assert compliance.totals(scope, this).due == 0
    before = add_months(last, -1)
    assert compliance.totals(scope, before).due == 2
    trend = dict(compliance.trend(scope, this, months=3))
    assert (trend[before].due, trend[last].due, trend[this].due) == (2, 1, 0)


# ---------------------------------------------------------------- the county's settings

def test_office_phone_and_exit_publicity_are_county_settings(client, auth, world, people):
    auth.login(people["county"])
    page = client.get("/manage/policy").get_data(as_text=True)
    assert "平稳退出前稳定月数" in page and "观察期" not in page and "县级解困办电话" in page
    form = {"income_target": "630", "visits_per_month": "1", "geofence_m": "300",
            "exit_months": "6", "publicity_days": "7", "poor_accuracy_m": "100",
            "late_entry_hours": "48", "clock_skew_minutes": "30", "max_photo_px": "1600",
            "exit_publicity": "0"}
    bad = client.post("/manage/policy", data={**form, "office_phone": "call me"})
    assert bad.status_code == 422 and "解困办电话只能包含数字" in bad.get_data(as_text=True)
    assert client.post("/manage/policy", data={**form, "office_phone": "0377-63123456"}
                       ).status_code == 302
    _db.session.expire_all()
    row = _db.session.scalar(sa.select(PolicySettings).where(
        PolicySettings.place_id == world.county.id))
    assert row.office_phone == "0377-63123456" and row.exit_publicity is False
    assert client.post("/manage/policy", data={**form, "office_phone": "0377-63123456",
                                               "exit_publicity": ["0", "1"]}).status_code == 302
    _db.session.expire_all()
    assert _db.session.get(PolicySettings, row.id).exit_publicity is True


def test_member_model_is_unchanged_by_an_exit(app, world, people, household):
    case = chain.propose(household, people["community"], ROUTE_FORMS["withdrawn"])
    for who in ("community", "street", "county"):
        chain.decide(case, people[who], {"decision": "approve"})
    _db.session.commit()
    assert _db.session.scalar(sa.select(sa.func.count(Member.id)).where(
        Member.household_id == household.id, Member.left_on.is_(None))) >= 1
    assert exits.eligible(household_clause(people["county"])) == []
    assert _db.session.scalar(sa.select(sa.func.count(ReviewDecision.id))) == 4

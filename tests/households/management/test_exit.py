"""Exit (平稳退出): eligibility computed on constructed visit histories, and the proposal →
review → exit flow with its effects on the file, the helper's phone and compliance."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.access.scope import household_clause
from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.management import exit as exits
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Measure,
    PlanMeasure,
    ReviewDecision,
)
from fieldwork.places.models import PolicySettings
from fieldwork.supervision import compliance
from fieldwork.timeutil import add_months, current_month, today_local

DIMS = ("income", "housing", "education", "medical", "employment", "elderly")


def ok_answers(**over) -> dict:
    return {**{f"{d}_status": "ok" for d in DIMS}, **over}


def months_back(n: int) -> list[int]:
    """The n full months before the current one, oldest first."""
    this = current_month()
    return [add_months(this, -i) for i in range(n, 0, -1)]


def mid(month: int, day: int = 15) -> datetime:
    return datetime(month // 100, month % 100, day, 4, tzinfo=UTC)  # noon in Nanyang


@pytest.fixture
def helper(make_user):
    return make_user("helper", display_name="孙帮扶")


@pytest.fixture
def officer(make_user):
    return make_user("county_officer")


@pytest.fixture
def history(make_visit, helper):
    """Give a household good visits in the given months (one each, income 900)."""

    def build(household, months, income="900", **kw):
        for m in months:
            make_visit(household, helper, visited_at=mid(m), answers=ok_answers(),
                       per_capita_income=Decimal(income), **kw)

    return build


def evaluate(household) -> exits.Evidence:
    return exits.evaluate(Household.id == household.id)[household.id]


# ---------------------------------------------------------------- eligibility

def test_exactly_n_good_months_is_eligible(app, make_household, helper, history):
    household = make_household(helper=helper)
    history(household, months_back(6))
    ev = evaluate(household)
    assert ev.eligible
    assert [m.month for m in ev.months] == months_back(6)
    assert all(m.visits == 1 and m.min_income == Decimal("900") for m in ev.months)


def test_n_minus_one_months_is_not(app, make_household, helper, history):
    household = make_household(helper=helper)
    history(household, months_back(5))
    ev = evaluate(household)
    assert not ev.eligible
    assert ev.months[0].visits == 0
    assert "没有有效走访" in ev.reasons[0]


def test_a_gap_month_is_not(app, make_household, helper, history):
    household = make_household(helper=helper)
    window = months_back(7)
    history(household, [m for m in window if m != window[3]])  # 7 months, one missing
    assert not evaluate(household).eligible


def test_one_bad_dimension_in_one_month_is_not(app, make_household, helper, history,
                                               make_visit):
    household = make_household(helper=helper)
    history(household, months_back(6))
    # A second visit in one month finds medical care at risk: every visit must be fine.
    make_visit(household, helper, visited_at=mid(months_back(6)[2], 20),
               answers=ok_answers(medical_status="at_risk"), per_capita_income=Decimal("900"))
    ev = evaluate(household)
    assert not ev.eligible
    assert ev.months[2].not_ok == {"medical"}
    assert any("医疗" in r for r in ev.reasons)


def test_income_equal_to_the_line_is_not_but_a_cent_above_is(app, make_household, helper,
                                                             history):
    at_line = make_household(helper=helper)
    history(at_line, months_back(6)[:5])
    history(at_line, months_back(6)[5:], income="630")
    above = make_household(helper=helper)
    history(above, months_back(6), income="630.01")
    result = exits.evaluate(Household.id.in_([at_line.id, above.id]))
    assert not result[at_line.id].eligible
    assert result[at_line.id].months[5].at_or_below_line == 1
    assert result[above.id].eligible


def test_a_visit_without_income_does_not_prove_income(app, make_household, helper, history,
                                                      make_visit):
    household = make_household(helper=helper)
    history(household, months_back(6))
    make_visit(household, helper, visited_at=mid(months_back(6)[0], 25),
               answers=ok_answers(), per_capita_income=None)
    assert not evaluate(household).eligible


def test_rejected_and_superseded_visits_do_not_count(app, make_household, helper, history,
                                                     make_visit):
    # A month whose only visit was rejected in review has no valid visit.
    only_rejected = make_household(helper=helper)
    history(only_rejected, months_back(6)[1:])
    history(only_rejected, months_back(6)[:1], review_status="rejected")
    # A rejected or corrected bad visit does not spoil a month with a good one.
    spoiled = make_household(helper=helper)
    history(spoiled, months_back(6))
    make_visit(spoiled, helper, visited_at=mid(months_back(6)[4], 20),
               answers=ok_answers(housing_status="problem"), per_capita_income=Decimal("100"),
               review_status="rejected")
    make_visit(spoiled, helper, visited_at=mid(months_back(6)[5], 20),
               answers=ok_answers(income_status="problem"), per_capita_income=Decimal("100"),
               superseded=True)
    result = exits.evaluate(Household.id.in_([only_rejected.id, spoiled.id]))
    assert not result[only_rejected.id].eligible
    assert result[spoiled.id].eligible


def test_the_current_month_is_not_part_of_the_window(app, make_household, helper, history,
                                                     make_visit):
    household = make_household(helper=helper)
    history(household, months_back(6))
    make_visit(household, helper, answers=ok_answers(medical_status="problem"),
               per_capita_income=Decimal("10"))  # an hour ago: this month
    assert evaluate(household).eligible


def test_n_comes_from_the_countys_policy(app, world, make_user, make_household, helper,
                                         history):
    row = _db.session.scalar(sa.select(PolicySettings).where(
        PolicySettings.place_id == world.county.id))
    row.exit_months = 8
    row.dibao_line = Decimal("700")
    # 卧龙区 has no settings row at all: the defaults (6 months, 630 yuan) apply.
    _db.session.execute(sa.delete(PolicySettings).where(
        PolicySettings.place_id == world.county_b.id))
    _db.session.commit()
    here = make_household(helper=helper)
    history(here, months_back(6), income="800")
    other_helper = make_user("helper", place=world.community_b)
    there = make_household(place=world.community_b, helper=other_helper)
    history(there, months_back(6), income="650")  # above 卧龙区's default 630
    at_default_line = make_household(place=world.community_b, helper=other_helper)
    history(at_default_line, months_back(6), income="630")
    result = exits.evaluate(sa.true())
    assert not result[at_default_line.id].eligible
    assert [m.month for m in result[here.id].months] == months_back(8)
    assert not result[here.id].eligible
    assert result[there.id].eligible
    history(here, months_back(8)[:2], income="800")
    assert evaluate(here).eligible
    # The county's own line applies: 680 is below 宛城区's 700.
    history(here, months_back(8)[:1], income="680")
    assert not evaluate(here).eligible


def test_only_enrolled_households_are_evaluated(app, make_household, helper, history):
    watched = make_household(status="watch")
    history(watched, months_back(6))
    assert exits.evaluate(Household.id == watched.id) == {}


def test_a_whole_county_takes_a_fixed_number_of_queries(app, world, make_household, helper,
                                                        history):
    from sqlalchemy import event

    def count_queries(n_households: int) -> int:
        for _ in range(n_households):
            history(make_household(helper=helper), months_back(6))
        seen: list[str] = []
        county_id = world.county.id

        def listener(conn, cursor, statement, *args):
            seen.append(statement)

        engine = _db.engine
        event.listen(engine, "before_cursor_execute", listener)
        try:
            _db.session.expire_all()
            result = exits.evaluate(Household.county_id == county_id)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert all(ev.eligible for ev in result.values())
        return len(seen)

    small = count_queries(2)
    large = count_queries(20)
    assert small == large <= 3


# ---------------------------------------------------------------- the flow

@pytest.fixture
def eligible_household(make_household, helper, history, world):
    household = make_household(helper=helper, assigned_on=date(2024, 1, 1),
                               enrolled_on=date(2024, 1, 1), head_name="钱平安",
                               head_id_index="blind-index-1")
    measure = Measure(county_id=None, area="income", name="城乡最低生活保障金", unit="元/月")
    _db.session.add(measure)
    _db.session.add(PlanMeasure(household=household, measure=measure, amount=Decimal("400"),
                                start_date=date(2024, 1, 1)))
    _db.session.commit()
    history(household, months_back(6))
    return household


def audit(action: str) -> list[AuditEvent]:
    return list(_db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_propose_and_approve_records_the_exit(client, auth, officer, helper,
                                              eligible_household):
    household = eligible_household
    version = household.version
    today = today_local()
    auth.login(helper)
    first = client.get("/api/sync/v1/pull").get_json()
    assert [h["id"] for h in first["households"]] == [str(household.id)]
    auth.logout()

    auth.login(officer)
    page = client.get("/manage/exit").get_data(as_text=True)
    assert "钱平安" in page and "符合退出条件的帮扶户" in page
    proposed = client.post(f"/manage/exit/households/{household.id}/propose",
                           data={"opinion": "收入稳定，六项均正常"})
    assert proposed.status_code == 302
    case = _db.session.scalar(sa.select(Case))
    assert (case.kind, case.channel, case.stage, case.state) == (
        "exit", "territorial", "exit_review", "open")
    # Once proposed it leaves the eligible list and shows among open cases.
    page = client.get("/manage/exit").get_data(as_text=True)
    assert "待县级审核" in page
    assert exits.eligible(household_clause(officer)) == []

    decided = client.post(f"/manage/exit/cases/{case.id}/decide",
                          data={"decision": "approve", "opinion": "同意平稳退出"})
    assert decided.status_code == 302
    _db.session.expire_all()
    household = _db.session.get(Household, household.id)
    assert household.status == "exited" and household.exited_on == today
    assert household.version > version
    assert household.file_no is not None and household.head.id_index == "blind-index-1"
    [assignment] = household.assignments
    assert assignment.end_date == today
    [pm] = household.plan
    assert pm.end_date == today
    case = _db.session.get(Case, case.id)
    assert case.state == "approved" and case.closed_at is not None
    steps = [(d.step, d.decision, d.opinion) for d in case.decisions]
    assert steps == [("exit_proposal", "approve", "收入稳定，六项均正常"),
                     ("exit_review", "approve", "同意平稳退出")]
    [event] = audit("case.decision")
    assert event.detail["decision"] == "approve" and event.detail["exited_on"] == \
        today.isoformat()
    shown = client.get(f"/manage/exit/cases/{case.id}").get_data(as_text=True)
    assert "已同意退出" in shown and "同意平稳退出" in shown
    auth.logout()

    # The helper's phone drops the household at its next pull.
    auth.login(helper)
    after = client.get(f"/api/sync/v1/pull?since={first['cursor']}").get_json()
    assert after["removed"] == [str(household.id)]
    # From next month the household is no longer due a visit.
    next_month = add_months(current_month(), 1)
    assert compliance.totals(household_clause(officer), next_month).due == 0


def test_return_resubmit_and_reject(client, auth, officer, eligible_household):
    household = eligible_household
    auth.login(officer)
    client.post(f"/manage/exit/households/{household.id}/propose", data={})
    case = _db.session.scalar(sa.select(Case))
    no_reason = client.post(f"/manage/exit/cases/{case.id}/decide", data={"decision": "return"})
    assert no_reason.status_code == 422 and "请填写意见" in no_reason.get_data(as_text=True)
    returned = client.post(f"/manage/exit/cases/{case.id}/decide",
                           data={"decision": "return", "opinion": "请补充就业证明"})
    assert returned.status_code == 302
    _db.session.expire_all()
    assert _db.session.get(Case, case.id).stage == "exit_returned"
    # A returned case cannot be decided until resubmitted.
    early = client.post(f"/manage/exit/cases/{case.id}/decide",
                        data={"decision": "approve"})
    assert early.status_code == 422 and "不在待审核状态" in early.get_data(as_text=True)
    assert client.post(f"/manage/exit/cases/{case.id}/resubmit",
                       data={"opinion": ""}).status_code == 422
    assert client.post(f"/manage/exit/cases/{case.id}/resubmit",
                       data={"opinion": "已补充就业证明"}).status_code == 302
    rejected = client.post(f"/manage/exit/cases/{case.id}/decide",
                           data={"decision": "reject", "opinion": "收入来源尚不稳定"})
    assert rejected.status_code == 302
    _db.session.expire_all()
    case = _db.session.get(Case, case.id)
    assert case.state == "rejected"
    assert [(d.step, d.decision) for d in case.decisions] == [
        ("exit_proposal", "approve"), ("exit_review", "return"),
        ("exit_proposal", "approve"), ("exit_review", "reject")]
    assert _db.session.get(Household, household.id).status == "enrolled"
    assert [a.detail["decision"] for a in audit("case.decision")] == ["return", "reject"]
    # Still eligible, so it is listed again for a later proposal.
    assert [e.household_id for e in exits.eligible(household_clause(officer))] == [household.id]


def test_ineligible_or_duplicate_proposals_are_refused(client, auth, officer, helper,
                                                       make_household, history,
                                                       eligible_household):
    short = make_household(helper=helper)
    history(short, months_back(4))
    auth.login(officer)
    refused = client.post(f"/manage/exit/households/{short.id}/propose", data={})
    assert refused.status_code == 422
    assert "该户目前不符合平稳退出条件" in refused.get_data(as_text=True)
    assert _db.session.scalar(sa.select(sa.func.count(Case.id))) == 0
    assert client.post(f"/manage/exit/households/{eligible_household.id}/propose",
                       data={}).status_code == 302
    again = client.post(f"/manage/exit/households/{eligible_household.id}/propose", data={})
    assert again.status_code == 422 and "已有待审核的退出申请" in again.get_data(as_text=True)
    assert _db.session.scalar(sa.select(sa.func.count(Case.id))) == 1


def test_approval_rechecks_eligibility(client, auth, officer, helper, make_visit,
                                       eligible_household):
    household = eligible_household
    auth.login(officer)
    client.post(f"/manage/exit/households/{household.id}/propose", data={})
    case = _db.session.scalar(sa.select(Case))
    # A late-synced visit reveals a problem in the window.
    make_visit(household, helper, visited_at=mid(months_back(6)[3], 27),
               answers=ok_answers(employment_status="problem"),
               per_capita_income=Decimal("900"))
    page = client.get(f"/manage/exit/cases/{case.id}").get_data(as_text=True)
    assert "目前不符合条件" in page
    response = client.post(f"/manage/exit/cases/{case.id}/decide",
                           data={"decision": "approve"})
    assert response.status_code == 422 and "就业" in response.get_data(as_text=True)
    _db.session.expire_all()
    assert _db.session.get(Household, household.id).status == "enrolled"
    assert _db.session.get(Case, case.id).state == "open"
    assert _db.session.scalar(sa.select(sa.func.count(ReviewDecision.id)).where(
        ReviewDecision.step == "exit_review")) == 0


def test_bad_decision_is_refused(client, auth, officer, eligible_household):
    auth.login(officer)
    client.post(f"/manage/exit/households/{eligible_household.id}/propose", data={})
    case = _db.session.scalar(sa.select(Case))
    for data, message in (({"decision": "maybe"}, "请选择审核结论"),
                          ({"decision": "reject"}, "请填写意见"),
                          ({"decision": "approve", "opinion": "长" * 1001}, "意见不能超过")):
        response = client.post(f"/manage/exit/cases/{case.id}/decide", data=data)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    _db.session.expire_all()
    assert _db.session.get(Case, case.id).state == "open"


def test_exit_ends_a_scheduled_handover_too(app, world, officer, make_user,
                                            eligible_household):
    household = eligible_household
    successor = make_user("helper")
    _db.session.add(Assignment(household_id=household.id, helper_id=successor.id,
                               start_date=today_local() + timedelta(days=10)))
    household.assignments[0].end_date = today_local() + timedelta(days=9)
    _db.session.commit()
    case = exits.propose(household, officer, {})
    exits.decide(case, officer, {"decision": "approve"})
    _db.session.commit()
    _db.session.expire_all()
    rows = _db.session.get(Household, household.id).assignments
    assert [(a.start_date, a.end_date) for a in rows] == [(date(2024, 1, 1), today_local())]


def test_viewers_and_scope(client, auth, world, make_user, officer, eligible_household):
    household = eligible_household
    auth.login(officer)
    client.post(f"/manage/exit/households/{household.id}/propose", data={})
    case = _db.session.scalar(sa.select(Case))
    auth.logout()

    auth.login(make_user("street_reviewer"))
    page = client.get("/manage/exit")
    assert page.status_code == 200 and "提出退出" not in page.get_data(as_text=True)
    assert client.get(f"/manage/exit/cases/{case.id}").status_code == 200
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "approve"}).status_code == 404
    auth.logout()

    auth.login(make_user("street_reviewer", place=world.street_2))
    assert client.get(f"/manage/exit/cases/{case.id}").status_code == 404
    auth.logout()

    auth.login(make_user("county_officer", place=world.county_b))
    assert client.get(f"/manage/exit/cases/{case.id}").status_code == 404
    assert client.post(f"/manage/exit/cases/{case.id}/decide",
                       data={"decision": "approve"}).status_code == 404
    assert client.post(f"/manage/exit/households/{household.id}/propose",
                       data={}).status_code == 404
    auth.logout()

    auth.login(make_user("city_supervisor"))
    page = client.get(f"/manage/exit?county={world.county.id}").get_data(as_text=True)
    assert "待县级审核" in page and "钱平安" in page
    assert client.get(f"/manage/exit/cases/{case.id}").status_code == 200
    auth.logout()

    auth.login(make_user("helper"))
    assert client.get("/manage/exit").status_code == 404
    assert client.get(f"/manage/exit/cases/{case.id}").status_code == 404

"""Exit (平稳退出): eligibility computed on constructed visit histories. The routes, the chain
and the exit's effects are in test_exit_chain.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households.management import exit as exits
from fieldwork.households.models import (
    Household,
    Measure,
    PlanMeasure,
)
from fieldwork.places.models import DibaoStandard, PolicySettings
from fieldwork.timeutil import add_months, current_month, month_last_day

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
    assert result[at_line.id].months[5].not_above_standard
    assert result[above.id].eligible


def test_each_month_is_measured_against_the_standard_in_force(app, world, make_household,
                                                               helper, history):
    """680 a month is above the old 630 but not above the new 700 that took effect mid-way
    through the window: the months under 700 fail, the others pass."""
    window = months_back(6)
    raised = month_last_day(window[3]).replace(day=15)  # mid-month: counts for the month
    _db.session.add(DibaoStandard(place_id=world.county.id, amount=Decimal("700"),
                                  effective_from=raised))
    _db.session.commit()
    between = make_household(helper=helper)
    history(between, window, income="680")
    above = make_household(helper=helper)
    history(above, window, income="720")
    result = exits.evaluate(Household.id.in_([between.id, above.id]))
    ev = result[between.id]
    assert [m.standard for m in ev.months] == [Decimal("630")] * 3 + [Decimal("700")] * 3
    assert [m.ok for m in ev.months] == [True] * 3 + [False] * 3
    assert not ev.eligible
    assert "人均收入未高于当月城镇低保标准 700.00 元（最低 680.00 元）" in ev.reasons[0]
    assert result[above.id].eligible
    assert exits.eligible(Household.county_id == world.county.id) == [result[above.id]]


def test_a_month_without_a_standard_cannot_count(app, world, make_household, helper, history):
    _db.session.execute(sa.delete(DibaoStandard).where(
        DibaoStandard.place_id == world.county.id))
    window = months_back(6)
    # Recorded only from the second month of the window: the first has no standard.
    _db.session.add(DibaoStandard(place_id=world.county.id, amount=Decimal("630"),
                                  effective_from=month_last_day(window[1])))
    _db.session.commit()
    household = make_household(helper=helper)
    history(household, window)
    ev = evaluate(household)
    assert not ev.eligible
    assert ev.months[0].standard is None and ev.months[1].standard == Decimal("630")
    assert ev.reasons == [f"{window[0] // 100}年{window[0] % 100}月 尚无适用的城镇低保标准"
                          "（请在政策参数中补录）"]


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
    _db.session.add(DibaoStandard(place_id=world.county.id, amount=Decimal("700"),
                                  effective_from=date(2021, 1, 1)))
    # 卧龙区 has no settings row at all: the default 6 months applies (its standard is 630).
    _db.session.execute(sa.delete(PolicySettings).where(
        PolicySettings.place_id == world.county_b.id))
    _db.session.commit()
    here = make_household(helper=helper)
    history(here, months_back(6), income="800")
    other_helper = make_user("helper", place=world.community_b)
    there = make_household(place=world.community_b, helper=other_helper)
    history(there, months_back(6), income="650")  # above 卧龙区's 630
    at_line = make_household(place=world.community_b, helper=other_helper)
    history(at_line, months_back(6), income="630")
    result = exits.evaluate(sa.true())
    assert not result[at_line.id].eligible
    assert [m.month for m in result[here.id].months] == months_back(8)
    assert not result[here.id].eligible
    assert result[there.id].eligible
    history(here, months_back(8)[:2], income="800")
    assert evaluate(here).eligible
    # The county's own standard applies: 680 is below 宛城区's 700.
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



"""Enrolment (建档): the helper and measures checked, plan amounts read as on the plan page,
file numbers sequential and retried."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.households.intake import (
    enrolment,
    steps,
)
from fieldwork.households.management import measures as catalogue
from fieldwork.households.models import (
    Assignment,
    Case,
    Measure,
    PlanMeasure,
)
from fieldwork.records import parse_money

from .conftest import TODAY, in_publicity, plan, to_publicity_end


def test_enrolment_checks_the_helper_and_the_measures(world, people, measures, make_user):
    case = in_publicity(world, people)
    to_publicity_end(case)
    inactive = make_user("helper", active=False)
    for helper_id in (None, people.helper_b.id, people.street.id, inactive.id):
        with pytest.raises(FormError, match="帮扶责任人"):
            enrolment.enrol(people.county, case, helper_id=helper_id, items=plan(measures))
        _db.session.rollback()
    with pytest.raises(FormError, match="至少选择一项"):
        enrolment.enrol(people.county, case, helper_id=people.helper.id, items=[])
    _db.session.rollback()
    other = Measure(county_id=world.county_b.id, area="income", name="卧龙区措施")
    _db.session.add(other)
    _db.session.commit()
    for bad in (measures[2].id, other.id):
        with pytest.raises(FormError, match="措施无效"):
            enrolment.enrol(people.county, case, helper_id=people.helper.id,
                     items=[enrolment.PlanItem(bad, None, TODAY)])
        _db.session.rollback()
    with pytest.raises(FormError) as refused:
        enrolment.enrol(people.county_b, case, helper_id=people.helper.id, items=plan(measures))
    assert refused.value.status == 403
    _db.session.rollback()
    assert _db.session.get(Case, case.id).stage == steps.PUBLICITY
    assert _db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 0
    assert _db.session.scalar(sa.select(sa.func.count(PlanMeasure.id))) == 0


def test_parse_plan_reads_amounts_and_dates():
    items = enrolment.parse_plan({"amount_3": "120.5", "start_3": "2026-03-01", "amount_4": ""},
                          ["3", "4"], today=date(2026, 2, 1))
    assert items == [enrolment.PlanItem(3, Decimal("120.5"), date(2026, 3, 1)),
                     enrolment.PlanItem(4, None, date(2026, 2, 1))]
    with pytest.raises(FormError) as exc:
        enrolment.parse_plan({"amount_3": "-1", "start_4": "2026-13-01"}, ["3", "4", "x"])
    assert set(exc.value.errors) == {"amount_3", "start_4", "measures"}


@pytest.mark.parametrize(("raw", "amount"), [("1,200", "1200.00"), ("12.345", "12.35")])
def test_enrolment_reads_an_amount_as_the_plan_page_does(app, raw, amount):
    """The two plan-amount parsers disagreed here: enrolment read amounts with Decimal(), so it
    refused "1,200" and kept "12.345", while the plan page and the catalogue (parse_money)
    took 1200.00 and rounded to 12.35. Now every plan form reads an amount one way."""
    [item] = enrolment.parse_plan({"amount_3": raw}, ["3"], today=date(2026, 2, 1))
    errors: dict[str, str] = {}
    assert str(item.amount) == amount
    assert catalogue.parse_amount(raw, errors) == item.amount == parse_money(raw)
    assert errors == {}


# ---------------------------------------------------------------- file numbers

def test_file_numbers_are_sequential_per_county_and_year(world, people, measures,
                                                          make_household):
    make_household(file_no=f"411302-{TODAY.year}-00041")
    make_household(file_no=f"411302-{TODAY.year - 1}-00900")
    numbers = []
    for n in range(3):
        case = in_publicity(world, people, head_name=f"户主{n}", id_number=None,
                            address=f"建设路{n}号")
        to_publicity_end(case)
        enrolment.enrol(people.county, case, helper_id=people.helper.id, items=plan(measures))
        _db.session.commit()
        numbers.append(case.household.file_no)
    assert numbers == [f"411302-{TODAY.year}-000{n}" for n in (42, 43, 44)]

    assert enrolment.next_file_no(world.county_b, TODAY.year) == f"411303-{TODAY.year}-00001"


def test_a_file_number_taken_meanwhile_is_retried(world, people, measures, make_household,
                                                  monkeypatch):
    case = in_publicity(world, people)
    to_publicity_end(case)
    taken = make_household(file_no=f"411302-{TODAY.year}-00001").file_no
    real = enrolment.next_file_no
    calls = []

    def stale_then_real(county, year):
        calls.append(1)
        return taken if len(calls) == 1 else real(county, year)

    monkeypatch.setattr(enrolment, "next_file_no", stale_then_real)
    enrolment.enrol(people.county, case, helper_id=people.helper.id, items=plan(measures))
    _db.session.commit()
    assert len(calls) == 2
    assert case.household.file_no == f"411302-{TODAY.year}-00002"
    assert case.household.status == "enrolled" and len(case.household.plan) == 2




def test_two_enrolments_at_once_get_different_file_numbers(app, world, people, measures,
                                                           monkeypatch):
    if _db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    cases = [in_publicity(world, people, head_name=f"并发{n}", id_number=None,
                          address=f"并发路{n}号") for n in range(2)]
    for case in cases:
        to_publicity_end(case)
    ids = [c.id for c in cases]
    county_id, helper_id = people.county.id, people.helper.id
    real = enrolment.next_file_no
    barrier = threading.Barrier(2, timeout=20)
    local = threading.local()

    calls = []

    def both_read_first(county, year):
        number = real(county, year)
        calls.append(number)
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()  # both have read the same max before either writes
        return number

    monkeypatch.setattr(enrolment, "next_file_no", both_read_first)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def enrol(case_id: int) -> None:
        from fieldwork.accounts.models import User

        with app.app_context():
            try:
                case = _db.session.get(Case, case_id)
                hh = enrolment.enrol(_db.session.get(User, county_id), case, helper_id=helper_id,
                              items=plan(measures))
                _db.session.commit()
                results[case_id] = hh.file_no
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=enrol, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(results.values()) == [f"411302-{TODAY.year}-00001",
                                        f"411302-{TODAY.year}-00002"]
    # Both read 00001; the one that lost the race read again and took 00002.
    assert calls == [f"411302-{TODAY.year}-00001"] * 2 + [f"411302-{TODAY.year}-00002"]

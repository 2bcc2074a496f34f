"""Enrolment checks each plan amount against the measure's standard (issue 14 point 4)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.households.intake import enrolment
from fieldwork.households.models import Measure, PlanMeasure

from .conftest import TODAY, in_publicity, to_publicity_end


def test_enrolment_refuses_an_amount_above_the_cap_and_defaults_by_form(world, people,
                                                                        measures):
    loan = Measure(county_id=None, area="employment", department="人社", name="创业担保贷款",
                   amount_kind="cap", amount=Decimal("200000"), unit="元")
    _db.session.add(loan)
    _db.session.commit()
    case = in_publicity(world, people)
    to_publicity_end(case)
    with pytest.raises(FormError, match="金额不能超过 200000 元"):
        enrolment.enrol(people.county, case, helper_id=people.helper.id,
                        items=[enrolment.PlanItem(loan.id, Decimal("300000"), TODAY)])
    _db.session.rollback()
    assert _db.session.scalar(sa.select(sa.func.count(PlanMeasure.id))) == 0
    enrolment.enrol(people.county, case, helper_id=people.helper.id,
                    items=[enrolment.PlanItem(loan.id, None, TODAY),
                           enrolment.PlanItem(measures[0].id, None, TODAY)])
    _db.session.commit()
    amounts = {pm.measure.name: pm.amount for pm in _db.session.scalars(sa.select(PlanMeasure))}
    # a cap is no default; a row with an amount and no form is a fixed amount
    assert amounts == {"创业担保贷款": None, "城镇低保": Decimal("630")}

"""Publicity (公示): objections block enrolment until resolved; upheld ones return or reject."""

from __future__ import annotations

import pytest

from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.households.intake import (
    enrolment,
    publicity,
    steps,
)
from fieldwork.households.models import (
    Objection,
)

from .conftest import audit_actions, decide, in_publicity, plan, to_publicity_end

# ---------------------------------------------------------------- publicity





def test_an_open_objection_blocks_enrolment_until_dismissed(world, people, measures):
    case = in_publicity(world, people)
    to_publicity_end(case)
    with pytest.raises(FormError) as refused:
        publicity.record_objection(people.street, case, "有车")
    assert refused.value.status == 403
    _db.session.rollback()
    with pytest.raises(FormError, match="异议内容"):
        publicity.record_objection(people.county, case, " ")
    _db.session.rollback()
    objection = publicity.record_objection(people.county, case, "其子有营运车辆", raised_by="邻居")
    _db.session.commit()
    assert publicity.enrol_blockers(case) == ["还有 1 条异议未处理"]
    with pytest.raises(FormError, match="异议"):
        enrolment.enrol(people.county, case, helper_id=people.helper.id, items=plan(measures))
    _db.session.rollback()
    with pytest.raises(FormError, match="处理意见"):
        publicity.resolve_objection(people.county, objection, "dismiss", "")
    _db.session.rollback()
    publicity.resolve_objection(people.county, objection, "dismiss", "经核实车辆已于去年转让")
    _db.session.commit()
    assert objection.upheld is False and publicity.enrol_blockers(case) == []
    enrolment.enrol(people.county, case, helper_id=people.helper.id, items=plan(measures))
    _db.session.commit()
    assert case.household.status == "enrolled"
    assert "case.objection" in audit_actions("case", case.id)


def test_an_upheld_objection_returns_or_rejects(world, people):
    case = in_publicity(world, people)
    o = publicity.record_objection(people.county, case, "家中有商铺出租")
    _db.session.commit()
    publicity.resolve_objection(people.county, o, "return", "需重新核查收入")
    _db.session.commit()
    assert (case.stage, case.publicity_ends_on, case.household.status) == (
        steps.COUNTY_CONFIRM, None, "reviewing")
    assert (case.decisions[-1].step, case.decisions[-1].decision) == (steps.PUBLICITY, "return")
    with pytest.raises(FormError) as refused:
        publicity.resolve_objection(people.county, o, "dismiss", "again")
    assert refused.value.status == 409
    _db.session.rollback()

    decide(people.county, case, "approve", "重新核查后同意")
    assert case.stage == steps.PUBLICITY
    # The upheld objection of the earlier publicity does not block this one.
    to_publicity_end(case)
    assert publicity.enrol_blockers(case) == []
    o2 = publicity.record_objection(people.county, case, "仍有商铺")
    _db.session.commit()
    publicity.resolve_objection(people.county, o2, "reject", "核实确有租金收入")
    _db.session.commit()
    assert (case.state, case.household.status) == ("rejected", "rejected")


def test_an_upheld_objection_of_this_publicity_blocks_enrolment(world, people):
    case = in_publicity(world, people)
    to_publicity_end(case)
    _db.session.add(Objection(case_id=case.id, text="x", recorded_by_id=people.county.id,
                              upheld=True, resolution="成立"))
    _db.session.commit()
    assert publicity.enrol_blockers(case) == ["公示期内有成立的异议"]

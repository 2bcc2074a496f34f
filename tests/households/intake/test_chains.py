"""The review chains as the services enforce them: every channel from first report to
enrolment, returns and rejections, who may act where, stale forms."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.households.intake import (
    cases,
    decisions,
    enrolment,
    publicity,
    queues,
    reports,
    steps,
)
from fieldwork.households.models import (
    Case,
)
from fieldwork.places.models import PolicySettings
from fieldwork.privacy.service import id_blind_index, reveal_id

from .conftest import ID_2, TODAY, audit_actions, decide, discovery, entry, plan, to_publicity_end

# ---------------------------------------------------------------- territorial, from discovery

def test_discovery_report_walks_the_territorial_chain_to_enrolment(world, people, measures):
    policy = _db.session.scalar(sa.select(PolicySettings).where(
        PolicySettings.place_id == world.county.id))
    policy.publicity_days = 5
    _db.session.commit()
    report = discovery(people.community, world.community)

    case = reports.open_case_from_report(people.community, report, category="below_dibao")
    _db.session.commit()
    hh = case.household
    # Everything the field saw is copied; the ID stays encrypted, the report stays linked.
    # The reported size (2) is what the reporter said: the file counts its members, the
    # head first (one person, one ID); the others are added on the file in review.
    assert (hh.head_name, hh.address, hh.phone, hh.members_count) == (
        "孙秀英", "东关街道和平路12号", "13837700002", 1)
    assert hh.causes == ["disability", "illness"] and hh.category == "below_dibao"
    assert reveal_id(hh.head.id_enc) == ID_2 and hh.head.id_index == id_blind_index(ID_2)
    assert hh.head.id_mask == report.id_mask and [m.relation for m in hh.members] == ["self"]
    assert (hh.ref_lat, hh.ref_lon, hh.ref_source, hh.ref_confirmed) == (
        32.9951, 112.5412, "discovery", False)
    assert hh.status == "reported" and hh.place_id == world.community.id
    assert (case.channel, case.stage, case.source, case.discovery_id) == (
        "territorial", steps.COMMUNITY_REVIEW, "community", report.id)
    assert (report.status, report.household_id) == ("opened", hh.id)

    decide(people.community, case, "approve", "情况属实")
    assert case.stage == steps.STREET_REVIEW and hh.status == "reviewing"
    with pytest.raises(FormError, match="初步救助方案"):
        decisions.decide(people.street, case, "approve", "")
    _db.session.rollback()
    decide(people.street, case, "approve", "同意", draft_plan="申请城镇低保；协调公益性岗位")
    assert case.stage == steps.COUNTY_CONFIRM and case.draft_plan.startswith("申请城镇低保")
    decide(people.county, case, "approve", "综合审核同意")
    assert case.stage == steps.PUBLICITY and hh.status == "publicity"
    assert case.publicity_ends_on == TODAY + timedelta(days=5)

    # Publicity blocks enrolment until it has ended.
    assert publicity.enrol_blockers(case)
    with pytest.raises(FormError, match="公示期"):
        enrolment.enrol(people.county, case, helper_id=people.helper.id, items=plan(measures))
    _db.session.rollback()
    case.publicity_ends_on = TODAY
    _db.session.commit()
    assert publicity.enrol_blockers(case), "the last day of publicity is still publicity"
    to_publicity_end(case)
    version = hh.version
    enrolment.enrol(people.county, case, helper_id=people.helper.id, items=plan(measures))
    _db.session.commit()

    assert hh.status == "enrolled" and hh.enrolled_on == TODAY and hh.version == version + 1
    assert hh.file_no == f"411302-{TODAY.year}-00001"
    assert (case.state, case.stage) == ("approved", steps.ENROLLED)
    [assignment] = hh.assignments
    assert (assignment.helper_id, assignment.start_date, assignment.end_date,
            assignment.assigned_by_id) == (people.helper.id, TODAY, None, people.county.id)
    got = {(pm.measure.name, pm.amount, pm.start_date) for pm in hh.plan}
    assert got == {("城镇低保", Decimal("630.00"), TODAY),
                   ("公益性岗位", Decimal("1800.00"), TODAY)}
    trail = [(d.step, d.decision, d.reviewer_id) for d in case.decisions]
    assert trail == [(steps.COMMUNITY_REVIEW, "approve", people.community.id),
                     (steps.STREET_REVIEW, "approve", people.street.id),
                     (steps.COUNTY_CONFIRM, "approve", people.county.id),
                     (steps.PUBLICITY, "approve", people.county.id)]
    assert audit_actions("case", case.id) == ["case.open"] + ["case.decision"] * 3
    assert audit_actions("household", hh.id) == ["household.enrol"]
    assert audit_actions("discovery", report.id) == ["discovery.opened"]


def test_returns_go_back_one_step_and_to_the_entrant_from_the_first(world, people):
    case = reports.open_case_from_report(people.community, discovery(people.community,
                                                                world.community),
                                    category="edge")
    _db.session.commit()
    decide(people.community, case)
    with pytest.raises(FormError, match="填写意见"):
        decisions.decide(people.street, case, "return", "  ")
    _db.session.rollback()
    decide(people.street, case, "return", "缺少收入证明")
    assert case.stage == steps.COMMUNITY_REVIEW and not steps.awaiting_correction(case)
    assert [r.case.id for r in queues.queue(people.community)] == [case.id]

    # Returned at its first step: back to whoever entered it, the stage stays.
    decide(people.community, case, "return", "请补充户主身份证复印件")
    assert case.stage == steps.COMMUNITY_REVIEW and steps.awaiting_correction(case)
    assert queues.queue(people.community) == []
    assert [r.case.id for r in queues.returned_for_correction(people.community)] == [case.id]
    with pytest.raises(FormError, match="退回补正"):
        decisions.decide(people.community, case, "approve")
    _db.session.rollback()
    assert not steps.may_correct(people.street, case)

    corrected = entry(world, head_name="孙秀英", id_number=None, income=Decimal("1500"))
    cases.correct_and_resubmit(people.community, case, corrected)
    _db.session.commit()
    assert not steps.awaiting_correction(case) and case.household.members_count == 1
    assert case.household.per_capita_income == Decimal("1500.00")
    assert reveal_id(case.household.head.id_enc) == ID_2, "a blank ID keeps the one on file"
    assert [r.case.id for r in queues.queue(people.community)] == [case.id]
    decide(people.community, case)
    decide(people.street, case, draft_plan="临时救助")
    decide(people.county, case, "return", "方案需细化")
    assert case.stage == steps.STREET_REVIEW
    assert [(d.step, d.decision) for d in case.decisions][-1] == (steps.COUNTY_CONFIRM, "return")
    assert "case.resubmit" in audit_actions("case", case.id)


@pytest.mark.parametrize("step", [steps.COMMUNITY_REVIEW, steps.STREET_REVIEW,
                                  steps.COUNTY_CONFIRM])
def test_rejection_closes_the_case_and_watches_the_household(world, people, step):
    case = cases.enter_application(people.community, entry(world))
    _db.session.commit()
    reviewers = {steps.COMMUNITY_REVIEW: people.community, steps.STREET_REVIEW: people.street,
                 steps.COUNTY_CONFIRM: people.county}
    while case.stage != step:
        decide(reviewers[case.stage], case, draft_plan="低保")
    with pytest.raises(FormError):
        decisions.decide(reviewers[step], case, "reject", "")
    _db.session.rollback()
    decide(reviewers[step], case, "reject", "家庭收入高于低保边缘标准")
    assert (case.state, case.stage, case.household.status) == ("rejected", step, "watch")
    assert case.closed_at is not None
    with pytest.raises(FormError) as refused:
        decisions.decide(reviewers[step], case, "approve")
    assert refused.value.status == 409


def test_each_territorial_step_refuses_the_wrong_role_and_place(world, people):
    case = cases.enter_application(people.community, entry(world))
    _db.session.commit()
    right = {steps.COMMUNITY_REVIEW: people.community, steps.STREET_REVIEW: people.street,
             steps.COUNTY_CONFIRM: people.county}
    everyone = [v for k, v in vars(people).items()]
    for step in (steps.COMMUNITY_REVIEW, steps.STREET_REVIEW, steps.COUNTY_CONFIRM):
        assert case.stage == step
        for user in everyone:
            if user is right[step]:
                continue
            assert not steps.may_decide(user, case), (step, user.username)
            with pytest.raises(FormError) as refused:
                decisions.decide(user, case, "approve", "", draft_plan="x")
            assert refused.value.status == 403
            _db.session.rollback()
        decide(right[step], case, draft_plan="低保")
    assert case.stage == steps.PUBLICITY


def test_a_stale_form_cannot_decide_twice(world, people):
    case = cases.enter_application(people.community, entry(world))
    _db.session.commit()
    decide(people.community, case)
    with pytest.raises(FormError) as refused:
        decisions.decide(people.community, case, "approve", expect_stage=steps.COMMUNITY_REVIEW)
    assert refused.value.status == 409
    _db.session.rollback()
    # Another reviewer moved the case after this one loaded it: compare-and-set refuses.
    _db.session.execute(sa.update(Case).where(Case.id == case.id).values(
        stage_since=case.stage_since + timedelta(seconds=1))
        .execution_options(synchronize_session=False))
    with pytest.raises(FormError) as refused:
        decisions.decide(people.street, case, "approve", draft_plan="x")
    assert refused.value.status == 409
    _db.session.rollback()
    assert len(_db.session.get(Case, case.id).decisions) == 1


# ---------------------------------------------------------------- county leads

@pytest.mark.parametrize("source", ["employer", "data_comparison"])
def test_county_leads_go_to_the_street_for_checking(world, people, measures, source):
    case = cases.enter_lead(people.county, entry(world, id_number=None), source=source,
                         organisation="南阳纺织厂" if source == "employer" else "市民政局比对")
    _db.session.commit()
    assert (case.channel, case.stage, case.source) == ("territorial", steps.STREET_REVIEW, source)
    assert [r.case.id for r in queues.queue(people.street)] == [case.id]
    assert queues.queue(people.community) == [] and queues.queue(people.street_2) == []
    with pytest.raises(FormError) as refused:
        decisions.decide(people.community, case, "approve")
    assert refused.value.status == 403
    _db.session.rollback()

    decide(people.street, case, "return", "核查地址不符")
    assert steps.awaiting_correction(case) and case.stage == steps.STREET_REVIEW
    assert [r.case.id for r in queues.returned_for_correction(people.county)] == [case.id]
    assert queues.returned_for_correction(people.street) == []
    assert not steps.may_correct(people.county_b, case)
    cases.correct_and_resubmit(people.county, case, entry(world, place=world.community_2,
                                                       id_number=None))
    _db.session.commit()
    assert case.household.place_id == world.community_2.id
    decide(people.street, case, "approve", "核查属实", draft_plan="临时救助")
    decide(people.county, case)
    to_publicity_end(case)
    enrolment.enrol(people.county, case, helper_id=people.helper.id, items=plan(measures)[:1])
    _db.session.commit()
    assert case.household.status == "enrolled"


def test_lead_needs_a_source_and_a_unit(world, people):
    with pytest.raises(FormError, match="来源"):
        cases.enter_lead(people.county, entry(world), source="rumour", organisation="x")
    with pytest.raises(FormError, match="报送单位"):
        cases.enter_lead(people.county, entry(world), source="employer", organisation=" ")
    with pytest.raises(FormError) as refused:
        cases.enter_lead(people.street, entry(world), source="employer", organisation="厂")
    assert refused.value.status == 403


# ---------------------------------------------------------------- departments and sectors

def test_department_screening_goes_to_the_county(world, people, measures):
    case = cases.enter_screening(people.commerce, entry(world), opinion="经初审，系本系统困难职工")
    _db.session.commit()
    assert (case.channel, case.stage, case.source, case.organisation) == (
        "departmental", steps.COUNTY_CONFIRM, "department", "商务局")
    [d] = case.decisions
    assert (d.step, d.decision, d.reviewer_id, d.opinion) == (
        steps.DEPARTMENT_REVIEW, "approve", people.commerce.id, "经初审，系本系统困难职工")
    assert [r.case.id for r in queues.queue(people.county)] == [case.id]

    decide(people.county, case, "return", "请补充劳动合同")
    assert case.stage == steps.DEPARTMENT_REVIEW
    assert [r.case.id for r in queues.queue(people.commerce)] == [case.id]
    for other in (people.civil, people.disabled, people.community, people.street,
                  people.union_b):
        assert not steps.may_decide(other, case)
    decide(people.commerce, case, "approve", "已补充")
    decide(people.county, case)
    to_publicity_end(case)
    enrolment.enrol(people.county, case, helper_id=people.helper.id, items=plan(measures))
    _db.session.commit()
    assert case.household.status == "enrolled"


def test_sector_certification_by_civil_affairs_disability_or_union(world, people):
    case = cases.enter_screening(people.disabled, entry(world), opinion="持残疾证，认定为困难对象")
    _db.session.commit()
    assert (case.channel, case.source) == ("sector", "sector")
    decide(people.county, case, "return", "认定依据不全")
    assert case.stage == steps.SECTOR_CERTIFY
    assert queues.queue(people.commerce) == [] and queues.queue(people.civil) == []
    with pytest.raises(FormError) as refused:
        decisions.decide(people.commerce, case, "approve")
    assert refused.value.status == 403
    _db.session.rollback()
    # From the first step a return goes back to the body itself for correction.
    decide(people.disabled, case, "return", "补充评残材料")
    assert steps.may_correct(people.disabled, case) and not steps.may_correct(people.civil, case)
    cases.correct_and_resubmit(people.disabled, case, entry(world, id_number=None))
    _db.session.commit()
    decide(people.disabled, case, "reject", "评残等级不符合")
    assert case.household.status == "watch"
    assert steps.department_channel(people.civil) == "sector"
    assert steps.department_channel(people.commerce) == "departmental"


def test_department_reviewer_without_a_body_cannot_enter(world, people, make_user):
    nobody = make_user("department_reviewer", place=world.county)
    with pytest.raises(FormError) as refused:
        cases.enter_screening(nobody, entry(world), opinion="x")
    assert refused.value.status == 403
    with pytest.raises(FormError, match="意见"):
        cases.enter_screening(people.commerce, entry(world), opinion="")

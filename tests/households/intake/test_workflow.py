"""The intake lifecycle as the service enforces it: every channel from first report to
enrolment, returns and rejections, who may act where, publicity and objections, file numbers."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.discovery.services import parse_discovery_record, record_discovery
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
from fieldwork.households.management import measures as catalogue
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Measure,
    Objection,
    PlanMeasure,
    ReviewDecision,
)
from fieldwork.places.models import PolicySettings
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import id_blind_index, reveal_id
from fieldwork.records import parse_money
from fieldwork.timeutil import today_local

TODAY = today_local()
ID_1 = make_test_id_number("411302", date(1970, 3, 8), 123)
ID_2 = make_test_id_number("411302", date(1982, 11, 2), 456)


@pytest.fixture
def people(world, make_user):
    """One user per role and place the chains need, plus their neighbours elsewhere."""
    return SimpleNamespace(
        community=make_user("community_worker", display_name="社区李"),
        community_2=make_user("community_worker", place=world.community_2),
        street=make_user("street_reviewer", display_name="街道王"),
        street_2=make_user("street_reviewer", place=world.street_2),
        street_b=make_user("street_reviewer", place=world.street_b),
        county=make_user("county_officer", display_name="县办刘"),
        county_b=make_user("county_officer", place=world.county_b),
        commerce=make_user("department_reviewer", place=world.county, organisation="商务局"),
        civil=make_user("department_reviewer", place=world.county, organisation="民政局"),
        disabled=make_user("department_reviewer", place=world.county, organisation="残联"),
        union_b=make_user("department_reviewer", place=world.county_b, organisation="工会"),
        helper=make_user("helper", display_name="帮扶张"),
        helper_b=make_user("helper", place=world.street_b),
        city=make_user("city_supervisor"),
    )


@pytest.fixture
def measures(app):
    rows = [Measure(county_id=None, area="income", department="民政", name="城镇低保",
                    amount=Decimal("630"), unit="元/月"),
            Measure(county_id=None, area="employment", department="人社", name="公益性岗位",
                    unit=""),
            Measure(county_id=None, area="housing", department="住建", name="停用措施",
                    active=False)]
    _db.session.add_all(rows)
    _db.session.commit()
    return rows


def entry(world, **over) -> cases.HouseholdEntry:
    values = dict(head_name="赵建国", address="东关街道建设路8号2单元301",
                  place=world.community, members_count=3, category="edge",
                  causes=["illness"], phone="13837700001", situation="户主重病，配偶无业",
                  id_number=ID_1)
    values.update(over)
    return cases.HouseholdEntry(**values)


def discovery(user, community, **over):
    raw = {"id": str(uuid.uuid4()), "region_id": community.id,
           "address": over.pop("address", "东关街道和平路12号"),
           "reason": "老两口无固定收入，房屋漏雨",
           "location": {"lat": 32.9951, "lon": 112.5412, "accuracy_m": 12, "source": "gps"},
           "answers": {"head_name": over.pop("head_name", "孙秀英"),
                       "id_number": over.pop("id_number", ID_2),
                       "contact_phone": "13837700002", "members_count": 2,
                       "category": "below_dibao", "causes": ["illness", "disability"]},
           "photos": []}
    raw.update(over)
    result = record_discovery(user, parse_discovery_record(raw, device_id="phone-1"))
    assert result.status == "created", result.errors
    _db.session.commit()
    return _db.session.get(DiscoveryReport, raw["id"])


def decide(user, case, decision="approve", opinion="", **kw):
    d = decisions.decide(user, case, decision, opinion, **kw)
    _db.session.commit()
    return d


def to_publicity_end(case, days_ago: int = 1) -> None:
    case.publicity_ends_on = TODAY - timedelta(days=days_ago)
    _db.session.commit()


def plan(measures, start=TODAY):
    return [enrolment.PlanItem(measures[0].id, None, start), enrolment.PlanItem(measures[1].id,
                                                                 Decimal("1800"), start)]


def audit_actions(target_type: str, target_id) -> list[str]:
    return list(_db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.target_type == target_type, AuditEvent.target_id == str(target_id))
        .order_by(AuditEvent.id)))


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
    assert (hh.head_name, hh.address, hh.phone, hh.members_count) == (
        "孙秀英", "东关街道和平路12号", "13837700002", 2)
    assert hh.causes == ["disability", "illness"] and hh.category == "below_dibao"
    assert reveal_id(hh.head_id_enc) == ID_2 and hh.head_id_index == id_blind_index(ID_2)
    assert hh.head_id_mask == report.id_mask
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

    corrected = entry(world, head_name="孙秀英", id_number=None, members_count=4)
    cases.correct_and_resubmit(people.community, case, corrected)
    _db.session.commit()
    assert not steps.awaiting_correction(case) and case.household.members_count == 4
    assert reveal_id(case.household.head_id_enc) == ID_2, "a blank ID keeps the one on file"
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


# ---------------------------------------------------------------- duplicates and re-entry

def test_an_id_already_in_the_programme_cannot_be_entered_again(world, people,
                                                                  make_household):
    from fieldwork.privacy.service import protect_id

    p = protect_id(ID_1)
    make_household(head_id_enc=p.enc, head_id_index=p.index, head_id_mask=p.mask)
    with pytest.raises(FormError, match="已在审核或帮扶中"):
        cases.enter_application(people.community, entry(world), confirm_new=True)


def test_similar_households_need_a_confirmation(world, people, make_household):
    make_household(head_name="赵建国", address="东关街道建设路8号2单元301", status="watch")
    with pytest.raises(cases.PossibleDuplicates) as exc:
        cases.enter_application(people.community, entry(world, id_number=None))
    assert exc.value.candidates[0]["why"] == ["similar_name_address"]
    _db.session.rollback()
    case = cases.enter_application(people.community, entry(world, id_number=None),
                                confirm_new=True)
    _db.session.commit()
    assert case.stage == steps.COMMUNITY_REVIEW


def test_a_report_about_a_registered_household_closes_without_a_new_one(world, people,
                                                                        make_household):
    known = make_household(head_name="孙秀英", address="东关街道和平路12号", helper=people.helper)
    report = discovery(people.community, world.community)
    assert [c["household_id"] for c in report.duplicate_candidates] == [known.id]
    with pytest.raises(cases.PossibleDuplicates):
        reports.open_case_from_report(people.street, report, category="edge")
    _db.session.rollback()
    with pytest.raises(FormError, match="正在审核或帮扶中"):
        reports.mark_report_same(people.street, report, known.id, reopen=True)
    _db.session.rollback()
    count = _db.session.scalar(sa.select(sa.func.count(Household.id)))
    assert reports.mark_report_same(people.street, report, known.id) is None
    _db.session.commit()
    assert (report.status, report.household_id) == ("duplicate", known.id)
    assert _db.session.scalar(sa.select(sa.func.count(Household.id))) == count
    assert queues.reports_waiting(people.community) == []
    with pytest.raises(FormError) as refused:
        reports.open_case_from_report(people.community, report, category="edge",
                                 confirm_new=True)
    assert refused.value.status == 409


def test_a_watched_household_reported_again_reenters_review(world, people, make_household):
    known = make_household(head_name="孙秀英", address="东关街道和平路12号", status="watch")
    report = discovery(people.community, world.community)
    case = reports.mark_report_same(people.community, report, known.id, reopen=True)
    _db.session.commit()
    assert (case.household_id, case.stage, case.discovery_id) == (
        known.id, steps.COMMUNITY_REVIEW, report.id)
    assert known.status == "reported" and report.status == "opened"


def test_a_second_report_of_the_same_household_finds_the_first_case(world, people):
    first = discovery(people.community, world.community)
    reports.open_case_from_report(people.community, first, category="edge")
    _db.session.commit()
    # Reported again by another worker before the first became a case: found now.
    second = discovery(people.street, world.community, id_number="")
    candidates = reports.report_candidates(second)
    assert [c["household_id"] for c in candidates] == [first.household_id]
    with pytest.raises(cases.PossibleDuplicates):
        reports.open_case_from_report(people.street, second, category="edge")


def test_only_reporters_of_the_place_open_a_report(world, people):
    report = discovery(people.community, world.community)
    for user in (people.community_2, people.street_2, people.county_b, people.helper,
                 people.commerce):
        assert not reports.may_open_report(user, report)
        with pytest.raises(FormError) as refused:
            reports.open_case_from_report(user, report, category="edge", confirm_new=True)
        assert refused.value.status == 403
        _db.session.rollback()
    assert reports.may_open_report(people.street, report) and reports.may_open_report(people.county,
                                                                            report)
    with pytest.raises(FormError, match="类别"):
        reports.open_case_from_report(people.community, report, category="")


# ---------------------------------------------------------------- publicity

def in_publicity(world, people, **kw) -> Case:
    case = cases.enter_application(people.community, entry(world, **kw))
    _db.session.commit()
    decide(people.community, case)
    decide(people.street, case, draft_plan="低保")
    decide(people.county, case)
    return case


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
    assert (case.state, case.household.status) == ("rejected", "watch")


def test_an_upheld_objection_of_this_publicity_blocks_enrolment(world, people):
    case = in_publicity(world, people)
    to_publicity_end(case)
    _db.session.add(Objection(case_id=case.id, text="x", recorded_by_id=people.county.id,
                              upheld=True, resolution="成立"))
    _db.session.commit()
    assert publicity.enrol_blockers(case) == ["公示期内有成立的异议"]


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


# ---------------------------------------------------------------- queues

def test_queues_are_per_role_and_place_and_oldest_first(world, people):
    first = cases.enter_application(people.community, entry(world, head_name="甲", id_number=None,
                                                         address="一号"))
    second = cases.enter_application(people.community, entry(world, head_name="乙",
                                                          id_number=None, address="二号"))
    _db.session.commit()
    first.stage_since = first.stage_since - timedelta(days=4)
    _db.session.commit()
    rows = queues.queue(people.community)
    assert [r.case.id for r in rows] == [first.id, second.id]
    assert [r.days_waiting for r in rows] == [4, 0]
    for other in (people.community_2, people.street, people.county, people.commerce,
                  people.helper, people.city):
        assert queues.queue(other) == []

    decide(people.community, second)
    assert [r.case.id for r in queues.queue(people.street)] == [second.id]
    assert queues.queue(people.street_2) == [] and queues.queue(people.street_b) == []
    decide(people.street, second, draft_plan="低保")
    assert [r.case.id for r in queues.queue(people.county)] == [second.id]
    assert queues.queue(people.county_b) == []
    decide(people.county, second)
    running, ready = queues.publicity_rows(people.county)
    assert [r.case.id for r in running] == [second.id] and ready == []
    to_publicity_end(second)
    running, ready = queues.publicity_rows(people.county)
    assert running == [] and [r.case.id for r in ready] == [second.id]
    assert queues.publicity_rows(people.county_b) == ([], [])


def test_new_reports_wait_in_their_communitys_and_streets_queues(world, people):
    report = discovery(people.community, world.community)
    assert queues.reports_waiting(people.community) == [report]
    assert queues.reports_waiting(people.street) == [report]
    for other in (people.community_2, people.street_2, people.county, people.county_b,
                  people.helper, people.commerce):
        assert queues.reports_waiting(other) == []
    lead = discovery(people.county, world.community_3, head_name="钱某", id_number="",
                     address="民主路1号")
    assert queues.reports_waiting(people.county) == [lead]
    case = reports.open_case_from_report(people.street_2, lead, category="edge")
    _db.session.commit()
    assert (case.source, case.stage) == ("employer", steps.STREET_REVIEW)
    assert queues.reports_waiting(people.county) == []


def test_case_decisions_keep_who_when_and_why(world, people):
    case = cases.enter_application(people.community, entry(world))
    _db.session.commit()
    decide(people.community, case, "approve", "经入户核实，情况属实")
    row = _db.session.scalar(sa.select(ReviewDecision).where(ReviewDecision.case_id == case.id))
    assert (row.reviewer.name, row.opinion, row.step) == ("社区李", "经入户核实，情况属实",
                                                          steps.COMMUNITY_REVIEW)
    assert row.decided_at is not None and row.decided_at.tzinfo is not None


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

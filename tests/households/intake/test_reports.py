"""Duplicates and re-entry: one ID in the programme once, similar households confirmed, reports
about registered households, and who may open a report."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.households.intake import (
    cases,
    queues,
    reports,
    steps,
)
from fieldwork.households.models import (
    Household,
)

from .conftest import ID_1, discovery, entry

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

"""The get_*_or_404 loaders of fieldwork/access/scope.py: each returns its object in the user's
scope and answers 404 (never a hint) for an unknown id or an object out of scope."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from werkzeug.exceptions import NotFound

from fieldwork.access import scope
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db as _db
from fieldwork.households.models import Case, Measure, Member, Objection, PlanMeasure
from fieldwork.photos.models import Photo

pytestmark = pytest.mark.usefixtures("fresh_g")


def add(*rows):
    _db.session.add_all(rows)
    _db.session.commit()
    return rows[0] if len(rows) == 1 else rows


@pytest.fixture
def people(make_user, world):
    """An officer of each county, and a helper of county A."""
    return (make_user("county_officer"), make_user("county_officer", place=world.county_b),
            make_user("helper"))


def test_member_in_scope_or_404(db, world, people, make_household):
    officer, other_officer, _ = people
    hh = make_household()
    member = add(Member(household_id=hh.id, name="成员甲"))
    assert scope.get_member_or_404(officer, member.id) is member
    with pytest.raises(NotFound):
        scope.get_member_or_404(other_officer, member.id)
    with pytest.raises(NotFound):
        scope.get_member_or_404(officer, member.id + 1000)


def test_photo_in_scope_or_404(db, world, people, make_household):
    officer, other_officer, helper = people
    hh = make_household()
    photo = add(Photo(id=str(uuid.uuid4()), household_id=hh.id, uploader_id=helper.id,
                      declared_sha256="0" * 64))
    assert scope.get_photo_or_404(officer, photo.id) is photo
    assert scope.get_photo_or_404(helper, photo.id) is photo  # the uploader's own
    with pytest.raises(NotFound):
        scope.get_photo_or_404(other_officer, photo.id)
    with pytest.raises(NotFound):
        scope.get_photo_or_404(officer, str(uuid.uuid4()))


def test_case_in_scope_and_of_the_kind_asked_or_404(db, world, people, make_household):
    officer, other_officer, _ = people
    hh = make_household()
    case = add(Case(household_id=hh.id, kind="exit", stage="county"))
    assert scope.get_case_or_404(officer, case.id) is case
    assert scope.get_case_or_404(officer, case.id, kind="exit") is case
    with pytest.raises(NotFound):
        scope.get_case_or_404(officer, case.id, kind="intake")
    with pytest.raises(NotFound):
        scope.get_case_or_404(other_officer, case.id)


def test_report_for_report_viewers_of_its_place_only(db, world, people, make_user):
    officer, other_officer, helper = people
    reporter = make_user("community_worker")
    report = add(DiscoveryReport(id=str(uuid.uuid4()), reporter_id=reporter.id,
                                 place_id=world.community.id, address="建设路1号"))
    assert scope.get_report_or_404(officer, report.id) is report
    assert scope.get_report_or_404(reporter, report.id) is report
    for outsider in (other_officer, helper):  # another county; a role that reads no reports
        with pytest.raises(NotFound):
            scope.get_report_or_404(outsider, report.id)
    with pytest.raises(NotFound):
        scope.get_report_or_404(officer, "x" * 37)


def test_objection_and_plan_entry_belong_to_their_parent_or_404(db, world, people,
                                                                make_household):
    officer, _, _ = people
    hh, other = make_household(), make_household()
    case, other_case = add(Case(household_id=hh.id, stage="county"),
                           Case(household_id=other.id, stage="county"))
    objection = add(Objection(case_id=case.id, text="有异议", recorded_by_id=officer.id))
    assert scope.get_objection_or_404(case, objection.id) is objection
    with pytest.raises(NotFound):
        scope.get_objection_or_404(other_case, objection.id)
    measure = add(Measure(area="income", name="低保"))
    entry = add(PlanMeasure(household_id=hh.id, measure_id=measure.id, start_date=date.today()))
    assert scope.get_plan_measure_or_404(hh, entry.id) is entry
    with pytest.raises(NotFound):
        scope.get_plan_measure_or_404(other, entry.id)


def test_measure_city_wide_or_of_the_county(db, world):
    city_wide, own, foreign = add(Measure(area="income", name="全市措施"),
                                  Measure(area="income", name="本县措施",
                                          county_id=world.county.id),
                                  Measure(area="income", name="外县措施",
                                          county_id=world.county_b.id))
    assert scope.get_measure_or_404(city_wide.id, world.county) is city_wide
    assert scope.get_measure_or_404(city_wide.id, None) is city_wide
    assert scope.get_measure_or_404(own.id, world.county) is own
    for county in (world.county, None):
        with pytest.raises(NotFound):
            scope.get_measure_or_404(foreign.id, county)


def test_county_within_the_users_place_or_404(db, world, people, make_user):
    officer, _, _ = people
    supervisor = make_user("city_supervisor")
    assert scope.get_county_or_404(supervisor, world.county_b.id) is world.county_b
    assert scope.get_county_or_404(officer, world.county.id) is world.county
    for user, place in ((officer, world.county_b), (supervisor, world.street),
                        (supervisor, world.city)):
        with pytest.raises(NotFound):
            scope.get_county_or_404(user, place.id)

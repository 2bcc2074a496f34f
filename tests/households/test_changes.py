"""The change history: every change recorded with before/after, who and why; changes the
policy gives to an office wait for it, and other roles may not confirm them."""

from __future__ import annotations

import pytest

from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.file_changes import CATEGORY, PHONE


def test_an_immediate_change_applies_and_keeps_the_value_before(make_user, make_household):
    worker = make_user("community_worker")
    hh = make_household(phone="13800000000")
    version = hh.version
    change = changes.propose(hh, PHONE.name, {"phone": "13900000000"}, user=worker,
                             reason="户主换号")
    db.session.commit()
    assert (hh.phone, change.state, change.before, change.after) == (
        "13900000000", "applied", {"phone": "13800000000"}, {"phone": "13900000000"})
    assert change.requested_by_id == worker.id and change.reason == "户主换号"
    assert hh.version == version + 1
    assert [c.id for c in changes.history(hh)] == [change.id]


def test_a_category_change_waits_for_the_county_and_a_street_may_not_confirm(
        make_user, make_household):
    worker, street = make_user("community_worker"), make_user("street_reviewer")
    county = make_user("county_officer")
    hh = make_household(category="below_dibao")
    change = changes.propose(hh, CATEGORY.name, {"category": "edge"}, user=worker,
                             reason="收入略高于低保线")
    db.session.commit()
    assert (change.state, hh.category, change.confirm_level) == ("pending", "below_dibao",
                                                                  "county")
    assert changes.pending_for([hh.id]) == {hh.id: [change]}
    with pytest.raises(FormError) as refused:
        changes.confirm(change, street)
    assert refused.value.status == 403 and "县级解困办" in refused.value.message
    assert (change.state, hh.category) == ("pending", "below_dibao")
    changes.confirm(change, county, "核实无误")
    db.session.commit()
    assert (change.state, hh.category, change.decided_by_id) == ("applied", "edge", county.id)
    with pytest.raises(FormError) as twice:
        changes.confirm(change, county)
    assert twice.value.status == 409


def test_the_county_records_a_category_change_directly_and_other_counties_may_not(
        make_user, make_household, world):
    other = make_user("county_officer", place=world.county_b)
    county = make_user("county_officer")
    hh = make_household(category="below_dibao")
    pending = changes.propose(hh, CATEGORY.name, {"category": "edge"},
                              user=make_user("community_worker"), reason="复核")
    with pytest.raises(FormError):
        changes.confirm(pending, other)
    changes.reject(pending, county, "收入证明不足")
    direct = changes.propose(hh, CATEGORY.name, {"category": "expenditure"}, user=county,
                             reason="大病支出")
    db.session.commit()
    assert (pending.state, direct.state, direct.decided_by_id, hh.category) == (
        "rejected", "applied", county.id, "expenditure")


def test_a_change_that_changes_nothing_and_a_missing_reason_are_refused(make_user,
                                                                        make_household):
    hh = make_household(phone="13800000000")
    with pytest.raises(FormError) as same:
        changes.propose(hh, PHONE.name, {"phone": "13800000000"},
                        user=make_user("county_officer"), reason="x")
    assert same.value.message == "没有任何改动"
    with pytest.raises(FormError) as blank:
        changes.parse_reason("  ")
    assert blank.value.errors == {"reason": "请填写变更原因"}
    with pytest.raises(FormError) as helper_office:
        changes.propose(hh, PHONE.name, {"phone": "1"}, user=make_user("city_supervisor"),
                        reason="x")
    assert helper_office.value.status == 403

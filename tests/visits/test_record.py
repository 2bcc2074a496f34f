"""Recording a visit: the survey schema, the record's shape, safe repeats, corrections, the
household file it updates and the reference point it may propose."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from fieldwork import records
from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.households import services as hs
from fieldwork.households.models import Assignment, Household, Measure, PlanMeasure
from fieldwork.photos.models import Photo
from fieldwork.places.coords import bd09_to_wgs84, distance_m, gcj02_to_wgs84, wgs84_to_gcj02
from fieldwork.records import RecordError
from fieldwork.timeutil import now_utc
from fieldwork.visits import form
from fieldwork.visits.models import Visit
from fieldwork.visits.services import confirm_reference, parse_visit_record, record_visit
from tests.factories import DIMS, answers, visit_record

CJK = re.compile(r"[\u4e00-\u9fff]")


def visit_raw(household, **over: Any) -> dict[str, Any]:
    return visit_record(household.id, **over)


def photo_decl() -> list[dict[str, Any]]:
    return [{"id": str(uuid.uuid4()), "sha256": "a" * 64, "bytes": 1000}]


def filed_raw(household, **over: Any) -> dict[str, Any]:
    """A visit with nothing doubtful about it (a photo declared): its answers enter the
    household file at once."""
    over.setdefault("photos", photo_decl())
    return visit_raw(household, **over)


def push(user, raw, *, now=None):
    result = record_visit(user, parse_visit_record(raw, device_id="phone-1"), now=now)
    _db.session.commit()
    return result


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def helper(make_user):
    return make_user("helper")


@pytest.fixture
def household(make_household, helper):
    return make_household(helper=helper, members_count=3)


def rejected(user, household, **answer_over) -> dict[str, str]:
    result = push(user, visit_raw(household, answers=answers(**answer_over)))
    assert result.status == "rejected"
    assert count(Visit) == 0
    return result.errors


# ------------------------------------------------------------------ the survey

def test_a_complete_survey_is_stored(helper, household):
    result = push(helper, visit_raw(household, answers=answers(
        present=" 户主本人 ", housing_status="at_risk", housing_note="房屋漏雨",
        needs="申请廉租房")))
    assert result.status == "created", result.errors
    v = _db.session.get(Visit, result.id)
    assert v.answers["present"] == "户主本人"
    assert v.answers["housing_status"] == "at_risk"
    assert v.answers["housing_note"] == "房屋漏雨"
    assert v.answers["measures_delivered"] == []
    assert v.form_version == form.VERSION
    assert v.helper_id == helper.id and v.household_id == household.id


@pytest.mark.parametrize(("missing", "message"), [
    ("present", "请填写“在场人员”"),
    ("household_income", "请填写“本月家庭总收入（元）”"),
    ("medical_status", "请填写“医疗”"),
    ("income_status", "请填写“收入（稳定生活来源）”"),
])
def test_required_answers(helper, household, missing, message):
    errors = rejected(helper, household, **{missing: None})
    assert errors == {f"answers.{missing}": message}


def test_blank_text_is_missing(helper, household):
    assert rejected(helper, household, present="   ") == {"answers.present": "请填写“在场人员”"}


@pytest.mark.parametrize("dim", DIMS)
def test_a_dimension_not_ok_needs_its_note(helper, household, dim):
    label = {"income": "收入", "housing": "住房", "education": "教育", "medical": "医疗",
             "employment": "就业", "elderly": "养老"}[dim]
    for status in ("at_risk", "problem"):
        errors = rejected(helper, household, **{f"{dim}_status": status})
        assert errors == {f"answers.{dim}_note": f"{label}不是“正常”时请说明情况"}
    ok = push(helper, visit_raw(household, answers=answers(
        **{f"{dim}_status": "problem", f"{dim}_note": "需要跟进"})))
    assert ok.status == "created"


def test_an_ok_dimension_needs_no_note(helper, household):
    assert push(helper, visit_raw(household)).status == "created"


def test_a_status_outside_the_options(helper, household):
    errors = rejected(helper, household, elderly_status="fine")
    assert errors["answers.elderly_status"] == "请为“养老”选择一项"


def test_unknown_answer_keys_are_rejected(helper, household):
    errors = rejected(helper, household, favourite_colour="红色")
    assert errors == {"answers.favourite_colour": "未知的调查项"}


def test_text_too_long(helper, household):
    errors = rejected(helper, household, needs="难" * (form.MAX_TEXT + 1))
    assert errors == {"answers.needs": f"“发现的需求和问题”不能超过 {form.MAX_TEXT} 个字"}


@pytest.mark.parametrize(("value", "message"), [
    ("-5", "“本月家庭总收入（元）”不能为负数"),
    (-0.5, "“本月家庭总收入（元）”不能为负数"),
    ("abc", "“本月家庭总收入（元）”应为数字"),
    ("12元", "“本月家庭总收入（元）”应为数字"),
    ("NaN", "“本月家庭总收入（元）”应为数字"),
    ("Infinity", "“本月家庭总收入（元）”应为数字"),
    (True, "“本月家庭总收入（元）”应为数字"),
    ([], "请填写“本月家庭总收入（元）”"),
    ("10000000.01", "“本月家庭总收入（元）”数额过大，请核对"),
    ("1e30", "“本月家庭总收入（元）”数额过大，请核对"),
    (1e300, "“本月家庭总收入（元）”数额过大，请核对"),
    ("9" * 40, "“本月家庭总收入（元）”数额过大，请核对"),
])
def test_bad_income_is_rejected_with_a_reason(helper, household, value, message):
    assert rejected(helper, household, household_income=value) == {
        "answers.household_income": message}


@pytest.mark.parametrize(("value", "stored"), [
    ("1,234.5", Decimal("1234.50")),
    (" 980 ", Decimal("980.00")),
    (1500, Decimal("1500.00")),
    (630.25, Decimal("630.25")),
    ("0", Decimal("0.00")),
    ("10000000", Decimal("10000000.00")),
])
def test_income_amounts(helper, household, value, stored):
    result = push(helper, visit_raw(household, answers=answers(household_income=value)))
    assert result.status == "created", result.errors
    v = _db.session.get(Visit, result.id)
    assert v.household_income == stored
    assert v.answers["household_income"] == float(stored)


def test_parse_money_never_raises():
    for value in ("1e999999", "-1e30", "1" * 100, "0x10", "１２３", None, {}, object(),
                  float("inf"), float("nan"), "1_000"):
        records.parse_money(value)  # no exception


# ------------------------------------------------------------------ measures delivered

@pytest.fixture
def measures(world, household):
    dibao = Measure(county_id=world.county.id, area="income", name="城镇低保金")
    rent = Measure(county_id=world.county.id, area="housing", name="租赁补贴")
    other = Measure(county_id=world.county.id, area="medical", name="医疗救助")
    _db.session.add_all([dibao, rent, other])
    _db.session.flush()
    for m in (dibao, rent):
        _db.session.add(PlanMeasure(household_id=household.id, measure_id=m.id,
                                    start_date=date(2026, 1, 1)))
    _db.session.commit()
    return dibao, rent, other


def test_measures_delivered_must_be_in_the_plan(helper, household, measures):
    dibao, rent, other = measures
    ok = push(helper, visit_raw(household, answers=answers(
        measures_delivered=[str(rent.id), dibao.id, rent.id])))
    assert ok.status == "created", ok.errors
    assert _db.session.get(Visit, ok.id).answers["measures_delivered"] == sorted(
        [dibao.id, rent.id])

    for bad in ([other.id], [dibao.id, other.id], ["低保"], [999_999]):
        result = push(helper, visit_raw(household, answers=answers(measures_delivered=bad)))
        assert result.status == "rejected"
        assert result.errors == {
            "answers.measures_delivered": "所选帮扶措施不在该户的帮扶计划中"}


def test_another_households_measure_is_refused(make_household, helper, household, measures):
    neighbour = make_household(helper=helper)
    dibao = measures[0]
    result = push(helper, visit_raw(neighbour, answers=answers(measures_delivered=[dibao.id])))
    assert result.status == "rejected"
    assert "answers.measures_delivered" in result.errors


# ------------------------------------------------------------------ per-capita income

def test_per_capita_income_is_income_over_members(helper, household):
    result = push(helper, filed_raw(household, answers=answers(household_income="1000")))
    v = _db.session.get(Visit, result.id)
    assert v.household_income == Decimal("1000.00")
    assert v.per_capita_income == Decimal("333.33")
    _db.session.expire_all()
    assert _db.session.get(Household, household.id).per_capita_income == Decimal("333.33")


def test_household_income_follows_only_the_latest_visit(helper, household):
    now = now_utc()

    def at(hours_ago: int, income: str):
        raw = filed_raw(household, visited_at=(now - timedelta(hours=hours_ago)).isoformat(),
                        answers=answers(household_income=income))
        assert push(helper, raw, now=now).status == "created"
        _db.session.expire_all()
        return _db.session.get(Household, household.id).per_capita_income

    assert at(30, "900") == Decimal("300.00")
    # A visit from before the latest one, synced late, does not overwrite the file.
    assert at(40, "600") == Decimal("300.00")
    assert at(10, "1200") == Decimal("400.00")


def test_a_rejected_later_visit_does_not_hold_the_income(helper, household, make_visit):
    now = now_utc()
    make_visit(household, helper, visited_at=now - timedelta(hours=2), review_status="rejected",
               per_capita_income=Decimal("999"))
    raw = filed_raw(household, visited_at=(now - timedelta(hours=5)).isoformat(),
                    answers=answers(household_income="300"))
    assert push(helper, raw, now=now).status == "created"
    _db.session.expire_all()
    assert _db.session.get(Household, household.id).per_capita_income == Decimal("100.00")


# ------------------------------------------------------------------ times

def test_a_visit_in_the_future_is_refused(helper, household):
    now = now_utc()
    result = push(helper, visit_raw(
        household, visited_at=(now + timedelta(minutes=11)).isoformat()), now=now)
    assert result.status == "rejected"
    assert result.errors == {"visited_at": "走访时间晚于当前时间，请检查手机的日期和时间"}
    # A phone clock a few minutes fast is tolerated.
    ok = push(helper, visit_raw(household, visited_at=(now + timedelta(minutes=9)).isoformat()),
              now=now)
    assert ok.status == "created"


def test_a_visit_over_a_year_old_is_refused(helper, household):
    now = now_utc()
    result = push(helper, visit_raw(
        household, visited_at=(now - timedelta(days=401)).isoformat()), now=now)
    assert result.status == "rejected" and "visited_at" in result.errors


@pytest.mark.parametrize(("path", "value", "field"), [
    ("visited_at", "2026-11-20T15:04:00", "visited_at"),
    ("visited_at", "2026-11-20 15:04", "visited_at"),
    ("visited_at", "20 Nov 2026", "visited_at"),
    ("visited_at", 1795000000, "visited_at"),
    ("location.captured_at", "2026-11-20T15:04:00", "location.captured_at"),
    ("photos.taken_at", "2026-11-20T15:04:00", "photos[0].taken_at"),
])
def test_times_without_an_offset_are_refused(household, path, value, field):
    raw = visit_raw(household, photos=[{"id": str(uuid.uuid4()), "sha256": "a" * 64,
                                        "bytes": 10}])
    if path == "visited_at":
        raw["visited_at"] = value
    elif path == "location.captured_at":
        raw["location"]["captured_at"] = value
    else:
        raw["photos"][0]["taken_at"] = value
    with pytest.raises(RecordError) as caught:
        parse_visit_record(raw)
    assert field in caught.value.errors
    assert CJK.search(caught.value.errors[field])


@pytest.mark.parametrize(("change", "field"), [
    ({"id": "not-a-uuid"}, "id"),
    ({"household_id": None}, "household_id"),
    ({"household_id": "12a"}, "household_id"),
    ({"answers": "ok"}, "answers"),
    ({"location": {"lat": 95, "lon": 112.5}}, "location"),
    ({"location": {"lat": 33, "lon": 112.5, "accuracy_m": -1}}, "location.accuracy_m"),
    ({"location": {"lat": 33, "lon": 112.5, "source": "telepathy"}}, "location.source"),
    ({"photos": [{"id": "x", "sha256": "a" * 64}]}, "photos[0].id"),
    ({"photos": [{"id": str(uuid.uuid4()), "sha256": "zz"}]}, "photos[0].sha256"),
    ({"supersedes": "nope"}, "supersedes"),
    ({"notes": "记" * 2001}, "notes"),
])
def test_malformed_records_say_which_field(household, change, field):
    raw = visit_raw(household)
    raw.update(change)
    with pytest.raises(RecordError) as caught:
        parse_visit_record(raw)
    assert field in caught.value.errors


# ------------------------------------------------------------------ safe repeats

def test_the_same_record_twice_is_a_duplicate(helper, household):
    raw = visit_raw(household, location=None)
    first = push(helper, raw)
    again = push(helper, dict(reversed(list(raw.items()))))  # key order does not matter
    assert first.status == "created"
    assert again.status == "duplicate"
    assert again.id == first.id and again.flags == first.flags == ["no_location", "no_photo"]
    assert again.as_json() == {"id": first.id, "status": "duplicate", "missing_photos": [],
                               "flags": ["no_location", "no_photo"]}
    assert count(Visit) == 1


def test_the_same_id_with_other_content_is_a_conflict(helper, household):
    raw = visit_raw(household, notes="第一次")
    assert push(helper, raw).status == "created"
    changed = dict(raw, notes="改过的")
    result = push(helper, changed)
    assert result.status == "rejected"
    assert result.errors == {"id": "conflict"}
    assert result.as_json() == {"id": raw["id"], "status": "rejected",
                                "errors": {"id": "conflict"}}
    assert count(Visit) == 1
    assert _db.session.get(Visit, raw["id"]).notes == "第一次"


def test_a_duplicate_reports_photos_still_missing(helper, household):
    photo_id = str(uuid.uuid4())
    raw = visit_raw(household, photos=[{"id": photo_id, "sha256": "b" * 64, "bytes": 5}])
    assert push(helper, raw).missing_photos == [photo_id]
    assert push(helper, raw).missing_photos == [photo_id]
    assert count(Photo) == 1


def test_a_photo_id_cannot_be_declared_twice(helper, household):
    photo = {"id": str(uuid.uuid4()), "sha256": "c" * 64, "bytes": 5}
    assert push(helper, visit_raw(household, photos=[photo])).status == "created"
    result = push(helper, visit_raw(household, photos=[photo]))
    assert result.status == "rejected" and "photos" in result.errors
    assert count(Visit) == 1


# ------------------------------------------------------------------ who may record

@pytest.mark.parametrize("role", ["community_worker", "street_reviewer", "county_officer",
                                  "city_supervisor", "admin"])
def test_only_helpers_record_visits(make_user, household, role):
    result = push(make_user(role), visit_raw(household))
    assert result.status == "rejected"
    assert result.errors == {"type": "只有帮扶责任人可以登记走访"}
    assert count(Visit) == 0


def test_an_unknown_household_is_refused_like_a_foreign_one(helper, household):
    raw = visit_raw(household, household_id=household.id + 1000)
    result = push(helper, raw)
    assert result.status == "rejected"
    assert result.errors == {"household_id": "该户不在您的帮扶名单中"}


# ------------------------------------------------------------------ corrections

def test_a_correction_supersedes_the_old_visit(helper, household):
    now = now_utc()
    old = filed_raw(household, visited_at=(now - timedelta(hours=3)).isoformat(),
                    answers=answers(household_income="900"))
    assert push(helper, old, now=now).status == "created"
    # The helper got the time and the income wrong: the correction is earlier and lower.
    fix = filed_raw(household, visited_at=(now - timedelta(hours=5)).isoformat(),
                    answers=answers(household_income="600"), supersedes=old["id"])
    result = push(helper, fix, now=now)
    assert result.status == "created", result.errors
    _db.session.expire_all()
    assert _db.session.get(Visit, old["id"]).superseded is True
    assert _db.session.get(Visit, fix["id"]).superseded is False
    assert _db.session.get(Visit, fix["id"]).supersedes_id == old["id"]
    # The file shows the corrected income, and the month counts one visit.
    assert _db.session.get(Household, household.id).per_capita_income == Decimal("200.00")
    month = _db.session.get(Visit, fix["id"]).month
    assert hs.visit_counts([household.id], [month]) == {(household.id, month): 1}


def test_a_correction_of_a_record_never_stored_is_accepted(helper, household):
    result = push(helper, visit_raw(household, supersedes=str(uuid.uuid4())))
    assert result.status == "created"


def test_cannot_supersede_another_helpers_visit(make_user, make_household, helper, household):
    other_helper = make_user("helper")  # shares the household (two helpers at once)
    _db.session.add(Assignment(household=household, helper=other_helper,
                               start_date=date(2020, 1, 1)))
    _db.session.commit()
    theirs = visit_raw(household)
    assert push(other_helper, theirs).status == "created"

    result = push(helper, visit_raw(household, supersedes=theirs["id"]))
    assert result.status == "rejected"
    assert result.errors == {"supersedes": "只能更正本人对同一户的走访记录"}
    _db.session.expire_all()
    assert _db.session.get(Visit, theirs["id"]).superseded is False
    assert count(Visit) == 1


def test_cannot_supersede_a_visit_to_another_household(make_household, helper, household):
    elsewhere = make_household(helper=helper)
    mine = visit_raw(elsewhere)
    assert push(helper, mine).status == "created"
    result = push(helper, visit_raw(household, supersedes=mine["id"]))
    assert result.status == "rejected" and "supersedes" in result.errors
    _db.session.expire_all()
    assert _db.session.get(Visit, mine["id"]).superseded is False


# ------------------------------------------------------------------ reference point

def fix_at(lat: float, lon: float, accuracy: float | None) -> dict[str, Any]:
    return {"lat": lat, "lon": lon, "accuracy_m": accuracy, "source": "gps"}


def reload(household) -> Household:
    _db.session.expire_all()
    return _db.session.get(Household, household.id)


def test_the_first_good_fix_is_proposed_as_reference(helper, household):
    push(helper, filed_raw(household, location=None))
    push(helper, filed_raw(household, location=fix_at(32.99, 112.54, 80)))
    push(helper, filed_raw(household, location=fix_at(32.99, 112.54, None)))
    h = reload(household)
    assert h.proposed_lat is None and h.proposed_visit_id is None

    good = filed_raw(household, location=fix_at(32.9961, 112.5423, 30))
    push(helper, good)
    later = filed_raw(household, location=fix_at(32.9, 112.6, 5))
    push(helper, later)
    h = reload(household)
    assert (h.proposed_lat, h.proposed_lon) == (32.9961, 112.5423)
    assert h.proposed_visit_id == good["id"]
    # A proposal is not a reference: no distances until an officer confirms it.
    assert not h.has_reference
    assert _db.session.get(Visit, later["id"]).distance_m is None


def test_a_fix_of_exactly_50_m_may_be_proposed(helper, household):
    push(helper, filed_raw(household, location=fix_at(32.9961, 112.5423, 50)))
    assert reload(household).proposed_lat == 32.9961


def test_no_proposal_when_the_household_has_a_reference(make_household, helper):
    household = make_household(helper=helper, ref_lat=33.0, ref_lon=112.5)
    push(helper, filed_raw(household, location=fix_at(32.9961, 112.5423, 10)))
    h = reload(household)
    assert h.proposed_lat is None and (h.ref_lat, h.ref_lon) == (33.0, 112.5)


def test_confirm_reference_stores_wgs84(make_user, helper, household):
    officer = make_user("county_officer")
    h = reload(household)
    confirm_reference(h, officer, lat=32.9961, lon=112.5423, source="manual")
    _db.session.commit()
    h = reload(household)
    assert (h.ref_lat, h.ref_lon) == (32.9961, 112.5423)
    assert h.ref_source == "manual" and h.ref_source_crs == "wgs84" and h.ref_confirmed
    event = _db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "household.reference"))
    assert event.target_id == str(household.id)
    assert event.user_id == officer.id  # who set it, even outside a request


@pytest.mark.parametrize("spelling", ["gcj02", "GCJ-02", "gcj"])
def test_confirm_reference_converts_gcj02(make_user, household, spelling):
    officer = make_user("county_officer")
    wgs = (32.9961, 112.5423)
    gcj = wgs84_to_gcj02(*wgs)  # what AMap shows for the door
    assert distance_m(*gcj, *wgs) > 100
    confirm_reference(reload(household), officer, lat=gcj[0], lon=gcj[1], source="manual",
                      crs=spelling)
    _db.session.commit()
    h = reload(household)
    expected = gcj02_to_wgs84(*gcj)
    assert h.ref_lat == pytest.approx(expected[0], abs=1e-7)
    assert h.ref_lon == pytest.approx(expected[1], abs=1e-7)
    assert distance_m(h.ref_lat, h.ref_lon, *wgs) < 0.05
    assert h.ref_source_crs == "gcj02"


def test_confirm_reference_converts_bd09(make_user, household):
    officer = make_user("county_officer")
    bd = (33.0021, 112.5535)
    confirm_reference(reload(household), officer, lat=bd[0], lon=bd[1], source="manual",
                      crs="bd09")
    _db.session.commit()
    h = reload(household)
    assert (h.ref_lat, h.ref_lon) == pytest.approx(bd09_to_wgs84(*bd), abs=1e-7)
    assert h.ref_source_crs == "bd09"


def test_confirm_reference_clears_the_proposal_and_later_visits_measure_from_it(
        make_user, helper, household):
    officer = make_user("county_officer")
    push(helper, filed_raw(household, location=fix_at(32.9961, 112.5423, 20)))
    h = reload(household)
    confirm_reference(h, officer, lat=h.proposed_lat, lon=h.proposed_lon, source="visit")
    _db.session.commit()
    h = reload(household)
    assert h.proposed_lat is None and h.proposed_visit_id is None
    assert (h.ref_lat, h.ref_lon) == (32.9961, 112.5423)
    later = filed_raw(household, location=fix_at(32.9961, 112.5523, 15))
    push(helper, later)
    v = _db.session.get(Visit, later["id"])
    assert v.distance_m == pytest.approx(distance_m(32.9961, 112.5523, 32.9961, 112.5423),
                                         abs=0.1)


# ------------------------------------------------------------------ confirming on the page

@pytest.fixture
def proposed(helper, household):
    push(helper, filed_raw(household, location=fix_at(32.9961, 112.5423, 20)))
    return reload(household)


def test_a_county_officer_confirms_the_proposed_point(client, auth, make_user, proposed):
    officer = make_user("county_officer")
    auth.login(as_=officer)
    page = client.get(f"/households/{proposed.id}").get_data(as_text=True)
    assert "确认为参考位置" in page
    response = client.post(f"/households/{proposed.id}/reference")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/households/{proposed.id}")
    h = reload(proposed)
    assert (h.ref_lat, h.ref_lon) == (32.9961, 112.5423)
    assert h.ref_source == "visit" and h.ref_source_crs == "wgs84" and h.ref_confirmed
    assert h.proposed_lat is None
    event = _db.session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == "household.reference"))
    assert event.user_id == officer.id
    assert "参考位置已确认" in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.usefixtures("fresh_g")
def test_others_cannot_confirm(client, auth, make_user, world, helper, proposed):
    cases = [
        (helper, 403),  # sees the household, may not decide its location
        (make_user("helper"), 404),
        (make_user("county_officer", place=world.county_b), 404),
        (make_user("street_reviewer"), 403),
        (make_user("community_worker"), 403),
    ]
    for user, status in cases:
        auth.login(as_=user)
        assert client.post(f"/households/{proposed.id}/reference").status_code == status, user
        auth.logout()
    h = reload(proposed)
    assert not h.has_reference and h.proposed_lat == 32.9961


def test_the_helper_sees_no_confirm_button(client, auth, helper, proposed):
    auth.login(as_=helper)
    # The helper's household page is drawn on the phone from the pull: it shows the proposed
    # point (static/js/pages/household.js) and has no confirm form at all.
    page = client.get(f"/households/{proposed.id}").get_data(as_text=True)
    assert "确认为参考位置" not in page and "/reference" not in page
    [pulled] = [h for h in client.get("/api/sync/v1/pull").get_json()["households"]
                if h["id"] == str(proposed.id)]
    assert pulled["proposed_location"] == {"lat": proposed.proposed_lat,
                                           "lon": proposed.proposed_lon}


# ------------------------------------------------------------------ the schema

def test_definition_is_chinese_by_default(app):
    schema = form.definition()
    assert isinstance(schema["version"], int) and not isinstance(schema["version"], bool)
    assert schema["version"] == form.VERSION
    names = [f["name"] for f in schema["fields"]]
    assert names == form.field_names()
    for dim in DIMS:
        assert f"{dim}_status" in names and f"{dim}_note" in names
    for f in schema["fields"]:
        assert isinstance(f["label"], str) and CJK.search(f["label"]), f["name"]
        for o in f.get("options", []):
            assert isinstance(o["label"], str) and CJK.search(o["label"])
    assert all(CJK.search(g["label"]) for g in schema["groups"])
    by_name = {f["name"]: f for f in schema["fields"]}
    assert by_name["medical_status"]["label"] == "医疗"
    assert by_name["housing_note"]["required_unless"] == {"field": "housing_status",
                                                         "value": "ok"}
    assert [o["value"] for o in by_name["income_status"]["options"]] == [
        "ok", "at_risk", "problem"]


def test_definition_is_plain_json(app):
    import json

    schema = form.definition()
    assert json.loads(json.dumps(schema, ensure_ascii=False)) == schema


def test_definition_in_a_request_without_language_preference(app):
    with app.test_request_context("/"):
        schema = form.definition()
    assert CJK.search(schema["fields"][0]["label"])

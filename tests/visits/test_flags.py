"""What the server notices about a visit (the flags a supervisor reviews), each switched on and
off through the same service the sync API and the visit page use."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from geopy.distance import geodesic
from PIL import Image

from fieldwork.extensions import db as _db
from fieldwork.households.models import Assignment
from fieldwork.photos import services as photos
from fieldwork.places.services import policy_for_county
from fieldwork.timeutil import now_utc, today_local
from fieldwork.visits import flags as visit_flags
from fieldwork.visits.models import Visit
from fieldwork.visits.services import flag_details, parse_visit_record, record_visit
from tests.factories import encode_jpeg, scene, set_policy, visit_record

CJK = re.compile(r"[\u4e00-\u9fff]")
HOME = (32.995, 112.541)  # the household's reference point (WGS-84)


# ------------------------------------------------------------------ helpers

def point_at(distance_m: float, bearing: float = 0, origin=HOME) -> tuple[float, float]:
    p = geodesic(meters=distance_m).destination(origin, bearing=bearing)
    return p.latitude, p.longitude


def visit_raw(household, *, at=None, location: Any = "home", accuracy: float | None = 15,
              photos_: list[bytes] | None = None, **over: Any) -> dict[str, Any]:
    """A record as the sync API receives it. Defaults give a visit with no flags."""
    at = at or now_utc() - timedelta(hours=1)
    if location == "home":
        location = HOME
    loc = None
    if location is not None:
        loc = {"lat": location[0], "lon": location[1], "source": "gps",
               "captured_at": at.isoformat()}
        if accuracy is not None:
            loc["accuracy_m"] = accuracy
    if photos_ is None:
        photos_ = [encode_jpeg(scene(999))]
    raw = visit_record(household.id, visited_at=at.isoformat(), location=loc, photos=photos_)
    raw.update(over)
    return raw


def push(user, raw, *, now=None, device_time=None):
    rec = parse_visit_record(raw, device_id="phone-1", device_time=device_time)
    result = record_visit(user, rec, now=now)
    _db.session.commit()
    return result


def flags_of(user, household, **kw) -> list[str]:
    push_kw = {k: kw.pop(k) for k in ("now", "device_time") if k in kw}
    result = push(user, visit_raw(household, **kw), **push_kw)
    assert result.status == "created", result.errors
    stored = _db.session.get(Visit, result.id)
    assert stored.flags == result.flags  # what the phone is told is what supervisors see
    assert stored.flag_count == len(stored.flags)
    return result.flags


@pytest.fixture
def helper(make_user):
    return make_user("helper", display_name="王帮扶")


@pytest.fixture
def household(make_household, helper):
    return make_household(helper=helper, ref_lat=HOME[0], ref_lon=HOME[1])


# ------------------------------------------------------------------ the flags

def test_a_good_visit_has_no_flags(helper, household):
    assert flags_of(helper, household) == []


def test_no_location(helper, household):
    assert "no_location" in flags_of(helper, household, location=None)
    assert "no_location" not in flags_of(helper, household)


def test_no_location_is_not_also_far_or_inaccurate(helper, household):
    assert flags_of(helper, household, location=None) == ["no_location"]


def test_poor_accuracy_over_100_m_by_default(helper, household):
    assert "poor_accuracy" in flags_of(helper, household, accuracy=150)
    assert "poor_accuracy" in flags_of(helper, household, accuracy=100.5)
    assert "poor_accuracy" not in flags_of(helper, household, accuracy=100)
    assert "poor_accuracy" not in flags_of(helper, household, accuracy=8)
    # A fix without an accuracy is not judged on it.
    assert "poor_accuracy" not in flags_of(helper, household, accuracy=None)


def test_poor_accuracy_threshold_is_the_countys(world, helper, household):
    set_policy(world, poor_accuracy_m=40)
    assert "poor_accuracy" in flags_of(helper, household, accuracy=60)
    assert "poor_accuracy" not in flags_of(helper, household, accuracy=40)
    set_policy(world, poor_accuracy_m=250)
    assert "poor_accuracy" not in flags_of(helper, household, accuracy=200)


def test_far_from_household_5_km_flags_100_m_does_not(helper, household):
    far = push(helper, visit_raw(household, location=point_at(5000, 45), accuracy=20))
    near = push(helper, visit_raw(household, location=point_at(100, 200), accuracy=20))
    assert "far_from_household" in far.flags
    assert "far_from_household" not in near.flags

    for result, nominal in ((far, 5000), (near, 100)):
        v = _db.session.get(Visit, result.id)
        expected = geodesic((v.lat, v.lon), HOME, ellipsoid="WGS-84").meters
        assert v.distance_m == pytest.approx(expected, abs=1)
        assert v.distance_m == pytest.approx(nominal, abs=1)


def test_far_from_household_allows_geofence_plus_accuracy(world, helper, household):
    # Default geofence 300 m; a fix 310 m away with ±20 m may still be at the door.
    assert "far_from_household" not in flags_of(
        helper, household, location=point_at(310), accuracy=20)
    assert "far_from_household" in flags_of(
        helper, household, location=point_at(330), accuracy=20)
    assert "far_from_household" in flags_of(
        helper, household, location=point_at(310), accuracy=None)
    set_policy(world, geofence_m=50)
    assert "far_from_household" in flags_of(
        helper, household, location=point_at(100), accuracy=20)
    assert "far_from_household" not in flags_of(
        helper, household, location=point_at(60), accuracy=20)


def test_no_reference_point_no_distance_no_flag(make_household, helper):
    household = make_household(helper=helper)  # no ref_lat/ref_lon
    result = push(helper, visit_raw(household, location=point_at(20000), accuracy=10))
    assert result.status == "created"
    v = _db.session.get(Visit, result.id)
    assert v.lat is not None and v.distance_m is None
    assert "far_from_household" not in result.flags


def test_no_photo(helper, household):
    assert "no_photo" in flags_of(helper, household, photos_=[])
    # Declared but not yet uploaded is not "no photo": the bytes follow the record.
    assert "no_photo" not in flags_of(helper, household)


def upload(result, data: bytes, user) -> int:
    """Send the bytes of the record's (first) declared photo, as PUT /photos/<id> does."""
    photo_id = result.missing_photos[0]
    outcome = photos.upload(photo_id, data, hashlib.sha256(data).hexdigest(), user.id)
    _db.session.commit()
    return outcome.status


def test_photo_reused_for_another_household(make_household, make_user, helper, household):
    other = make_household(helper=helper, ref_lat=HOME[0], ref_lon=HOME[1])
    original = encode_jpeg(scene(1), quality=90)

    first = push(helper, visit_raw(household, photos_=[original]))
    assert upload(first, original, helper) == 201
    assert "photo_reused" not in _db.session.get(Visit, first.id).flags

    second = push(helper, visit_raw(other, photos_=[original]))
    assert "photo_reused" not in second.flags  # only the bytes can tell
    assert upload(second, original, helper) == 201
    _db.session.expire_all()
    reused = _db.session.get(Visit, second.id)
    assert "photo_reused" in reused.flags
    assert reused.flag_count == len(reused.flags)
    # The earlier visit keeps its clean record.
    assert "photo_reused" not in _db.session.get(Visit, first.id).flags

    # Another helper passing the same picture off for their own household is caught too.
    helper_b = make_user("helper")
    third_household = make_household(helper=helper_b, ref_lat=HOME[0], ref_lon=HOME[1])
    third = push(helper_b, visit_raw(third_household, photos_=[original]))
    assert upload(third, original, helper_b) == 201
    _db.session.expire_all()
    assert "photo_reused" in _db.session.get(Visit, third.id).flags


def test_a_different_photo_does_not_flag(make_household, helper, household):
    other = make_household(helper=helper)
    a, b = encode_jpeg(scene(1), quality=90), encode_jpeg(scene(2), quality=90)
    first = push(helper, visit_raw(household, photos_=[a]))
    assert upload(first, a, helper) == 201
    second = push(helper, visit_raw(other, photos_=[b]))
    assert upload(second, b, helper) == 201
    _db.session.expire_all()
    assert "photo_reused" not in _db.session.get(Visit, second.id).flags


def test_a_reencoded_downscaled_copy_still_flags(make_household, helper, household):
    other = make_household(helper=helper)
    picture = scene(7, (800, 600))
    original = encode_jpeg(picture, quality=92)
    copy = encode_jpeg(picture.resize((680, 510), Image.Resampling.LANCZOS), quality=60)
    assert hashlib.sha256(copy).digest() != hashlib.sha256(original).digest()

    first = push(helper, visit_raw(household, photos_=[original]))
    assert upload(first, original, helper) == 201
    second = push(helper, visit_raw(other, photos_=[copy]))
    assert upload(second, copy, helper) == 201
    _db.session.expire_all()
    assert "photo_reused" in _db.session.get(Visit, second.id).flags


def test_two_photos_of_one_visit_alike_do_not_flag(helper, household):
    picture = scene(3)
    a, b = encode_jpeg(picture, quality=90), encode_jpeg(picture, quality=70)
    result = push(helper, visit_raw(household, photos_=[a, b]))
    for photo_id, data in zip(result.missing_photos, (a, b), strict=True):
        assert photos.upload(photo_id, data, hashlib.sha256(data).hexdigest(),
                             helper.id).status == 201
    _db.session.commit()
    _db.session.expire_all()
    v = _db.session.get(Visit, result.id)
    assert v.photos_stored == 2 and "photo_reused" not in v.flags


def test_a_correction_may_carry_the_photo_of_the_visit_it_corrects(make_household, helper,
                                                                   household):
    """Correcting a typo re-sends the same picture under a new photo id: not "reuse"."""
    picture = encode_jpeg(scene(5), quality=90)
    first = push(helper, visit_raw(household, photos_=[picture]))
    assert upload(first, picture, helper) == 201
    fix = push(helper, visit_raw(household, photos_=[picture], supersedes=first.id))
    assert fix.status == "created", fix.errors
    assert upload(fix, picture, helper) == 201
    _db.session.expire_all()
    assert "photo_reused" not in _db.session.get(Visit, fix.id).flags

    # Whichever of the two arrives first.
    other_picture = encode_jpeg(scene(6), quality=90)
    late_first = push(helper, visit_raw(household, photos_=[other_picture]))
    late_fix = push(helper, visit_raw(household, photos_=[other_picture],
                                      supersedes=late_first.id))
    assert upload(late_fix, other_picture, helper) == 201
    assert upload(late_first, other_picture, helper) == 201
    _db.session.expire_all()
    assert "photo_reused" not in _db.session.get(Visit, late_first.id).flags

    # The same picture for another household is still reuse.
    other = make_household(helper=helper)
    elsewhere = push(helper, visit_raw(other, photos_=[picture]))
    assert upload(elsewhere, picture, helper) == 201
    _db.session.expire_all()
    assert "photo_reused" in _db.session.get(Visit, elsewhere.id).flags


def test_late_entry_after_48_hours(world, helper, household):
    now = now_utc()
    assert "late_entry" in flags_of(helper, household, at=now - timedelta(hours=49), now=now)
    assert "late_entry" not in flags_of(helper, household, at=now - timedelta(hours=47), now=now)
    set_policy(world, late_entry_hours=72)
    assert "late_entry" not in flags_of(helper, household, at=now - timedelta(hours=49), now=now)
    assert "late_entry" in flags_of(helper, household, at=now - timedelta(hours=73), now=now)


def test_clock_skew_when_the_phone_clock_is_off(world, helper, household):
    now = now_utc()
    for off, flagged in ((31, True), (-31, True), (29, False), (-29, False), (0, False)):
        got = flags_of(helper, household, now=now, device_time=now + timedelta(minutes=off))
        assert ("clock_skew" in got) is flagged, off
    # Without a device time nothing can be said.
    assert "clock_skew" not in flags_of(helper, household, now=now)
    set_policy(world, clock_skew_minutes=60)
    assert "clock_skew" not in flags_of(helper, household, now=now,
                                        device_time=now + timedelta(minutes=45))


def test_after_reassignment_is_accepted_and_flagged(make_user, make_household, helper):
    former = make_user("helper", display_name="原帮扶人")
    household = make_household(helper=former, ref_lat=HOME[0], ref_lon=HOME[1])
    assignment = _db.session.scalar(
        _db.select(Assignment).where(Assignment.household_id == household.id))
    assignment.end_date = today_local() - timedelta(days=1)
    _db.session.add(Assignment(household=household, helper=helper, start_date=today_local()))
    _db.session.commit()

    late = push(former, visit_raw(household))
    assert late.status == "created"
    assert "after_reassignment" in late.flags
    assert "after_reassignment" not in flags_of(helper, household)


def test_a_helper_never_assigned_is_rejected(make_user, household):
    stranger = make_user("helper")
    result = push(stranger, visit_raw(household))
    assert result.status == "rejected"
    assert result.errors == {"household_id": "该户不在您的帮扶名单中"}
    assert _db.session.scalar(_db.select(_db.func.count(Visit.id))) == 0


# ------------------------------------------------------------------ the reasons

def visit_with(helper, household, **kw) -> Visit:
    push_kw = {k: kw.pop(k) for k in ("now", "device_time") if k in kw}
    result = push(helper, visit_raw(household, **kw), **push_kw)
    return _db.session.get(Visit, result.id)


def test_explain_gives_the_numbers(world, helper, household):
    policy = policy_for_county(world.county.id)
    now = now_utc()
    v = visit_with(helper, household, location=point_at(5000), accuracy=150,
                   at=now - timedelta(hours=50), now=now,
                   device_time=now + timedelta(minutes=45))
    assert set(v.flags) >= {"far_from_household", "poor_accuracy", "late_entry", "clock_skew"}

    far = visit_flags.explain("far_from_household", v, policy)
    assert "5000 米" in far and "450 米" in far and "300 米" in far and "150 米" in far
    acc = visit_flags.explain("poor_accuracy", v, policy)
    assert "150 米" in acc and "100 米" in acc
    late = visit_flags.explain("late_entry", v, policy)
    assert "50 小时" in late and "48 小时" in late
    assert "30 分钟" in visit_flags.explain("clock_skew", v, policy)


def test_explain_uses_the_countys_numbers(world, helper, household):
    set_policy(world, geofence_m=80, poor_accuracy_m=30)
    v = visit_with(helper, household, location=point_at(200), accuracy=35)
    policy = policy_for_county(world.county.id)
    assert "far_from_household" in v.flags and "poor_accuracy" in v.flags
    far = visit_flags.explain("far_from_household", v, policy)
    assert "200 米" in far and "115 米" in far and "80 米" in far
    assert "35 米" in visit_flags.explain("poor_accuracy", v, policy)
    assert "30 米" in visit_flags.explain("poor_accuracy", v, policy)


@pytest.mark.parametrize("code", visit_flags.FLAGS)
def test_every_flag_has_a_chinese_label_and_reason(world, helper, household, code):
    v = visit_with(helper, household)
    policy = policy_for_county(world.county.id)
    assert CJK.search(str(visit_flags.FLAG_LABELS[code]))
    reason = visit_flags.explain(code, v, policy)
    assert CJK.search(reason) and reason != str(visit_flags.FLAG_LABELS[code])


def test_flag_details_for_the_visit_page(helper, household):
    v = visit_with(helper, household, location=None, photos_=[])
    details = flag_details(v)
    assert [d["code"] for d in details] == ["no_location", "no_photo"]
    assert details[0]["label"] == "无定位" and details[1]["label"] == "无照片"
    assert all(CJK.search(d["reason"]) for d in details)

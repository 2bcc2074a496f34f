"""The visit pages: saving a visit with a photo and a GPS fix (the sync push and the photo
upload that the form on the phone sends), the recorded visit, and the data the helper's field
pages (the form, the household file and the list, drawn on the phone by static/js/pages/) are
drawn from: the pull."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from geopy.distance import geodesic
from PIL import Image

from fieldwork.extensions import db as _db
from fieldwork.photos.models import Photo
from fieldwork.photos.pipeline import ERROR_MESSAGES
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.timeutil import add_months, current_month, month_bounds, now_utc
from fieldwork.visits.models import Visit
from tests.factories import DIMS, answers, gps, photo_jpeg, upload_photo, visit_record

HOME = (32.995, 112.541)
DIM_LABELS = ("收入（稳定生活来源）", "住房（稳定住所）", "教育", "医疗", "就业", "养老")


def point_at(distance_m: float, bearing: float = 90, origin=HOME) -> tuple[float, float]:
    p = geodesic(meters=distance_m).destination(origin, bearing=bearing)
    return p.latitude, p.longitude


# A camera-sized photo for the visit form.
PAGE_PHOTO = {"size": (800, 600), "background": (200, 180, 160), "blocks": 20, "block": (120, 90)}


def count(model) -> int:
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def stored_files(app) -> list[Path]:
    root = Path(app.config["PHOTO_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture
def helper(make_user):
    return make_user("helper", display_name="王帮扶")


@pytest.fixture
def household(make_household, helper):
    return make_household(helper=helper, head_name="张桂兰", members_count=2,
                          ref_lat=HOME[0], ref_lon=HOME[1])


@pytest.fixture
def as_helper(auth, helper):
    auth.login(as_=helper)
    return helper


# ------------------------------------------------------------------ the form

def pulled(client) -> dict[str, dict[str, Any]]:
    """The helper's pull, the data their field pages are drawn from: {head name: household}."""
    response = client.get("/api/sync/v1/pull")
    assert response.status_code == 200
    return {h["head_name"]: h for h in response.get_json()["households"]}


def test_the_form_has_every_part_of_the_survey(client, as_helper, household):
    # The page is the shell; static/js/pages/visit.js draws the form from the pulled schema.
    assert client.get(f"/households/{household.id}/visits/new").status_code == 200
    response = client.get("/api/sync/v1/pull").get_json()
    fields = {f["name"]: f for f in response["forms"]["visit"]["fields"]}
    labels = {g["label"] for g in response["forms"]["visit"]["groups"]} | {
        f["label"] for f in fields.values()}
    for dim, label in zip(DIMS, DIM_LABELS, strict=True):
        assert f"{dim}_status" in fields and f"{dim}_note" in fields
        assert any(label in x for x in labels), label
    for name in ("present", "household_income", "needs", "next_steps"):
        assert name in fields
    [mine] = response["households"]
    assert (mine["head_name"], mine["members_count"]) == ("张桂兰", 2)  # "人均月收入…（2 人）"


def test_the_form_lists_the_households_measures(client, as_helper, household, world):
    from fieldwork.households.models import Measure, PlanMeasure

    m = Measure(county_id=world.county.id, area="income", name="城镇低保金")
    ended = Measure(county_id=world.county.id, area="housing", name="已停发的租赁补贴")
    _db.session.add_all([m, ended])
    _db.session.flush()
    _db.session.add_all([
        PlanMeasure(household_id=household.id, measure_id=m.id, start_date=date(2025, 1, 1)),
        PlanMeasure(household_id=household.id, measure_id=ended.id,
                    start_date=date(2024, 1, 1), end_date=date(2024, 12, 31)),
    ])
    _db.session.commit()
    response = client.get("/api/sync/v1/pull").get_json()
    fields = {f["name"]: f for f in response["forms"]["visit"]["fields"]}
    assert fields["measures_delivered"]["options_from"] == "household.measures"
    measures = pulled(client)["张桂兰"]["measures"]
    assert [(x["id"], x["name"]) for x in measures] == [(m.id, "城镇低保金")]


# ------------------------------------------------------------------ saving a visit
# The form on the phone (static/js/pages/visit.js) writes the visit to the outbox; the sender
# pushes the record, then uploads its photos (docs/sync-protocol.md). These tests send what
# the sender sends.

def push(client, *records: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/api/sync/v1/push", json={"device_id": "phone-1",
                                                      "records": list(records)})
    assert response.status_code == 200
    return response.get_json()["results"]


def upload(client, photo_id: str, data: bytes):
    return upload_photo(client, photo_id, data)


def record(household, *, location: Any = HOME, photos=(), **over: Any) -> dict[str, Any]:
    """The visit as the form saves it: twenty minutes ago, at location (a GPS fix, or None),
    the answers the tests below vary."""
    return visit_record(
        str(household.id), photos=photos,
        visited_at=(now_utc() - timedelta(minutes=20)).isoformat(),
        location=gps(*location) if location is not None else None,
        answers=answers(present="户主本人、配偶", household_income="1200", needs="",
                        next_steps=""), **over)


def page_photo() -> bytes:
    return photo_jpeg(**PAGE_PHOTO)


def test_saving_a_visit_with_a_photo_and_a_fix(app, client, as_helper, household):
    here = point_at(120)
    data = page_photo()
    rec = record(household, location=here, photos=[data])
    [result] = push(client, rec)
    assert result["status"] == "created" and result["flags"] == []
    [photo_id] = result["missing_photos"]
    assert upload(client, photo_id, data).status_code == 201

    visit = _db.session.get(Visit, rec["id"])
    assert visit.helper_id == as_helper.id and visit.household_id == household.id
    assert (visit.lat, visit.lon) == pytest.approx(here, abs=1e-6)
    assert visit.accuracy_m == 12
    assert visit.distance_m == pytest.approx(120, abs=1)
    assert str(visit.per_capita_income) == "600.00"
    assert visit.photos_declared == visit.photos_stored == 1
    assert visit.flags == []
    photo = _db.session.scalar(sa.select(Photo).where(Photo.visit_id == rec["id"]))
    assert photo.id == photo_id
    assert photo.stored and photo.caption == "household"
    assert len(stored_files(app)) == 2  # the photo and its thumbnail

    page = client.get(f"/visits/{rec['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    distance = re.search(r'data-testid="visit-distance">([^<]*)<', html).group(1)
    assert distance.strip() == "120 米"
    assert "无疑点" in html
    assert f"/photos/{photo.id}/thumb.jpg" in html and f"/photos/{photo.id}.jpg" in html
    thumb = client.get(f"/photos/{photo.id}/thumb.jpg")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.data)).size[0] <= 320


def test_the_visit_page_shows_the_flags_with_reasons(client, as_helper, household):
    rec = record(household, location=None)
    [result] = push(client, rec)
    assert result["status"] == "created"
    assert result["flags"] == ["no_location", "no_photo"]
    html = client.get(f"/visits/{rec['id']}").get_data(as_text=True)
    assert "无疑点" not in html
    flags = re.findall(r'data-flag="([a-z_]+)"', html)
    assert flags == ["no_location", "no_photo"]
    assert "无定位" in html and "走访时没有取得定位" in html
    assert "无照片" in html and "本次走访没有拍摄照片" in html


def test_a_far_visit_shows_how_far(client, as_helper, household):
    rec = record(household, location=point_at(5000), photos=[page_photo()])
    [result] = push(client, rec)
    assert "far_from_household" in result["flags"]
    html = client.get(f"/visits/{rec['id']}").get_data(as_text=True)
    assert 'data-flag="far_from_household"' in html
    assert "距离住户过远" in html and "5000 米" in html


def test_a_missing_answer_is_refused_with_the_error_and_stores_nothing(app, client, as_helper,
                                                                       household):
    rec = record(household, photos=[page_photo()])
    del rec["answers"]["present"]
    rec["answers"]["household_income"] = "1234"
    [result] = push(client, rec)
    # The phone keeps the record, shows this message on the field (static/js/pages/device.js,
    # schema-form.js showErrors) and offers to fix and resend it.
    assert result["status"] == "rejected"
    assert result["errors"] == {"answers.present": "请填写“在场人员”"}
    assert count(Visit) == 0 and count(Photo) == 0
    assert stored_files(app) == []


def test_a_dimension_with_a_problem_and_no_note(client, as_helper, household):
    rec = record(household)
    rec["answers"].update(medical_status="problem", medical_note="")
    [result] = push(client, rec)
    assert result["status"] == "rejected"
    assert result["errors"] == {"answers.medical_note": "医疗不是“正常”时请说明情况"}
    assert count(Visit) == 0


def test_a_text_file_as_photo_is_refused_and_nothing_is_stored(app, client, as_helper,
                                                               household):
    note = "这不是照片".encode()
    rec = record(household, photos=[note])
    [result] = push(client, rec)
    [photo_id] = result["missing_photos"]
    response = upload(client, photo_id, note)
    assert response.status_code == 400
    assert response.get_json()["error"] == {"code": "not_image",
                                            "message": ERROR_MESSAGES["not_image"]}
    assert not _db.session.get(Photo, photo_id).stored
    assert stored_files(app) == []


def test_sending_the_same_visit_twice_keeps_one_visit(client, as_helper, household):
    data = page_photo()
    rec = record(household, photos=[data])
    [first] = push(client, rec)
    [photo_id] = first["missing_photos"]
    assert upload(client, photo_id, data).status_code == 201
    [second] = push(client, rec)
    assert (first["status"], second["status"]) == ("created", "duplicate")
    assert first["id"] == second["id"] == rec["id"]
    assert upload(client, photo_id, data).status_code == 200
    assert count(Visit) == 1 and count(Photo) == 1
    assert _db.session.get(Visit, rec["id"]).photos_stored == 1


def test_reusing_a_saved_record_id_for_other_answers_is_refused(client, as_helper, household):
    rec = record(household)
    assert push(client, rec)[0]["status"] == "created"
    other = dict(rec, answers=dict(rec["answers"], household_income="999"))
    [result] = push(client, other)
    assert result["status"] == "rejected" and result["errors"] == {"id": "conflict"}
    assert count(Visit) == 1
    assert str(_db.session.get(Visit, rec["id"]).household_income) == "1200.00"


@pytest.mark.usefixtures("fresh_g")
@pytest.mark.parametrize("role", ["county_officer", "street_reviewer", "community_worker",
                                  "city_supervisor"])
def test_officers_get_404_on_the_form_and_cannot_record_a_visit(client, auth, make_user,
                                                                 household, role):
    auth.login(as_=make_user(role))
    assert client.get(f"/households/{household.id}/visits/new").status_code == 404
    [result] = push(client, record(household, photos=[page_photo()]))
    assert result["status"] == "rejected" and set(result["errors"]) == {"type"}
    assert count(Visit) == 0 and count(Photo) == 0


def test_another_helper_gets_404_on_the_form(client, auth, make_user, household):
    auth.login(as_=make_user("helper"))
    assert client.get(f"/households/{household.id}/visits/new").status_code == 404
    assert client.get(f"/households/{household.id}").status_code == 404
    [result] = push(client, record(household, photos=[page_photo()]))
    assert result["status"] == "rejected"
    assert result["errors"] == {"household_id": "该户不在您的帮扶名单中"}
    assert count(Visit) == 0 and count(Photo) == 0


def test_a_photo_of_another_helpers_visit_is_404(client, auth, make_user, as_helper,
                                                 household):
    data = page_photo()
    [result] = push(client, record(household, photos=[data]))
    [photo_id] = result["missing_photos"]
    auth.logout()
    auth.login(as_=make_user("helper"))
    response = upload(client, photo_id, data)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_photo"
    assert not _db.session.get(Photo, photo_id).stored


# ------------------------------------------------------------------ the household file

@pytest.mark.usefixtures("fresh_g")
def test_the_household_page_masks_the_id_number(client, auth, make_user, helper, household):
    number = make_test_id_number("411302", date(1968, 5, 4), 123)
    protected = protect_id(number)
    from fieldwork.households.models import Member

    _db.session.add(Member(household=household, name=household.head_name, relation="self",
                           id_enc=protected.enc, id_index=protected.index,
                           id_mask=protected.mask))
    _db.session.commit()

    # The office's page shows the masked number.
    auth.login(as_=make_user("county_officer"))
    html = client.get(f"/households/{household.id}").get_data(as_text=True)
    assert re.search(r"4113\*{10}" + re.escape(number[-4:]), html)
    assert number not in html and number[4:14] not in html
    auth.logout()
    # The helper's page is drawn from the pull, which carries no part of the number at all.
    auth.login(as_=helper)
    assert client.get(f"/households/{household.id}").status_code == 200
    raw = client.get("/api/sync/v1/pull").get_data(as_text=True)
    assert "张桂兰" in pulled(client)
    assert number[-4:] not in raw and number[:6] not in raw


def test_the_household_page_lists_recent_visits(client, as_helper, household, make_visit):
    make_visit(household, as_helper, flags=["no_photo"], distance_m=87.4)
    assert client.get(f"/households/{household.id}").status_code == 200
    [visit] = pulled(client)["张桂兰"]["recent_visits"]
    assert visit["distance_m"] == 87  # "距离 87 米"
    assert visit["helper_name"] == "王帮扶"
    assert visit["flags"] == [{"code": "no_photo", "label": "无照片"}]


def test_a_photo_stored_after_the_pull_reaches_the_household_page(client, as_helper, household):
    """The household page shows a visit's thumbnails (recent_visits.photo_ids): a photo that
    arrives after the phone's last pull sends the household again in the next one."""
    from fieldwork.places.models import PolicySettings
    from offline_sync.models import SyncCursor

    data = page_photo()
    rec = record(household, photos=[data])
    [photo_id] = push(client, rec)[0]["missing_photos"]
    first = client.get("/api/sync/v1/pull").get_json()
    [visit] = first["households"][0]["recent_visits"]
    assert (visit["id"], visit["photo_ids"]) == (rec["id"], [])
    # Make that pull look an hour old, so that only a change made after it sends the
    # household again (not the overlap window of offline_sync/services.py: CURSOR_OVERLAP).
    long_ago = now_utc() - timedelta(hours=2)
    _db.session.get(SyncCursor, first["cursor"]).issued_at = now_utc() - timedelta(hours=1)
    household.updated_at = long_ago
    for p in _db.session.scalars(sa.select(PolicySettings)):
        p.updated_at = long_ago
    _db.session.commit()
    assert client.get(f"/api/sync/v1/pull?since={first['cursor']}").get_json()[
        "households"] == []

    assert upload(client, photo_id, data).status_code == 201
    body = client.get(f"/api/sync/v1/pull?since={first['cursor']}").get_json()
    assert body["full"] is False
    [again] = body["households"]
    assert again["id"] == str(household.id)
    assert again["recent_visits"][0]["photo_ids"] == [photo_id]


def test_the_household_page_carries_the_file(client, as_helper, make_household, make_user,
                                             world):
    """What the household page showed online is in the pull the page is now drawn from."""
    from fieldwork.households.models import Member

    h = make_household(helper=as_helper, head_name="刘建国", phone="13812345678",
                       causes=["illness"], ref_lat=HOME[0], ref_lon=HOME[1])
    _db.session.add(Member(household_id=h.id, name="刘小明", relation="child",
                           health="", schooling_stage="primary"))
    _db.session.commit()
    mine = pulled(client)["刘建国"]
    assert mine["phone_mask"].startswith("138") and mine["phone_mask"].endswith("5678")
    assert "12345678" not in str(mine)
    assert mine["causes"] == ["重大疾病"]
    assert [(m["name"], m["schooling"]) for m in mine["members"]] == [("刘小明", "小学")]
    assert mine["assignments"][0]["helper_name"] == "王帮扶"
    assert mine["assignments"][0]["end_date"] is None
    assert mine["reference"]["lat"] == pytest.approx(HOME[0])
    assert mine["status_label"] and mine["category_label"]


# ------------------------------------------------------------------ the helper's list

def in_this_month():
    month = current_month()
    start = month_bounds(month)[0]
    return start + (now_utc() - start) / 2


def in_last_month():
    return month_bounds(add_months(current_month(), -1))[0] + timedelta(days=3)


def order_of(html: str, names: list[str]) -> list[str]:
    found = {n: html.find(n) for n in names}
    assert all(i >= 0 for i in found.values()), found
    return sorted(names, key=found.get)


def test_my_list_puts_overdue_first(client, as_helper, make_household, make_visit):
    """The states the list orders by (overdue, due, visited); the order itself and the chips
    are drawn by static/js/pages/mine.js: tests/browser/test_field_pages.py."""
    visited = make_household(helper=as_helper, head_name="甲已走访")
    due = make_household(helper=as_helper, head_name="乙待走访")
    overdue = make_household(helper=as_helper, head_name="丙逾期")
    make_visit(visited, as_helper, visited_at=in_this_month())
    make_visit(visited, as_helper, visited_at=in_last_month())
    make_visit(due, as_helper, visited_at=in_last_month())
    assert overdue is not None

    assert client.get("/households/mine").status_code == 200
    states = {name: h["visit_state"] for name, h in pulled(client).items()}
    assert states == {"甲已走访": "visited", "乙待走访": "due", "丙逾期": "overdue"}


def test_my_list_shows_only_my_enrolled_households(client, as_helper, make_household,
                                                  make_user):
    make_household(helper=as_helper, head_name="我的住户")
    make_household(helper=as_helper, head_name="已退出住户", status="exited")
    make_household(helper=make_user("helper"), head_name="别人的住户")
    assert set(pulled(client)) == {"我的住户"}


def test_my_list_carries_what_the_distance_sort_needs(client, as_helper, make_household):
    """Sorting by distance happens on the phone (tests/browser/test_field_pages.py): the pull
    carries each reference point, and none for a household without one."""
    lat, lon = point_at(520, 200)
    make_household(helper=as_helper, head_name="丙五百米", ref_lat=lat, ref_lon=lon)
    make_household(helper=as_helper, head_name="乙无位置")
    mine = pulled(client)
    assert mine["丙五百米"]["location"] == {"lat": pytest.approx(lat), "lon": pytest.approx(lon)}
    assert mine["乙无位置"]["location"] is None


@pytest.mark.usefixtures("fresh_g")
def test_officers_have_no_helper_list(client, auth, make_user):
    auth.login(as_=make_user("county_officer"))
    assert client.get("/households/mine").status_code == 404

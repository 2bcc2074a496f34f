"""The visit pages as a helper uses them without the offline app: the form, saving it with a
photo and a GPS fix, the recorded visit, the household file and the helper's list."""

from __future__ import annotations

import io
import re
import uuid
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
from tests.factories import DIMS, photo_jpeg

HOME = (32.995, 112.541)
DIM_LABELS = ("收入（稳定生活来源）", "住房（稳定住所）", "教育", "医疗", "就业", "养老")


def point_at(distance_m: float, bearing: float = 90, origin=HOME) -> tuple[float, float]:
    p = geodesic(meters=distance_m).destination(origin, bearing=bearing)
    return p.latitude, p.longitude


# A camera-sized photo for the visit form.
PAGE_PHOTO = {"size": (800, 600), "background": (200, 180, 160), "blocks": 20, "block": (120, 90)}


def form_data(*, record_id: str | None = None, location: Any = HOME, photo: Any = "jpeg",
              **over: Any) -> dict[str, Any]:
    """What the visit form posts (the page's script fills visited_at and the GPS fields)."""
    data: dict[str, Any] = {
        "record_id": record_id or str(uuid.uuid4()),
        "visited_at": (now_utc() - timedelta(minutes=20)).isoformat(),
        "device_time": "",
        "present": "户主本人、配偶",
        "household_income": "1200",
        "needs": "",
        "next_steps": "",
        "notes": "",
    }
    for dim in DIMS:
        data[f"{dim}_status"] = "ok"
    if location is not None:
        data.update(lat=f"{location[0]:.7f}", lon=f"{location[1]:.7f}", accuracy_m="12")
    if photo == "jpeg":
        photo = (io.BytesIO(photo_jpeg(**PAGE_PHOTO)), "IMG_0001.jpg", "image/jpeg")
    if photo is not None:
        data["photo"] = photo
        data["photo_caption"] = "household"
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


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

def test_the_form_has_every_part_of_the_survey(client, as_helper, household):
    response = client.get(f"/households/{household.id}/visits/new")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "入户调查表" in page and "张桂兰" in page
    for dim, label in zip(DIMS, DIM_LABELS, strict=True):
        assert f'name="{dim}_status"' in page and label in page
        assert f'name="{dim}_note"' in page
    for name in ("present", "household_income", "needs", "next_steps", "record_id"):
        assert f'name="{name}"' in page
    assert "定位签到" in page and "data-gps" in page
    for name in ("lat", "lon", "accuracy_m"):
        assert f'name="{name}"' in page
    photo_input = re.search(r'<input[^>]*type="file"[^>]*>', page).group(0)
    assert 'name="photo"' in photo_input
    assert 'capture="environment"' in photo_input and 'accept="image/*"' in photo_input
    assert "人均月收入" in page and "（2 人）" in page


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
    page = client.get(f"/households/{household.id}/visits/new").get_data(as_text=True)
    assert f'name="measures_delivered" value="{m.id}"' in page and "城镇低保金" in page
    assert "已停发的租赁补贴" not in page


def test_saving_a_visit_with_a_photo_and_a_fix(app, client, as_helper, household):
    record_id = str(uuid.uuid4())
    here = point_at(120)
    response = client.post(f"/households/{household.id}/visits/new",
                           data=form_data(record_id=record_id, location=here))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/visits/{record_id}")

    visit = _db.session.get(Visit, record_id)
    assert visit.helper_id == as_helper.id and visit.household_id == household.id
    assert (visit.lat, visit.lon) == pytest.approx(here, abs=1e-6)
    assert visit.accuracy_m == 12
    assert visit.distance_m == pytest.approx(120, abs=1)
    assert str(visit.per_capita_income) == "600.00"
    assert visit.photos_declared == visit.photos_stored == 1
    assert visit.flags == []
    photo = _db.session.scalar(sa.select(Photo).where(Photo.visit_id == record_id))
    assert photo.stored and photo.caption == "household"
    assert len(stored_files(app)) == 2  # the photo and its thumbnail

    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "走访记录已保存" in html
    distance = re.search(r'data-testid="visit-distance">([^<]*)<', html).group(1)
    assert distance.strip() == "120 米"
    assert "无疑点" in html
    assert f"/photos/{photo.id}/thumb.jpg" in html and f"/photos/{photo.id}.jpg" in html
    thumb = client.get(f"/photos/{photo.id}/thumb.jpg")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.data)).size[0] <= 320


def test_the_visit_page_shows_the_flags_with_reasons(client, as_helper, household):
    record_id = str(uuid.uuid4())
    response = client.post(f"/households/{household.id}/visits/new",
                           data=form_data(record_id=record_id, location=None, photo=None))
    assert response.status_code == 302
    html = client.get(f"/visits/{record_id}").get_data(as_text=True)
    assert "无疑点" not in html
    flags = re.findall(r'data-flag="([a-z_]+)"', html)
    assert flags == ["no_location", "no_photo"]
    assert "无定位" in html and "走访时没有取得定位" in html
    assert "无照片" in html and "本次走访没有拍摄照片" in html


def test_a_far_visit_shows_how_far(client, as_helper, household):
    record_id = str(uuid.uuid4())
    client.post(f"/households/{household.id}/visits/new",
                data=form_data(record_id=record_id, location=point_at(5000)))
    html = client.get(f"/visits/{record_id}").get_data(as_text=True)
    assert 'data-flag="far_from_household"' in html
    assert "距离住户过远" in html and "5000 米" in html


def test_a_missing_answer_rerenders_with_the_error_and_stores_nothing(app, client, as_helper,
                                                                     household):
    data = form_data(present=None, household_income="1234")
    data.pop("present", None)
    response = client.post(f"/households/{household.id}/visits/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请填写“在场人员”" in html
    assert "请更正以下 1 处后再保存" in html
    assert 'value="1234"' in html  # what the helper typed is still there
    assert f'name="record_id" value="{data["record_id"]}"' in html  # a retry stays the same
    assert count(Visit) == 0 and count(Photo) == 0
    assert stored_files(app) == []


def test_a_dimension_with_a_problem_and_no_note(client, as_helper, household):
    response = client.post(f"/households/{household.id}/visits/new",
                           data=form_data(medical_status="problem", medical_note=""))
    assert response.status_code == 422
    assert "医疗不是“正常”时请说明情况" in response.get_data(as_text=True)
    assert count(Visit) == 0


def test_a_text_file_as_photo_is_refused_and_nothing_is_stored(app, client, as_helper,
                                                               household):
    note = (io.BytesIO("这不是照片".encode()), "note.txt", "text/plain")
    response = client.post(f"/households/{household.id}/visits/new",
                           data=form_data(photo=note))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "第 1 张照片：" + ERROR_MESSAGES["not_image"] in html
    assert count(Visit) == 0 and count(Photo) == 0
    assert stored_files(app) == []


def test_posting_the_same_form_twice_keeps_one_visit(client, as_helper, household):
    data = form_data()
    url = f"/households/{household.id}/visits/new"
    first = client.post(url, data=data)
    data["photo"] = (io.BytesIO(photo_jpeg(**PAGE_PHOTO)), "IMG_0001.jpg", "image/jpeg")
    second = client.post(url, data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert count(Visit) == 1 and count(Photo) == 1


def test_reusing_a_saved_form_for_other_answers_is_refused(client, as_helper, household):
    data = form_data(photo=None)
    url = f"/households/{household.id}/visits/new"
    assert client.post(url, data=data).status_code == 302
    response = client.post(url, data=dict(data, household_income="999"))
    assert response.status_code == 422
    assert "该表单已提交过，请重新打开走访表" in response.get_data(as_text=True)
    assert count(Visit) == 1
    assert str(_db.session.get(Visit, data["record_id"]).household_income) == "1200.00"


def test_a_garbled_record_id_does_not_break_the_form(client, as_helper, household):
    response = client.post(f"/households/{household.id}/visits/new",
                           data=form_data(record_id="not-a-uuid"))
    assert response.status_code == 302
    assert count(Visit) == 1 and count(Photo) == 1


def test_visited_at_local_is_nanyang_time(client, as_helper, household):
    """Without the page's script only the datetime-local field arrives: Nanyang wall time."""
    local_value = (now_utc() + timedelta(hours=8) - timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M")
    data = form_data(visited_at=None, visited_at_local=local_value)
    assert client.post(f"/households/{household.id}/visits/new", data=data).status_code == 302
    visit = _db.session.get(Visit, data["record_id"])
    age = now_utc() - visit.visited_at
    assert timedelta(hours=1, minutes=58) < age < timedelta(hours=2, minutes=2)


@pytest.mark.usefixtures("fresh_g")
@pytest.mark.parametrize("role", ["county_officer", "street_reviewer", "community_worker",
                                  "city_supervisor"])
def test_officers_get_404_on_the_form(client, auth, make_user, household, role):
    auth.login(as_=make_user(role))
    url = f"/households/{household.id}/visits/new"
    assert client.get(url).status_code == 404
    assert client.post(url, data=form_data()).status_code == 404
    assert count(Visit) == 0


def test_another_helper_gets_404_on_the_form(client, auth, make_user, household):
    auth.login(as_=make_user("helper"))
    assert client.get(f"/households/{household.id}/visits/new").status_code == 404
    assert client.get(f"/households/{household.id}").status_code == 404


# ------------------------------------------------------------------ the household file

@pytest.mark.usefixtures("fresh_g")
def test_the_household_page_masks_the_id_number(client, auth, make_user, helper, household):
    number = make_test_id_number("411302", date(1968, 5, 4), 123)
    protected = protect_id(number)
    household.head_id_enc, household.head_id_index = protected.enc, protected.index
    household.head_id_mask = protected.mask
    _db.session.commit()

    for user in (helper, make_user("county_officer")):
        auth.login(as_=user)
        html = client.get(f"/households/{household.id}").get_data(as_text=True)
        assert re.search(r"4113\*{10}" + re.escape(number[-4:]), html), user.role
        assert number not in html and number[4:14] not in html
        auth.logout()


def test_the_household_page_lists_recent_visits(client, as_helper, household, make_visit):
    make_visit(household, as_helper, flags=["no_photo"], distance_m=87.4)
    html = client.get(f"/households/{household.id}").get_data(as_text=True)
    assert "距离 87 米" in html and "无照片" in html and "王帮扶" in html
    assert "登记本次走访" in html


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
    visited = make_household(helper=as_helper, head_name="甲已走访")
    due = make_household(helper=as_helper, head_name="乙待走访")
    overdue = make_household(helper=as_helper, head_name="丙逾期")
    make_visit(visited, as_helper, visited_at=in_this_month())
    make_visit(visited, as_helper, visited_at=in_last_month())
    make_visit(due, as_helper, visited_at=in_last_month())
    assert overdue is not None

    html = client.get("/households/mine").get_data(as_text=True)
    assert order_of(html, ["甲已走访", "乙待走访", "丙逾期"]) == ["丙逾期", "乙待走访", "甲已走访"]
    assert "已走访 1 / 3 户" in html
    assert "逾期未走访" in html and "本月待走访" in html and "本月已走访" in html


def test_my_list_shows_only_my_enrolled_households(client, as_helper, make_household,
                                                  make_user):
    make_household(helper=as_helper, head_name="我的住户")
    make_household(helper=as_helper, head_name="已退出住户", status="exited")
    make_household(helper=make_user("helper"), head_name="别人的住户")
    html = client.get("/households/mine").get_data(as_text=True)
    assert "我的住户" in html
    assert "已退出住户" not in html and "别人的住户" not in html


def test_my_list_sorts_by_distance_when_the_phone_shares_its_position(
        client, as_helper, make_household, make_visit):
    here = (32.99, 112.53)

    def at(distance: float, bearing: float) -> dict[str, float]:
        lat, lon = point_at(distance, bearing, origin=here)
        return {"ref_lat": lat, "ref_lon": lon}

    make_household(helper=as_helper, head_name="甲五公里", **at(5000, 10))
    make_household(helper=as_helper, head_name="乙无位置")
    make_household(helper=as_helper, head_name="丙五百米", **at(520, 200))
    make_household(helper=as_helper, head_name="丁两公里", **at(2000, 300))
    near_but_visited = make_household(helper=as_helper, head_name="戊已走访", **at(50, 0))
    make_visit(near_but_visited, as_helper, visited_at=in_this_month())
    make_visit(near_but_visited, as_helper, visited_at=in_last_month())
    names = ["甲五公里", "乙无位置", "丙五百米", "丁两公里", "戊已走访"]

    plain = client.get("/households/mine").get_data(as_text=True)
    assert order_of(plain, names) == ["丁两公里", "丙五百米", "乙无位置", "甲五公里", "戊已走访"]

    html = client.get(f"/households/mine?lat={here[0]}&lon={here[1]}").get_data(as_text=True)
    assert order_of(html, names) == ["丙五百米", "丁两公里", "甲五公里", "乙无位置", "戊已走访"]
    assert "约 2.0 km" in html and "约 5.0 km" in html

    # A position that is not one is ignored rather than an error.
    bad = client.get("/households/mine?lat=north&lon=112.5")
    assert bad.status_code == 200
    assert order_of(bad.get_data(as_text=True), names)[0] == "丁两公里"


def test_my_list_search_by_name_or_address(client, as_helper, make_household):
    make_household(helper=as_helper, head_name="张桂兰", address="东关街道建设路1号")
    make_household(helper=as_helper, head_name="刘建国", address="新华街道人民路8号")
    make_household(helper=as_helper, head_name="王秀英", address="新华街道人民路20号")

    by_address = client.get("/households/mine?q=人民路").get_data(as_text=True)
    assert "刘建国" in by_address and "王秀英" in by_address and "张桂兰" not in by_address

    by_name = client.get("/households/mine?q=张桂").get_data(as_text=True)
    assert "张桂兰" in by_name and "刘建国" not in by_name and "王秀英" not in by_name

    none = client.get("/households/mine?q=不存在的路").get_data(as_text=True)
    assert "没有找到与“不存在的路”相符的帮扶户" in none
    assert "张桂兰" not in none


def test_my_list_answers_htmx_with_the_list_only(client, as_helper, make_household):
    make_household(helper=as_helper, head_name="刘建国", address="人民路8号")
    response = client.get("/households/mine?q=刘", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "HX-Request" in response.headers.get("Vary", "")
    html = response.get_data(as_text=True)
    assert "刘建国" in html and "<html" not in html
    full = client.get("/households/mine?q=刘")
    assert "<html" in full.get_data(as_text=True)
    assert "HX-Request" in full.headers.get("Vary", "")


@pytest.mark.usefixtures("fresh_g")
def test_officers_have_no_helper_list(client, auth, make_user):
    auth.login(as_=make_user("county_officer"))
    assert client.get("/households/mine").status_code == 404

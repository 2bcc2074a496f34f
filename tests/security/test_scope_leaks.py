"""Lookups that take an ID number, a name, a location or an id must not answer with another
area's households (security audit, issue 11, finding 1 and part of finding 7).

- the duplicate check (POST /api/sync/v1/discovery/check): reporting roles only; candidates
  outside the caller's scope are told only as "a match exists in county X, ask its office",
  and only for a same-ID match; braked per account; every call audited without the number;
- the duplicate hint on /reviews/new and on a report: out-of-scope candidates carry no id,
  name, address, status or file number;
- discovery-report photos: a department reviewer opens only those of reports that became a
  case it screens.
"""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.privacy.idnumber import make_test_id_number, mask_id_number
from tests.factories import csrf_token, photo_jpeg, sha

from .conftest import ID_A, ID_B, ID_B_MEMBER, body_text, login

pytestmark = pytest.mark.usefixtures("fresh_g")

CHECK = "/api/sync/v1/discovery/check"
REPORTERS = ("community_worker", "street_reviewer", "county_officer")
NON_REPORTERS = ("helper", "department_reviewer", "city_supervisor", "admin")
OUT_KEYS = {"in_scope", "reason", "county", "advice"}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def check(client, **body):
    return client.post(CHECK, json=body, headers={"X-CSRFToken": csrf_token(client)})


def household_b_strings(scene) -> list[str]:
    """Everything that would identify county B's household, as text and as JSON values."""
    hh = scene.hh_b
    return [*scene.secrets_b, hh.file_no, mask_id_number(ID_B), mask_id_number(ID_B_MEMBER),
            f'"household_id": {hh.id}', f'"household_id":{hh.id}', hh.status]


def assert_no_trace_of_b(scene, response) -> None:
    raw = response.get_data(as_text=True)
    readable = body_text(response)
    for secret in household_b_strings(scene):
        assert secret not in raw, secret
        assert secret not in readable, secret
    # Nor in \u-escaped form: the raw JSON may escape Chinese characters.
    escaped = json.dumps(scene.hh_b.head_name)[1:-1]
    assert escaped not in raw


def check_events(db) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "discovery.check").order_by(AuditEvent.id)))


# ---------------------------------------------------------------- who may ask


@pytest.mark.parametrize("role", NON_REPORTERS)
def test_roles_that_do_not_report_are_refused_with_json(client, db, scene, role):
    login(client, scene.users[role])
    response = check(client, id_number=ID_B)
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden"
    assert "只有社区(村)工作人员、街道(乡镇)审核人和县级解困办可以核对重复登记" in error["message"]
    assert "candidates" not in response.get_json()
    assert_no_trace_of_b(scene, response)
    [event] = check_events(db)
    assert (event.user_id, event.detail["outcome"]) == (scene.users[role].id, "forbidden")


# ---------------------------------------------------------------- what they learn


@pytest.mark.parametrize("role", REPORTERS)
def test_an_id_of_another_county_answers_only_where_to_turn(client, db, scene, role):
    login(client, scene.users[role])
    response = check(client, id_number=ID_B, head_name=scene.hh_b.head_name,
                     address=scene.hh_b.address)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    [candidate] = response.get_json()["candidates"]
    assert set(candidate) == OUT_KEYS
    assert candidate["in_scope"] is False
    assert candidate["reason"] == "same_id"
    assert candidate["county"] == "卧龙区"
    assert candidate["advice"] == "该家庭已在其他辖区登记，请联系卧龙区解困办核实"
    assert_no_trace_of_b(scene, response)


def test_a_members_id_of_another_county_is_told_the_same_way(client, scene):
    login(client, scene.users["community_worker"])
    response = check(client, id_number=ID_B_MEMBER)
    [candidate] = response.get_json()["candidates"]
    assert set(candidate) == OUT_KEYS and candidate["county"] == "卧龙区"
    assert_no_trace_of_b(scene, response)


def test_several_matches_in_one_county_are_one_answer(client, db, scene, make_household):
    """How many households of county B hold the number is not the caller's business."""
    from fieldwork.households.models import Member
    from fieldwork.privacy.service import protect_id

    other = make_household(place=scene.world.community_b, head_name="卧龙另一户",
                           address="卧龙区另一巷1号")
    p = protect_id(ID_B)
    db.session.add(Member(household_id=other.id, name="卧龙同号人", relation="other",
                          id_enc=p.enc, id_index=p.index, id_mask=p.mask))
    db.session.commit()
    login(client, scene.users["county_officer"])
    response = check(client, id_number=ID_B)
    assert response.get_json()["candidates"] == [{
        "in_scope": False, "reason": "same_id", "county": "卧龙区",
        "advice": "该家庭已在其他辖区登记，请联系卧龙区解困办核实"}]
    assert "卧龙另一户" not in body_text(response) and "卧龙同号人" not in body_text(response)


def test_in_scope_candidates_keep_their_details(client, scene):
    login(client, scene.users["community_worker"])
    response = check(client, id_number=ID_A)
    [candidate] = response.get_json()["candidates"]
    assert candidate == {"in_scope": True, "household_id": scene.hh_a.id,
                         "head_name": scene.hh_a.head_name, "address": scene.hh_a.address,
                         "status": scene.hh_a.status, "why": ["same_id"]}


def test_a_location_sweep_reveals_nothing_outside_scope(client, db, scene):
    """A grid of locations over county B: not even "something exists" comes back."""
    scene.hh_b.ref_lat, scene.hh_b.ref_lon = 32.98912, 112.52034
    scene.hh_a.ref_lat, scene.hh_a.ref_lon = 32.99512, 112.54121
    db.session.commit()
    login(client, scene.users["community_worker"])
    for dlat in (-0.0002, 0.0, 0.0002):
        for dlon in (-0.0002, 0.0, 0.0002):
            response = check(client, location={"lat": 32.98912 + dlat, "lon": 112.52034 + dlon,
                                               "accuracy_m": 10, "source": "gps"})
            assert response.status_code == 200
            assert response.get_json()["candidates"] == []
            assert_no_trace_of_b(scene, response)
    # The same check at the caller's own household still finds it.
    response = check(client, location={"lat": 32.99512, "lon": 112.54121, "accuracy_m": 10,
                                       "source": "gps"})
    [candidate] = response.get_json()["candidates"]
    assert candidate["household_id"] == scene.hh_a.id and candidate["why"] == ["nearby"]


def test_a_name_match_in_a_neighbouring_community_is_not_told(client, scene, make_household):
    """The name search covers the community's street; a community worker's scope is the
    community: a same-name household next door stays unseen through the check."""
    make_household(place=scene.world.community_2, head_name="邻社区同名户",
                   address="东关街道幸福路3号")
    login(client, scene.users["community_worker"])
    response = check(client, head_name="邻社区同名户", address="东关街道幸福路3号",
                     region_id=scene.world.community.id)
    assert response.status_code == 200
    assert response.get_json()["candidates"] == []
    assert "幸福路" not in body_text(response)


def test_a_region_outside_scope_is_refused(client, scene):
    login(client, scene.users["community_worker"])
    response = check(client, head_name=scene.hh_b.head_name,
                     region_id=scene.world.community_b.id)
    assert response.status_code == 422
    assert "所选社区不在您的辖区内" in response.get_json()["error"]["fields"]["region_id"]
    assert_no_trace_of_b(scene, response)


# ---------------------------------------------------------------- the audit trail


def test_every_check_is_audited_without_the_number(client, db, scene):
    user = scene.users["community_worker"]
    login(client, user)
    check(client, id_number=ID_B)
    check(client, id_number=ID_A)
    check(client, id_number="123")  # invalid: still audited
    first, second, third = check_events(db)
    assert all(e.user_id == user.id and e.username == user.username for e in check_events(db))
    assert first.place_id == scene.world.county.id  # the caller's county office reads it
    assert first.detail["outcome"] == "ok"
    assert (first.detail["candidates"], first.detail["in_scope"],
            first.detail["out_of_scope"]) == (1, 0, 1)
    assert first.detail["counties"] == ["卧龙区"]
    assert first.detail["id_mask"] == mask_id_number(ID_B)
    assert (second.detail["in_scope"], second.detail["out_of_scope"]) == (1, 0)
    assert second.detail["households"] == [scene.hh_a.id]
    assert third.detail["outcome"] == "invalid" and third.detail["fields"] == ["id_number"]
    stored = "\n".join(str(v) for row in db.session.execute(sa.text(
        "SELECT * FROM audit_events")) for v in row)
    for number in (ID_A, ID_B):
        assert number not in stored and number[:17] not in stored
    assert scene.hh_b.head_name not in stored and scene.hh_b.address not in stored


# ---------------------------------------------------------------- the brake


class TestBrake:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "RATELIMIT_ENABLED": True}

    def test_thirty_checks_a_minute_per_account(self, client, scene, make_user):
        from offline_sync.views import DISCOVERY_CHECK_LIMIT

        assert DISCOVERY_CHECK_LIMIT == "30/minute"
        login(client, scene.users["community_worker"])
        token = csrf_token(client)
        for i in range(30):
            response = client.post(CHECK, json={"id_number": ID_A},
                                   headers={"X-CSRFToken": token},
                                   environ_base={"REMOTE_ADDR": f"10.9.0.{i + 1}"})
            assert response.status_code == 200, i
        response = client.post(CHECK, json={"id_number": ID_A}, headers={"X-CSRFToken": token},
                               environ_base={"REMOTE_ADDR": "10.9.1.1"})
        assert response.status_code == 429
        assert response.get_json()["error"] == {"code": "rate_limited",
                                                "message": "操作过于频繁，请稍后再试"}
        # Another account (same office, same address) is not held back.
        other = make_user("community_worker", username="another-worker")
        login(client, other)
        response = client.post(CHECK, json={"id_number": ID_A},
                               headers={"X-CSRFToken": csrf_token(client)},
                               environ_base={"REMOTE_ADDR": "10.9.1.1"})
        assert response.status_code == 200


# ---------------------------------------------------------------- the review pages


def _enter_case_as_community_worker(client, scene, id_number: str, address: str):
    """POST /reviews/new for a new applicant in county A's community with this ID number."""
    login(client, scene.users["community_worker"])
    return client.post("/reviews/new", data={
        "csrf_token": csrf_token(client), "head_name": "新申请人", "id_number": id_number,
        "address": address, "place_id": str(scene.world.community.id),
        "members_count": "2", "category": "below_dibao", "causes": ["illness"],
        "situation": "失业后无收入"})


def test_the_entry_hint_names_only_the_county_of_an_out_of_scope_match(client, db, scene,
                                                                       make_household):
    """/reviews/new: an application whose ID belongs to a household of county B that left
    the programme (so it may apply again) shows that a match exists there, nothing more."""
    from fieldwork.privacy.service import protect_id

    number = make_test_id_number("411303", date(1960, 2, 3), 77)
    p = protect_id(number)
    left = make_household(place=scene.world.community_b, status="exited",
                          head_name="卧龙已退出户", address="卧龙区退出巷5号",
                          head_id_enc=p.enc, head_id_index=p.index, head_id_mask=p.mask)
    response = _enter_case_as_community_worker(client, scene, number, "东关街道建设路20号")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    # (The number the user typed is echoed back in the form field: their own input.)
    for secret in (left.head_name, left.address, left.file_no, p.mask,
                   f'name="household_id" value="{left.id}"', f'data-candidate="{left.id}"'):
        assert secret not in html, secret
    assert 'data-testid="candidate-elsewhere"' in html
    assert "身份证号相同" in html
    assert "该家庭已在其他辖区登记，请联系卧龙区解困办核实" in html


def test_an_active_household_elsewhere_is_refused_with_where_to_turn(client, scene):
    """/reviews/new with the ID of county B's enrolled household: refused (one person heads
    one household), saying whom to ask, and nothing about the household itself."""
    response = _enter_case_as_community_worker(client, scene, ID_B, "东关街道建设路21号")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for secret in (scene.hh_b.head_name, scene.hh_b.address, scene.hh_b.file_no,
                   mask_id_number(ID_B), f'name="household_id" value="{scene.hh_b.id}"'):
        assert secret not in html, secret
    assert "不能重复登记" in html and "请联系卧龙区解困办核实" in html


def test_the_report_page_shows_an_out_of_scope_match_by_county_only(client, db, scene):
    """A report whose reporter's GPS falls next to a county-B household: the street reviewer
    is told a match exists in 卧龙区, not which household."""
    from fieldwork.discovery.models import DiscoveryReport

    report = DiscoveryReport(id=str(uuid.uuid4()), reporter_id=scene.users[
        "community_worker"].id, place_id=scene.world.community.id, address="东关街道路边",
        head_name="路边发现户", reason="无收入", answers={"head_name": "路边发现户"},
        lat=32.98912, lon=112.52034)
    scene.hh_b.ref_lat, scene.hh_b.ref_lon = 32.98912, 112.52034
    db.session.add(report)
    db.session.commit()
    login(client, scene.users["street_reviewer"])
    response = client.get(f"/reviews/reports/{report.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for secret in (*scene.secrets_b, scene.hh_b.file_no,
                   f'name="household_id" value="{scene.hh_b.id}"',
                   f'data-candidate="{scene.hh_b.id}"'):
        assert secret not in html, secret
    assert "请联系卧龙区解困办核实" in html and "位置相距不到50米" in html


# ---------------------------------------------------------------- report photos


def _report_photo(db, scene, *, seed: int) -> tuple[str, str]:
    """A county-A discovery report with a stored photo, and no case."""
    from fieldwork.discovery.models import DiscoveryReport
    from fieldwork.photos import services as photos
    from fieldwork.photos.models import Photo

    reporter = scene.users["community_worker"]
    report = DiscoveryReport(id=str(uuid.uuid4()), reporter_id=reporter.id,
                             place_id=scene.world.community.id, address="东关街道另一路3号",
                             head_name="另一发现户", reason="无收入",
                             answers={"head_name": "另一发现户"}, photos_declared=1)
    db.session.add(report)
    db.session.flush()
    data = photo_jpeg(seed)
    photo = Photo(id=str(uuid.uuid4()), discovery_id=report.id, uploader_id=reporter.id,
                  declared_sha256=sha(data), declared_bytes=len(data))
    db.session.add(photo)
    db.session.commit()
    assert photos.upload(photo.id, data, sha(data), reporter.id).status == 201
    db.session.commit()
    return report.id, photo.id


def test_a_department_reviewer_sees_only_photos_of_cases_it_screens(client, db, scene):
    from fieldwork.households.models import Case

    uncased_report, uncased_photo = _report_photo(db, scene, seed=31)
    other_report, other_photo = _report_photo(db, scene, seed=32)
    # A case of another body (商务局) on a county-A household, from the second report.
    db.session.add(Case(household_id=scene.hh_a.id, stage="department_review",
                        channel="departmental", organisation="商务局", kind="intake",
                        discovery_id=other_report,
                        opened_by_id=scene.users["county_officer"].id))
    db.session.commit()
    login(client, scene.users["department_reviewer"])  # 民政局 of 宛城区
    assert client.get(f"/photos/{uncased_photo}.jpg").status_code == 404
    assert client.get(f"/photos/{uncased_photo}/thumb.jpg").status_code == 404
    # Not rescued by a foreign case on a household it happens to see through its own case.
    assert client.get(f"/photos/{other_photo}.jpg").status_code == 404
    # A community worker of the place still reviews it.
    login(client, scene.users["community_worker"])
    assert client.get(f"/photos/{uncased_photo}.jpg").status_code == 200


def test_a_department_reviewer_sees_photos_of_the_report_behind_its_case(client, db, scene):
    from fieldwork.photos import services as photos
    from fieldwork.photos.models import Photo

    # case_a (民政局, sector) came from report_a: its photo is the reviewer's to see.
    data = photo_jpeg(33)
    photo = Photo(id=str(uuid.uuid4()), discovery_id=scene.report_a.id,
                  uploader_id=scene.users["community_worker"].id,
                  declared_sha256=sha(data), declared_bytes=len(data))
    db.session.add(photo)
    db.session.commit()
    assert photos.upload(photo.id, data, sha(data), scene.users["community_worker"].id
                         ).status == 201
    db.session.commit()
    login(client, scene.users["department_reviewer"])
    assert client.get(f"/photos/{photo.id}.jpg").status_code == 200

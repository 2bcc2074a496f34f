"""ID numbers (居民身份证号): validated at every entry point, stored only encrypted (with a blind
index that finds duplicates), masked on every page, and shown in full only to an allowed role
that gives a reason — which lands in the audit log."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.privacy.idnumber import check_digit, make_test_id_number, mask_id_number
from fieldwork.privacy.service import cipher
from tests.factories import csrf_token

from .conftest import ID_A, ID_A_MEMBER, ID_B, login

pytestmark = pytest.mark.usefixtures("fresh_g")

NEW_ID = make_test_id_number("411302", date(1980, 6, 15), 555)


def wrong_check_digit(number: str) -> str:
    bad = next(c for c in "0123456789X" if c != check_digit(number[:17]))
    return number[:17] + bad


def bad_ids() -> list[tuple[str, str, str]]:
    out = []
    feb = "41130219990230123"
    out.append(("30 February", feb + check_digit(feb), "身份证号中的出生日期无效"))
    tomorrow = date.today() + timedelta(days=2)
    future = f"411302{tomorrow:%Y%m%d}123"
    out.append(("born in the future", future + check_digit(future),
                "身份证号中的出生日期不能晚于今天"))
    out.append(("check digit", wrong_check_digit(NEW_ID), "身份证号校验位不正确"))
    out.append(("too short", NEW_ID[:17], "身份证号应为18位"))
    out.append(("letters", "4113021980061555A1", "身份证号格式不正确"))
    out.append(("unknown province", "99" + NEW_ID[2:17] + check_digit("99" + NEW_ID[2:17]),
                "身份证号前6位地区码无效"))
    return out


def discovery(region_id: int, id_number: str, **answers) -> dict:
    return {"type": "discovery", "id": str(uuid.uuid4()), "region_id": str(region_id),
            "address": "东关街道新发现路8号", "reason": "家中主要劳动力重病",
            "answers": {"head_name": answers.pop("head_name", "新发现户主"),
                        "id_number": id_number, "members_count": 3, **answers}}


def push(client, *records):
    return client.post("/api/sync/v1/push", json={"device_id": "phone-9",
                                                  "records": list(records)},
                       headers={"X-CSRFToken": csrf_token(client)})


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


@pytest.fixture
def reporter(client, scene):
    login(client, scene.users["community_worker"])
    return scene.users["community_worker"]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(("name", "number", "message"), bad_ids(), ids=[b[0] for b in bad_ids()])
def test_discovery_push_refuses_an_invalid_number(client, db, scene, reporter, name, number,
                                                   message):
    response = push(client, discovery(scene.world.community.id, number))
    assert response.status_code == 200
    [result] = response.get_json()["results"]
    assert result["status"] == "rejected"
    assert message in result["errors"]["answers.id_number"]
    assert db.session.scalar(sa.select(sa.func.count(DiscoveryReport.id))) == 2  # the scene's


@pytest.mark.parametrize(("name", "number", "message"), bad_ids(), ids=[b[0] for b in bad_ids()])
def test_duplicate_check_refuses_an_invalid_number(client, scene, reporter, name, number,
                                                    message):
    response = client.post("/api/sync/v1/discovery/check", json={"id_number": number},
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 422
    assert message in response.get_json()["error"]["fields"]["id_number"]


def test_full_width_and_lower_case_x_are_accepted(client, db, scene, reporter):
    number = make_test_id_number("411302", date(1975, 1, 1), 10)
    while not number.endswith("X"):
        number = make_test_id_number("411302", date(1975, 1, 1), int(number[14:17]) + 1)
    typed = "".join(chr(ord(c) + 0xFEE0) for c in number[:17]) + "x"  # ４１１３… x
    response = push(client, discovery(scene.world.community.id, typed))
    [result] = response.get_json()["results"]
    assert result["status"] == "created", result
    report = db.session.get(DiscoveryReport, result["id"])
    assert cipher().decrypt(report.id_enc) == number


# ---------------------------------------------------------------- storage


def all_stored_text(db) -> str:
    """Every value of every row of every table, read with raw SQL, as one string."""
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.text(f'SELECT * FROM "{table.name}"')):
            parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_the_database_never_holds_a_plain_number(client, db, scene, reporter):
    response = push(client, discovery(scene.world.community.id, NEW_ID))
    [result] = response.get_json()["results"]
    assert result["status"] == "created"
    stored = all_stored_text(db)
    for number in (NEW_ID, ID_A, ID_A_MEMBER, ID_B):
        assert number not in stored
        assert number[:17] not in stored  # nor a version without its check digit
    enc, index, mask = db.session.execute(sa.text(
        "SELECT id_enc, id_index, id_mask FROM discovery_reports WHERE id = :id"),
        {"id": result["id"]}).one()
    assert enc.startswith("gAAAA")  # a Fernet token
    assert cipher().decrypt(enc) == NEW_ID
    assert index == cipher().blind_index(NEW_ID) and len(index) == 64
    assert mask == mask_id_number(NEW_ID) == NEW_ID[:4] + "*" * 10 + NEW_ID[-4:]


def test_encryption_is_randomised_but_the_index_is_stable(app):
    c = cipher()
    assert c.encrypt(NEW_ID) != c.encrypt(NEW_ID)
    assert c.blind_index(NEW_ID) == c.blind_index(NEW_ID.lower())


def test_the_blind_index_finds_a_household_already_registered(client, db, scene, reporter):
    response = push(client, discovery(scene.world.community.id, ID_A, head_name="另一个名字"))
    [result] = response.get_json()["results"]
    assert result["status"] == "created"
    assert "possible_duplicate" in result["flags"]
    report = db.session.get(DiscoveryReport, result["id"])
    [candidate] = report.duplicate_candidates
    assert candidate["household_id"] == scene.hh_a.id
    assert candidate["why"] == ["same_id"]


def test_the_blind_index_finds_a_member_too(client, scene, reporter):
    response = client.post("/api/sync/v1/discovery/check", json={"id_number": ID_A_MEMBER},
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 200
    [candidate] = response.get_json()["candidates"]
    assert candidate["in_scope"] is True
    assert candidate["household_id"] == scene.hh_a.id
    assert candidate["why"] == ["same_id"]


# ---------------------------------------------------------------- display


@pytest.mark.parametrize("role", ["community_worker", "street_reviewer",
                                  "county_officer", "city_supervisor"])
def test_pages_show_only_the_mask(client, scene, role):
    login(client, scene.users[role])
    html = client.get(f"/households/{scene.hh_a.id}").get_data(as_text=True)
    assert mask_id_number(ID_A) in html
    assert mask_id_number(ID_A_MEMBER) in html
    assert ID_A not in html and ID_A_MEMBER not in html
    assert "138****8000" in html and "13800138000" not in html


def test_the_helpers_household_page_data_holds_no_id_digits(client, scene):
    """The helper's household page is drawn on the phone from the pull (issue #12): the pull
    carries the masked phone and no digit of the ID numbers, not even the mask's."""
    login(client, scene.users["helper"])
    assert client.get(f"/households/{scene.hh_a.id}").status_code == 200
    raw = client.get("/api/sync/v1/pull").get_data(as_text=True)
    [mine] = [h for h in json.loads(raw)["households"] if h["id"] == str(scene.hh_a.id)]
    assert mine["phone_mask"] == "138****8000" and "13800138000" not in raw
    for number in (ID_A, ID_A_MEMBER):
        assert number[-4:] not in raw and mask_id_number(number) not in raw


def reveal(client, url: str, reason: str | None = "核对低保申请材料"):
    data = {"csrf_token": csrf_token(client)}
    if reason is not None:
        data["reason"] = reason
    return client.post(url, data=data)


def reveal_events(db) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "id.reveal").order_by(AuditEvent.id)))


@pytest.mark.parametrize("role", ["county_officer", "street_reviewer"])
def test_an_allowed_role_sees_the_full_number_and_it_is_audited(client, db, scene, role):
    user = scene.users[role]
    login(client, user)
    form = client.get(f"/privacy/households/{scene.hh_a.id}/reveal")
    assert form.status_code == 200
    assert ID_A not in form.get_data(as_text=True)
    assert reveal_events(db) == []  # looking at the form reveals nothing

    response = reveal(client, f"/privacy/households/{scene.hh_a.id}/reveal")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert ID_A in html
    assert "本次查看已记入操作日志" in html
    assert response.headers["Cache-Control"] == "no-store"
    [event] = reveal_events(db)
    # The head is a member (one person, one ID): the log names the head member's record.
    assert (event.user_id, event.target_type, event.target_id) == (user.id, "member",
                                                                    str(scene.hh_a.head.id))
    assert event.detail["household_id"] == scene.hh_a.id
    assert event.detail["reason"] == "核对低保申请材料"
    assert event.place_id == scene.hh_a.county_id
    assert event.ip
    assert ID_A not in str(event.detail)  # the log says who looked, not what they saw


def test_a_member_number_is_revealed_the_same_way(client, db, scene):
    login(client, scene.users["county_officer"])
    response = reveal(client, f"/privacy/members/{scene.member_a.id}/reveal")
    assert response.status_code == 200
    assert ID_A_MEMBER in response.get_data(as_text=True)
    [event] = reveal_events(db)
    assert (event.target_type, event.target_id) == ("member", str(scene.member_a.id))


@pytest.mark.parametrize("reason", [None, "", "   ", "看看"])
def test_a_reason_is_required(client, db, scene, reason):
    login(client, scene.users["county_officer"])
    response = reveal(client, f"/privacy/households/{scene.hh_a.id}/reveal", reason)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请填写查看事由" in html
    assert ID_A not in html
    assert reveal_events(db) == []


@pytest.mark.parametrize("role", ["helper", "community_worker", "city_supervisor",
                                  "department_reviewer", "admin"])
def test_other_roles_never_see_it(client, db, scene, role):
    login(client, scene.users[role])
    for url in (f"/privacy/households/{scene.hh_a.id}/reveal",
                f"/privacy/members/{scene.member_a.id}/reveal"):
        assert client.get(url).status_code == 404
        response = reveal(client, url)
        assert response.status_code == 404
        assert ID_A not in response.get_data(as_text=True)
    assert reveal_events(db) == []


@pytest.mark.parametrize("role", ["county_officer", "street_reviewer"])
def test_out_of_scope_is_404(client, db, scene, role):
    login(client, scene.users[role])
    for url in (f"/privacy/households/{scene.hh_b.id}/reveal",
                f"/privacy/members/{scene.member_b.id}/reveal",
                "/privacy/households/999999/reveal", "/privacy/members/999999/reveal"):
        response = reveal(client, url)
        assert response.status_code == 404
        assert ID_B not in response.get_data(as_text=True)
    assert reveal_events(db) == []


def test_a_street_reviewer_of_another_street_is_out_of_scope(client, db, scene, make_user):
    other = make_user("street_reviewer", place=scene.world.street_2)
    login(client, other)
    assert reveal(client, f"/privacy/households/{scene.hh_a.id}/reveal").status_code == 404


def test_the_reveal_needs_a_post_with_csrf(client, db, scene):
    login(client, scene.users["county_officer"])
    response = client.post(f"/privacy/households/{scene.hh_a.id}/reveal",
                           data={"reason": "核对低保申请材料"})
    assert response.status_code == 400
    assert reveal_events(db) == []


def test_the_reveal_is_a_partial_for_htmx(client, scene):
    login(client, scene.users["county_officer"])
    response = client.post(f"/privacy/households/{scene.hh_a.id}/reveal",
                           data={"reason": "核对低保申请材料", "csrf_token": csrf_token(client)},
                           headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ID_A in html and "<html" not in html

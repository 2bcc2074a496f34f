"""Staff accounts in the browser (/manage/staff): who administers which account, the one-time
password (shown once, only its hash stored, first login forces a change), reset, edit, and
deactivation ending the sessions and the phone's sync. CSRF on, as in production."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
import werkzeug.security

from fieldwork.accounts.models import User
from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db
from tests.factories import csrf_token

PASSWORD = "test-pass-123"  # every make_user account (tests/conftest.py)
DEVICE = "0d8e7f52-8c1e-4d0c-9a57-0d7c8f6b2f11"

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def post(client, path: str, data: dict | None = None, **kw):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client)}, **kw)


def login(client, user, password: str = PASSWORD):
    username = user if isinstance(user, str) else user.username
    return post(client, "/login", {"username": username, "password": password})


def slip_passwords(response) -> list[str]:
    html = response.get_data(as_text=True)
    return re.findall(r'data-testid="slip-password">([^<]+)<', html)


def by_username(username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == username))


def new_account(world, **over) -> dict:
    return {"username": "wangli01", "display_name": "王丽", "role": "helper",
            "place_id": str(world.community.id), "phone": "13800000001",
            "organisation": "宛城区民政局", **over}


@pytest.fixture
def officer(make_user):
    return make_user("county_officer", username="wancheng-office")


# ---------------------------------------------------------------- who may do what

def test_only_county_officers_and_admins_reach_the_pages(client, make_user, world):
    for role in ("helper", "community_worker", "street_reviewer", "city_supervisor"):
        user = make_user(role)
        login(client, user)
        assert client.get("/manage/staff/").status_code == 404, role
        assert post(client, "/manage/staff/new", new_account(world)).status_code == 404, role
        post(client, "/logout")
    assert by_username("wangli01") is None


def test_a_county_officer_sees_and_edits_only_the_county(client, officer, make_user, world):
    ours = make_user("helper", username="our-helper", display_name="本县帮扶人")
    theirs = make_user("helper", place=world.street_b, username="their-helper",
                       display_name="外县帮扶人")
    admin_here = make_user("admin", place=world.county, username="county-admin")
    login(client, officer)
    page = client.get("/manage/staff/").get_data(as_text=True)
    assert "our-helper" in page and "their-helper" not in page and "county-admin" not in page
    assert client.get(f"/manage/staff/{ours.id}").status_code == 200
    for target in (theirs, admin_here):
        assert client.get(f"/manage/staff/{target.id}").status_code == 404
        assert post(client, f"/manage/staff/{target.id}/deactivate").status_code == 404
        assert post(client, f"/manage/staff/{target.id}/password").status_code == 404
    assert by_username("their-helper").active and by_username("county-admin").active
    # The officer of the other county sees ours as absent.
    other = make_user("county_officer", place=world.county_b, username="wolong-office")
    post(client, "/logout")
    login(client, other)
    assert client.get(f"/manage/staff/{ours.id}").status_code == 404


def test_a_county_officer_cannot_create_an_admin_or_an_account_outside_the_county(
        client, officer, world):
    login(client, officer)
    response = post(client, "/manage/staff/new",
                    new_account(world, role="admin", place_id=str(world.county.id)))
    assert response.status_code == 422
    assert "县级解困办不能设置系统管理员账号" in response.get_data(as_text=True)
    response = post(client, "/manage/staff/new",
                    new_account(world, place_id=str(world.community_b.id)))
    assert response.status_code == 422
    assert "光明社区 不在本县（市、区）范围内" in response.get_data(as_text=True)
    response = post(client, "/manage/staff/new",
                    new_account(world, role="city_supervisor", place_id=str(world.city.id)))
    assert response.status_code == 422
    assert by_username("wangli01") is None
    # Level mismatch and a bad phone number are told apart.
    response = post(client, "/manage/staff/new",
                    new_account(world, role="street_reviewer", phone="12345"))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "街道(乡镇)审核人 的所属单位应为街道（乡镇）" in html
    assert "手机号 12345 格式不正确" in html


def test_an_admin_may_create_anywhere(client, make_user, world):
    admin = make_user("admin", username="city-admin")
    login(client, admin)
    response = post(client, "/manage/staff/new",
                    new_account(world, place_id=str(world.community_b.id)))
    assert response.status_code == 200
    assert by_username("wangli01").place_id == world.community_b.id


# ---------------------------------------------------------------- the one-time password

def test_create_shows_the_password_once_and_stores_only_its_hash(client, app, officer, world):
    login(client, officer)
    client.get("/manage/staff/new")
    form = new_account(world, form_token="tok-create-0123456789")
    response = post(client, "/manage/staff/new", form)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    [password] = slip_passwords(response)
    assert len(password) == 10 and not set(password) & set("0O1lI5S2Z")
    html = response.get_data(as_text=True)
    for text in ("王丽", "wangli01", "帮扶责任人", "和平社区", "首次登录须修改密码",
                 "http://localhost/login", 'data-action="print"'):
        assert text in html
    user = by_username("wangli01")
    assert user.must_change_password and user.organisation == "宛城区民政局"
    assert password not in user.password_hash
    assert werkzeug.security.check_password_hash(user.password_hash, password)
    # Nowhere else: not in the audit log, the session, a URL.
    events = db.session.scalars(sa.select(AuditEvent)).all()
    assert any(e.action == "user.create" for e in events)
    assert not any(password in str(e.detail) for e in events)
    with client.session_transaction() as session:
        assert password not in str(dict(session))
    assert password not in (response.location or "")
    # Reload / the same form sent again: the account's page, no password.
    again = post(client, "/manage/staff/new", form)
    assert again.status_code == 303 and again.location.endswith(f"/manage/staff/{user.id}")
    page = client.get(again.location).get_data(as_text=True)
    assert password not in page and "wangli01" in page
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(
        User.username == "wangli01")) == 1


def test_first_login_with_the_initial_password_forces_the_change(client, app, officer, world):
    login(client, officer)
    [password] = slip_passwords(post(client, "/manage/staff/new", new_account(world)))
    post(client, "/logout")
    helper = app.test_client()
    response = login(helper, "wangli01", password)
    assert response.status_code == 302
    response = helper.get("/households/mine")
    assert response.status_code == 302 and response.location.endswith("/account/password")
    response = post(helper, "/account/password",
                    {"current": password, "new": "my-own-pass-77", "confirm": "my-own-pass-77"})
    assert response.status_code == 302
    assert not by_username("wangli01").must_change_password


def test_reset_gives_a_new_password_and_ends_the_sessions(client, app, officer, make_user):
    helper = make_user("helper", username="li-helper")
    phone = app.test_client()
    login(phone, helper)
    assert phone.get("/api/sync/v1/session").status_code == 200
    login(client, officer)
    response = post(client, f"/manage/staff/{helper.id}/password")
    assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"]
    [password] = slip_passwords(response)
    assert phone.get("/api/sync/v1/session").status_code == 401
    assert by_username("li-helper").must_change_password
    again = app.test_client()
    assert login(again, "li-helper", PASSWORD).status_code == 200  # the old one: refused
    assert login(again, "li-helper", password).status_code == 302
    assert any(e.action == "user.password_reset" and password not in str(e.detail)
               for e in db.session.scalars(sa.select(AuditEvent)))


# ---------------------------------------------------------------- edit, deactivate

def test_edit_changes_the_work_unit_shown_on_the_transfer_page(client, officer, make_user,
                                                              make_household, world):
    helper = make_user("helper", username="zhang-helper", display_name="张帮扶")
    make_household(place=world.community, helper=helper)
    login(client, officer)
    response = post(client, f"/manage/staff/{helper.id}", {
        "display_name": "张帮扶", "role": "helper", "place_id": str(helper.place_id),
        "phone": "", "organisation": "宛城区教育局"})
    assert response.status_code == 302
    assert by_username("zhang-helper").organisation == "宛城区教育局"
    page = client.get(f"/manage/assignments/helpers/{helper.id}").get_data(as_text=True)
    assert "宛城区教育局" in page
    assert "由原单位明确新的帮扶责任人：请向 宛城区教育局 确认接任人选" in page
    # Never the password, and no role outside the county's.
    response = post(client, f"/manage/staff/{helper.id}", {
        "display_name": "张帮扶", "role": "admin", "place_id": str(world.county.id),
        "organisation": "x", "password": "hacked-pass-1"})
    assert response.status_code == 422
    assert by_username("zhang-helper").role == "helper"


def test_deactivation_ends_the_session_and_the_phone_sync(client, app, officer, make_user,
                                                         make_household, world):
    helper = make_user("helper", username="leaving-helper", display_name="调走的帮扶人")
    make_household(place=world.community, helper=helper)
    phone = app.test_client()
    login(phone, helper)
    assert phone.get(f"/api/sync/v1/pull?device_id={DEVICE}").status_code == 200
    login(client, officer)
    response = post(client, f"/manage/staff/{helper.id}/deactivate")
    assert response.status_code == 302
    answer = phone.get(f"/api/sync/v1/pull?device_id={DEVICE}",
                       headers={"X-Fieldwork-Device": DEVICE})
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "account_disabled"
    assert not by_username("leaving-helper").active
    # The helper's households still show, waiting for a transfer.
    page = client.get("/manage/assignments").get_data(as_text=True)
    row = page[page.index("调走的帮扶人"):][:400]
    assert "账号已停用" in row
    # Twice: told, not a 500; reactivation works.
    assert post(client, f"/manage/staff/{helper.id}/deactivate").status_code == 409
    assert post(client, f"/manage/staff/{helper.id}/reactivate").status_code == 302
    assert by_username("leaving-helper").active
    actions = [e.action for e in db.session.scalars(sa.select(AuditEvent))]
    assert "user.deactivate" in actions and "user.reactivate" in actions


def test_an_officer_cannot_deactivate_themselves(client, officer):
    login(client, officer)
    response = post(client, f"/manage/staff/{officer.id}/deactivate")
    assert response.status_code == 422
    assert "不能停用自己的账号" in response.get_data(as_text=True)
    assert by_username(officer.username).active


def test_a_post_without_csrf_is_refused(client, officer, make_user):
    helper = make_user("helper")
    login(client, officer)
    response = client.post(f"/manage/staff/{helper.id}/deactivate")
    assert response.status_code == 400
    assert by_username(helper.username).active


def test_the_list_filters(client, officer, make_user, world):
    make_user("helper", username="alpha-helper", display_name="甲")
    make_user("community_worker", username="beta-worker", display_name="乙")
    gone = make_user("helper", username="gamma-helper", display_name="丙")
    gone.active = False
    db.session.commit()
    login(client, officer)

    def names(**args) -> set[str]:
        html = client.get("/manage/staff/", query_string=args).get_data(as_text=True)
        return set(re.findall(r'class="mono">([a-z-]+)<', html))

    assert names(role="helper") == {"alpha-helper", "gamma-helper"}
    assert names(active="0") == {"gamma-helper"}
    assert names(q="beta") == {"beta-worker"}
    assert names(q="%") == set()
    assert "beta-worker" in names(place_id=str(world.community.id))
    assert names(place_id=str(world.community_b.id)) == set()


def test_a_helper_holding_households_keeps_the_role_until_they_are_handed_over(
        client, make_user, make_household, world):
    admin = make_user("admin", username="city-admin")
    helper = make_user("helper", username="busy-helper", display_name="忙碌帮扶人")
    make_household(place=world.community, helper=helper)
    login(client, admin)
    base = {"display_name": "忙碌帮扶人", "phone": "", "organisation": ""}
    response = post(client, f"/manage/staff/{helper.id}", {
        **base, "role": "community_worker", "place_id": str(world.community.id)})
    assert response.status_code == 422
    assert "忙碌帮扶人 名下还有 1 户帮扶户" in response.get_data(as_text=True)
    response = post(client, f"/manage/staff/{helper.id}", {
        **base, "role": "helper", "place_id": str(world.street_b.id)})
    assert response.status_code == 422
    # Within the same county the helper may move.
    response = post(client, f"/manage/staff/{helper.id}", {
        **base, "role": "helper", "place_id": str(world.street_2.id)})
    assert response.status_code == 302
    assert by_username("busy-helper").place_id == world.street_2.id


def test_nonsense_input_gets_a_message_not_a_500(client, officer, world):
    login(client, officer)
    for place_id in ("99999999999999999999", "abc", ""):
        response = post(client, "/manage/staff/new", new_account(world, place_id=place_id))
        assert response.status_code == 422, place_id
    response = post(client, "/manage/staff/new", new_account(world, role="村长"))
    assert "未知角色：村长" in response.get_data(as_text=True)
    assert client.get("/manage/staff/", query_string={
        "place_id": "99999999999999999999", "role": "x", "active": "2"}).status_code == 200
    assert by_username("wangli01") is None


def test_a_username_taken_in_another_letter_case_is_refused(client, officer, world):
    """demo-helper and DEMO-HELPER would be two accounts people take for one."""
    login(client, officer)
    client.get("/manage/staff/new")
    first = post(client, "/manage/staff/new", new_account(world, form_token="tok-case-1-0123456"))
    assert first.status_code == 200
    second = post(client, "/manage/staff/new", new_account(
        world, username="WangLi01", form_token="tok-case-2-0123456"))
    assert second.status_code == 422 and "已存在" in second.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(
        sa.func.lower(User.username) == "wangli01")) == 1


@pytest.mark.parametrize(("typed", "stored"), [
    ("138-0013-8000", "13800138000"),
    ("+86 13800138000", "13800138000"),
    ("0086-138 0013 8000", "13800138000"),
    ("0377-63123456", "0377-63123456"),
])
def test_phone_numbers_typed_the_usual_ways_are_kept_as_digits(typed, stored):
    from fieldwork.accounts.services import normalise_phone

    assert normalise_phone(typed) == stored


@pytest.mark.parametrize("typed", ["+86 0377-63123456x", "12345", "138-0013-800"])
def test_other_phone_numbers_are_refused(typed):
    from fieldwork.accounts.services import normalise_phone
    from fieldwork.errors import FormError

    with pytest.raises(FormError):
        normalise_phone(typed)

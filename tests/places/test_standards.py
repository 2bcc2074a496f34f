"""The county's 城镇低保标准: a dated history set by the county officer on the policy page; the
standard on a day is the latest value in force; refusals in Chinese; read-only for others."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.places.models import DibaoStandard
from fieldwork.places.standards import dibao_standard, dibao_standards
from fieldwork.timeutil import today_local


def rows(county) -> list[tuple[date, Decimal]]:
    _db.session.expire_all()
    return [(r.effective_from, r.amount) for r in _db.session.scalars(
        sa.select(DibaoStandard).where(DibaoStandard.place_id == county.id)
        .order_by(DibaoStandard.effective_from))]


def test_officer_sets_a_new_standard_with_its_date_and_sees_the_history(
        client, auth, world, make_user):
    officer = make_user("county_officer", display_name="周主任")
    auth.login(officer)
    response = client.post("/manage/policy/dibao-standard",
                           data={"amount": "680", "effective_from": "2025-07-01"})
    assert response.status_code == 302
    assert rows(world.county) == [(date(2020, 1, 1), Decimal("630")),
                                  (date(2025, 7, 1), Decimal("680"))]
    row = _db.session.scalar(sa.select(DibaoStandard).where(
        DibaoStandard.effective_from == date(2025, 7, 1)))
    assert row.set_by_id == officer.id and row.set_at is not None
    [event] = _db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "dibao_standard.set"))
    assert event.detail["amount"] == "680.00" and event.detail["before"] is None

    page = client.get("/manage/policy").get_data(as_text=True)
    assert "已录入城镇低保标准：2025-07-01 起每人每月 680.00 元" in page
    assert "现行城镇低保标准：每人每月 680.00 元" in page
    # The history keeps the earlier value, newest first, with who set it.
    assert page.index("2025-07-01") < page.index("2020-01-01")
    assert "周主任" in page
    # The other county is untouched.
    assert rows(world.county_b) == [(date(2020, 1, 1), Decimal("630"))]


def test_the_standard_in_force_on_a_day(app, world):
    _db.session.add_all([
        DibaoStandard(place_id=world.county.id, amount=Decimal("650"),
                      effective_from=date(2024, 7, 1)),
        DibaoStandard(place_id=world.county.id, amount=Decimal("680"),
                      effective_from=date(2025, 7, 1)),
    ])
    _db.session.commit()
    cid = world.county.id
    assert dibao_standard(cid, date(2019, 12, 31)) is None  # before the first value
    assert dibao_standard(cid, date(2020, 1, 1)) == Decimal("630")
    assert dibao_standard(cid, date(2024, 6, 30)) == Decimal("630")
    assert dibao_standard(cid, date(2024, 7, 1)) == Decimal("650")
    assert dibao_standard(cid, date(2025, 6, 30)) == Decimal("650")
    assert dibao_standard(cid, date(2026, 1, 1)) == Decimal("680")
    assert dibao_standards([cid, world.county_b.id, world.street.id], date(2024, 8, 1)) == {
        cid: Decimal("650"), world.county_b.id: Decimal("630"), world.street.id: None}


def test_a_future_standard_is_announced_but_not_yet_in_force(client, auth, world, make_user):
    auth.login(make_user("county_officer"))
    ahead = (today_local() + timedelta(days=30)).isoformat()
    client.post("/manage/policy/dibao-standard", data={"amount": "700", "effective_from": ahead})
    assert dibao_standard(world.county.id, today_local()) == Decimal("630")
    page = client.get("/manage/policy").get_data(as_text=True)
    assert "现行城镇低保标准：每人每月 630.00 元" in page and "待生效" in page


def test_the_same_date_again_corrects_the_value(client, auth, world, make_user):
    auth.login(make_user("county_officer"))
    client.post("/manage/policy/dibao-standard",
                data={"amount": "860", "effective_from": "2025-07-01"})
    client.post("/manage/policy/dibao-standard",
                data={"amount": "680", "effective_from": "2025-07-01"})
    assert rows(world.county)[-1] == (date(2025, 7, 1), Decimal("680"))
    assert len(rows(world.county)) == 2
    events = list(_db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "dibao_standard.set").order_by(AuditEvent.id)))
    assert events[-1].detail["before"] == "860.00"


@pytest.mark.parametrize(("form", "field_message"), [
    ({"amount": "六百八", "effective_from": "2025-07-01"}, "城镇低保标准应为金额"),
    ({"amount": "-680", "effective_from": "2025-07-01"}, "城镇低保标准应大于 0"),
    ({"amount": "50", "effective_from": "2025-07-01"}, "城镇低保标准应在 100 到 5000"),
    ({"amount": "", "effective_from": "2025-07-01"}, "请填写城镇低保标准"),
    ({"amount": "680", "effective_from": ""}, "请填写生效日期"),
    ({"amount": "680", "effective_from": "2025/7/1"}, "生效日期格式应为"),
    ({"amount": "680", "effective_from": "2099-01-01"}, "生效日期不能晚于"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_written(client, auth, world, make_user,
                                                             form, field_message):
    auth.login(make_user("county_officer"))
    response = client.post("/manage/policy/dibao-standard", data=form)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert field_message in text
    assert 'id="dibao-standard"' in text  # the page again, with the standard's form
    assert rows(world.county) == [(date(2020, 1, 1), Decimal("630"))]


def test_street_and_city_read_without_a_form(client, auth, world, make_user):
    auth.login(make_user("street_reviewer"))
    page = client.get("/manage/policy").get_data(as_text=True)
    assert "现行城镇低保标准：每人每月 630.00 元" in page and 'name="effective_from"' not in page
    assert client.post("/manage/policy/dibao-standard",
                       data={"amount": "700", "effective_from": "2025-01-01"}).status_code == 404
    auth.logout()

    _db.session.add(DibaoStandard(place_id=world.county_b.id, amount=Decimal("655"),
                                  effective_from=date(2024, 1, 1)))
    _db.session.commit()
    auth.login(make_user("city_supervisor"))
    page = client.get("/manage/policy").get_data(as_text=True)
    assert "现行城镇低保标准" in page and "655.00" in page
    assert client.post("/manage/policy/dibao-standard",
                       data={"amount": "700", "effective_from": "2025-01-01"}).status_code == 404
    assert rows(world.county) == [(date(2020, 1, 1), Decimal("630"))]


def test_phones_get_the_standard_in_force_and_the_target(client, auth, world, make_user,
                                                         make_household):
    _db.session.add(DibaoStandard(place_id=world.county.id, amount=Decimal("680"),
                                  effective_from=date(2025, 7, 1)))
    _db.session.commit()
    helper = make_user("helper")
    make_household(helper=helper)
    auth.login(helper)
    settings = client.get("/api/sync/v1/pull").get_json()["settings"]
    assert settings["dibao_standard"] == 680.0 and settings["income_target"] == 630.0
    assert "dibao_line" not in settings

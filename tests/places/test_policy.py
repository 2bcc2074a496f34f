"""County policy settings: the county officer edits them within bounds, each change is audited
with old and new values, phones get a full refresh, the city sees every county read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db as _db
from fieldwork.places import policy as policy_service
from fieldwork.places.models import PolicySettings
from fieldwork.places.services import policy_for_county

GOOD = {
    "income_target": "680", "visits_per_month": "2", "geofence_m": "400", "exit_months": "8",
    "publicity_days": "10", "poor_accuracy_m": "80", "late_entry_hours": "72",
    "clock_skew_minutes": "20", "max_photo_px": "2048",
}


def settings(world, county=None) -> PolicySettings:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(PolicySettings).where(
        PolicySettings.place_id == (county or world.county).id))


def events(action: str) -> list[AuditEvent]:
    return list(_db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_county_officer_changes_settings_with_audit(client, auth, world, make_user):
    officer = make_user("county_officer")
    auth.login(officer)
    page = client.get("/manage/policy")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "人均月收入目标（解困指标）" in text and 'value="630' in text

    response = client.post("/manage/policy", data=GOOD)
    assert response.status_code == 302
    row = settings(world)
    assert row.income_target == Decimal("680") and row.exit_months == 8
    assert row.visits_per_month == 2 and row.max_photo_px == 2048
    assert row.updated_by_id == officer.id and row.updated_at is not None
    policy = policy_for_county(world.county.id)
    assert policy.income_target == 680.0 and policy.publicity_days == 10

    [event] = events("policy.change")
    assert event.user_id == officer.id and event.place_id == world.county.id
    assert event.detail["changes"]["income_target"] == ["630.00", "680.00"]
    assert event.detail["changes"]["exit_months"] == [6, 8]
    assert "max_photo_px" in event.detail["changes"]
    # The other county is untouched.
    assert settings(world, world.county_b).income_target == Decimal("630")

    followed = client.get("/manage/policy")
    assert "政策参数已保存，共修改 9 项" in followed.get_data(as_text=True)


def test_unchanged_form_writes_nothing(client, auth, world, make_user):
    auth.login(make_user("county_officer"))
    before = settings(world).updated_at
    current = {k: str(v) for k, v in policy_service.current_values(world.county).items()}
    assert client.post("/manage/policy", data=current).status_code == 302
    assert events("policy.change") == []
    assert settings(world).updated_at == before


@pytest.mark.parametrize(("field", "value", "message"), [
    ("income_target", "", "请填写“人均月收入目标（解困指标）”"),
    ("income_target", "六百", "“人均月收入目标（解困指标）”应为金额"),
    ("income_target", "50", "“人均月收入目标（解困指标）”应在 100 到 5000"),
    ("exit_months", "5", "“平稳退出前稳定月数”应在 6 到 36"),
    ("exit_months", "6.5", "“平稳退出前稳定月数”应为整数"),
    ("visits_per_month", "0", "“每月入户走访次数”应在 1 到 10"),
    ("geofence_m", "99999", "“走访定位允许距离”应在 50 到 5000"),
    ("publicity_days", "1", "“公示天数”应在 3 到 30"),
    ("max_photo_px", "100", "“照片最长边”应在 800 到 4096"),
])
def test_bad_values_are_refused_and_nothing_written(client, auth, world, make_user, field,
                                                     value, message):
    auth.login(make_user("county_officer"))
    response = client.post("/manage/policy", data={**GOOD, field: value})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    row = settings(world)
    assert row.income_target == Decimal("630") and row.exit_months == 6
    assert row.updated_by_id is None
    assert events("policy.change") == []


def test_phones_get_a_full_refresh_after_a_change(client, auth, world, make_user,
                                                  make_household):
    helper = make_user("helper")
    make_household(helper=helper)
    auth.login(helper)
    first = client.get("/api/sync/v1/pull").get_json()
    again = client.get(f"/api/sync/v1/pull?since={first['cursor']}").get_json()
    assert again["full"] is False
    auth.logout()

    auth.login(make_user("county_officer"))
    client.post("/manage/policy", data={**GOOD, "geofence_m": "500"})
    auth.logout()

    auth.login(helper)
    after = client.get(f"/api/sync/v1/pull?since={again['cursor']}").get_json()
    assert after["full"] is True
    assert after["settings"]["geofence_m"] == 500


def test_street_reviewer_reads_and_cannot_write(client, auth, world, make_user):
    auth.login(make_user("street_reviewer"))
    page = client.get("/manage/policy")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "宛城区" in text and "630" in text
    assert 'name="income_target"' not in text  # values shown, no form
    assert client.post("/manage/policy", data=GOOD).status_code == 404
    assert settings(world).income_target == Decimal("630")


def test_city_supervisor_sees_every_county_read_only(client, auth, world, make_user):
    row = settings(world, world.county_b)
    row.income_target = Decimal("700")
    _db.session.commit()
    auth.login(make_user("city_supervisor"))
    page = client.get("/manage/policy")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "宛城区" in text and "卧龙区" in text and "700" in text
    assert client.post("/manage/policy", data=GOOD).status_code == 404


@pytest.mark.parametrize("role", ["helper", "community_worker", "department_reviewer", "admin"])
def test_other_roles_get_404(client, auth, world, make_user, role):
    place = world.county if role == "department_reviewer" else None
    auth.login(make_user(role, place=place))
    assert client.get("/manage/policy").status_code == 404
    assert client.post("/manage/policy", data=GOOD).status_code == 404

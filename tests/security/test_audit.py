"""The audit log: who did or saw what, searchable by county officers (their county) and the city
(everything); append-only — no route changes a row, and the ORM refuses to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from fieldwork.audit.guard import AuditTamperError
from fieldwork.audit.models import AuditEvent
from tests.factories import csrf_token

from .conftest import login
from .test_access_matrix import PARAMS, SKIP

pytestmark = pytest.mark.usefixtures("fresh_g")


def event(db, action: str, *, at: datetime, user=None, place=None, username=None, **detail):
    e = AuditEvent(action=action, at=at, user_id=user.id if user else None,
                   username=username if username is not None else (user.username if user
                                                                   else ""),
                   place_id=place.id if place else None, detail=detail,
                   target_type=detail.pop("target_type", ""),
                   target_id=str(detail.pop("target_id", "")), ip="10.9.8.7")
    db.session.add(e)
    db.session.commit()
    return e


@pytest.fixture
def log(db, scene):
    """Events on both sides of the county line."""
    w, u = scene.world, scene.users
    t = datetime(2026, 1, 20, 2, 0, tzinfo=UTC)
    return {
        "reveal_a": event(db, "id.reveal", at=t, user=u["county_officer"], place=w.county,
                          target_type="household", target_id=scene.hh_a.id, reason="核对材料"),
        "export_a": event(db, "ledger.export", at=t + timedelta(hours=1),
                          user=u["county_officer"], place=w.county),
        "login_a": event(db, "login.success", at=t + timedelta(hours=2), user=u["helper"]),
        "failure_a": event(db, "login.failure", at=t + timedelta(hours=3),
                           username=u["helper"].username),
        "reveal_b": event(db, "id.reveal", at=t + timedelta(hours=4), user=scene.helper_b,
                          place=w.county_b, target_type="household", target_id=scene.hh_b.id,
                          reason="外县事由"),
        "login_b": event(db, "login.success", at=t + timedelta(hours=5), user=scene.helper_b),
        "failure_unknown": event(db, "login.failure", at=t + timedelta(hours=6),
                                 username="nobody-at-all"),
    }


def shown(response) -> set[str]:
    html = response.get_data(as_text=True)
    return {a for a in ("核对材料", "外县事由") if a in html}


def rows(response) -> int:
    return response.get_data(as_text=True).count('class="audit-row"')


# ---------------------------------------------------------------- who sees what


def test_a_county_officer_sees_their_county_only(client, scene, log):
    login(client, scene.users["county_officer"])
    response = client.get("/audit/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "操作日志" in html
    assert shown(response) == {"核对材料"}
    # Reveal and export of county A, the helper's login and failed login: 4 rows.
    assert rows(response) == 4
    assert "b-helper" not in html and "nobody-at-all" not in html
    assert "查看完整身份证号" in html and "导出台账" in html


def test_the_city_sees_everything(client, scene, log):
    for role in ("city_supervisor", "admin"):
        login(client, scene.users[role])
        response = client.get("/audit/")
        assert response.status_code == 200
        assert shown(response) == {"核对材料", "外县事由"}
        assert rows(response) == len(log)


@pytest.mark.parametrize("role", ["helper", "community_worker", "street_reviewer",
                                  "department_reviewer"])
def test_other_roles_get_404(client, scene, log, role):
    login(client, scene.users[role])
    assert client.get("/audit/").status_code == 404


def test_anonymous_is_sent_to_login(client, log):
    response = client.get("/audit/")
    assert response.status_code == 302 and "/login" in response.location


# ---------------------------------------------------------------- search


def test_search_by_user_action_and_target(client, scene, log):
    login(client, scene.users["city_supervisor"])
    by_user = client.get("/audit/", query_string={"user": "b-helper"})
    assert rows(by_user) == 2
    by_action = client.get("/audit/", query_string={"action": "id.reveal"})
    assert rows(by_action) == 2
    group = client.get("/audit/", query_string={"action": "login"})
    assert rows(group) == 4  # login.success and login.failure
    by_target = client.get("/audit/", query_string={"target": f"household:{scene.hh_b.id}"})
    assert shown(by_target) == {"外县事由"} and rows(by_target) == 1
    combined = client.get("/audit/", query_string={"user": "a-county", "action": "ledger.export"})
    assert rows(combined) == 1


def test_dates_are_nanyang_days(client, db, scene):
    late = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)  # 23:30 on 31 January in Nanyang
    early = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)  # 00:30 on 1 February in Nanyang
    event(db, "ledger.export", at=late, user=scene.users["county_officer"],
          place=scene.world.county, note="一月")
    event(db, "ledger.export", at=early, user=scene.users["county_officer"],
          place=scene.world.county, note="二月")
    login(client, scene.users["county_officer"])
    january = client.get("/audit/", query_string={"from": "2026-01-31", "to": "2026-01-31"})
    assert rows(january) == 1 and "一月" in january.get_data(as_text=True)
    february = client.get("/audit/", query_string={"from": "2026-02-01"})
    assert rows(february) == 1 and "二月" in february.get_data(as_text=True)
    assert "2026-01-31 23:30:00" in january.get_data(as_text=True)


def test_a_bad_date_is_a_clear_error(client, scene):
    login(client, scene.users["county_officer"])
    response = client.get("/audit/", query_string={"from": "31/01/2026"})
    assert response.status_code == 400
    assert "应为日期" in response.get_data(as_text=True)
    response = client.get("/audit/", query_string={"from": "2026-02-01", "to": "2026-01-01"})
    assert response.status_code == 400
    assert "结束日期不能早于开始日期" in response.get_data(as_text=True)


def test_newest_first_and_paginated(client, db, scene):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    db.session.add_all([
        AuditEvent(action="ledger.export", at=start + timedelta(minutes=i),
                   user_id=scene.users["county_officer"].id, username="a-county_officer",
                   place_id=scene.world.county.id, detail={"n": f"第{i:03d}条"})
        for i in range(120)])
    db.session.commit()
    login(client, scene.users["county_officer"])
    first = client.get("/audit/").get_data(as_text=True)
    assert first.count('class="audit-row"') == 50
    assert first.index("第119条") < first.index("第118条")
    assert "第069条" not in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    third = client.get("/audit/", query_string={"page": 3}).get_data(as_text=True)
    assert third.count('class="audit-row"') == 20
    assert "第000条" in third and 'rel="next"' not in third and 'rel="prev"' in third


def test_the_results_are_a_partial_for_htmx(client, scene, log):
    login(client, scene.users["county_officer"])
    response = client.get("/audit/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]


def test_logins_record_where_from(client, db, make_user):
    user = make_user("helper")
    client.post("/login", data={"username": user.username, "password": "test-pass-123",
                                "csrf_token": csrf_token(client)},
                environ_base={"REMOTE_ADDR": "192.0.2.44"},
                headers={"User-Agent": "Mozilla/5.0 (Linux; Android 13; Redmi)"})
    e = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "login.success"))
    assert (e.user_id, e.ip) == (user.id, "192.0.2.44")
    assert "Redmi" in e.user_agent


# ---------------------------------------------------------------- append-only


def snapshot(db) -> dict[int, tuple]:
    db.session.expire_all()
    return {e.id: (e.at, e.user_id, e.username, e.action, e.target_type, e.target_id,
                   e.place_id, e.detail, e.ip) for e in db.session.scalars(sa.select(AuditEvent))}


def test_no_audit_route_changes_anything(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/audit"):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule


def test_no_route_modifies_or_deletes_audit_rows(client, app, db, scene, log):
    """Every state-changing route of the app, as the most powerful roles: afterwards each
    event that existed is still there, unchanged (new ones may have been appended)."""
    before = snapshot(db)
    for role in ("admin", "county_officer", "city_supervisor"):
        login(client, scene.users[role])
        token = csrf_token(client)
        for rule in app.url_map.iter_rules():
            if rule.endpoint in SKIP:
                continue
            values = {name: PARAMS[name](scene)[0] for name in rule.arguments}
            url = rule.build(values, append_unknown=False)[1]
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                if method in rule.methods:
                    login(client, scene.users[role])
                    client.open(url, method=method, data={"csrf_token": token},
                                headers={"X-CSRFToken": token})
    after = snapshot(db)
    assert {k: after.get(k) for k in before} == before


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_the_guard_is_on_in_every_app(app):
    assert app.extensions.get("fieldwork_audit_guard") is True


def test_the_orm_refuses_to_edit_an_event(db, log):
    e = db.session.get(AuditEvent, log["reveal_a"].id)
    e.detail = {"reason": "改过的事由"}
    with pytest.raises(AuditTamperError):
        db.session.commit()
    db.session.rollback()
    e = db.session.get(AuditEvent, log["reveal_a"].id)
    e.username = "someone-else"
    with pytest.raises(AuditTamperError):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(AuditEvent, log["reveal_a"].id).username == "a-county_officer"


def test_the_orm_refuses_to_delete_an_event(db, log):
    db.session.delete(db.session.get(AuditEvent, log["login_a"].id))
    with pytest.raises(AuditTamperError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, log["login_a"].id) is not None


@pytest.mark.parametrize("statement", [
    lambda: sa.update(AuditEvent).values(username="x"),
    lambda: sa.delete(AuditEvent),
    lambda: sa.delete(AuditEvent).where(AuditEvent.action == "login.failure"),
])
def test_the_orm_refuses_bulk_statements(db, log, statement):
    with pytest.raises(AuditTamperError):
        db.session.execute(statement())
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == len(log)


def test_appending_still_works(db, log):
    from fieldwork.audit import services as audit

    audit.record("ledger.export", username="cli")
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == len(log) + 1


def test_every_audited_action_has_a_label_on_the_audit_page():
    """An action recorded by the code but unknown to the audit page shows as a raw code."""
    import re
    from pathlib import Path

    from fieldwork.audit.views import ACTION_LABELS

    root = Path(__file__).resolve().parents[2]
    call = re.compile(r"\b(?:audit|record|audit_record|_audit)\(\s*\"([a-z_]+(?:\.[a-z_]+)*)\"")
    found = {m for folder in ("fieldwork", "offline_sync")
             for path in (root / folder).rglob("*.py")
             for m in call.findall(path.read_text(encoding="utf-8"))}
    assert "discovery.check" in found and "id.reveal" in found  # the scan sees the calls
    assert not found - set(ACTION_LABELS), sorted(found - set(ACTION_LABELS))

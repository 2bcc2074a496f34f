"""Helper assignment: assign, reassign one household, hand over everything a departing helper
holds; history without overlaps; effective-date bounds; phones follow at their next pull;
compliance follows the history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from fieldwork.access.scope import household_clause
from fieldwork.accounts.models import User
from fieldwork.audit.models import AuditEvent
from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.households.management import assignments
from fieldwork.households.models import Assignment, Household
from fieldwork.supervision import compliance
from fieldwork.timeutil import add_months, current_month, month_first_day, today_local


@pytest.fixture
def officer(make_user):
    return make_user("county_officer")


def history(household_id: int) -> list[tuple[int, date, date | None]]:
    _db.session.expire_all()
    return [(a.helper_id, a.start_date, a.end_date) for a in _db.session.scalars(
        sa.select(Assignment).where(Assignment.household_id == household_id)
        .order_by(Assignment.start_date))]


def audit(action: str = "assignment.change") -> list[AuditEvent]:
    return list(_db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def version(household_id: int) -> int:
    _db.session.expire_all()
    return _db.session.get(Household, household_id).version


# ---------------------------------------------------------------- assign and reassign

def test_assign_an_unassigned_household(client, auth, world, officer, make_user,
                                        make_household):
    helper = make_user("helper", display_name="李帮扶")
    household = make_household(head_name="张三")
    before = household.version
    auth.login(officer)
    page = client.get("/manage/assignments").get_data(as_text=True)
    assert "张三" in page and "尚未指定帮扶责任人的帮扶户" in page
    today = today_local()
    response = client.post("/manage/assignments/assign", data={
        "household_id": household.id, "helper_id": helper.id, "effective": today.isoformat()})
    assert response.status_code == 302
    assert history(household.id) == [(helper.id, today, None)]
    assert version(household.id) == before + 1
    [event] = audit()
    assert event.detail["op"] == "assign" and event.detail["household_ids"] == [household.id]
    assert event.detail["to_helper"] == helper.id and event.place_id == world.county.id
    assert assignments.unassigned(household_clause(officer)) == []


def test_bad_first_assignment_is_refused_in_its_row(client, auth, officer, make_user,
                                                   make_household):
    household = make_household(head_name="郑无人")
    auth.login(officer)
    for data, message in (({"helper_id": ""}, "请选择本区在岗的帮扶责任人"),
                          ({"helper_id": make_user("helper").id, "effective": "2001-01-01"},
                           "生效日期最早只能是本月 1 日")):
        response = client.post("/manage/assignments/assign",
                               data={"household_id": household.id, **data})
        assert response.status_code == 422
        text = response.get_data(as_text=True)
        assert message in text and "郑无人" in text
    assert history(household.id) == []
    assert audit() == []


def test_reassign_keeps_history(client, auth, officer, make_user, make_household):
    old, new = make_user("helper"), make_user("helper")
    household = make_household(helper=old, assigned_on=date(2024, 1, 1))
    effective = today_local() + timedelta(days=3)
    auth.login(officer)
    response = client.post(f"/manage/households/{household.id}/assignment", data={
        "helper_id": new.id, "effective": effective.isoformat(), "reason": "工作调动"})
    assert response.status_code == 302
    assert history(household.id) == [
        (old.id, date(2024, 1, 1), effective - timedelta(days=1)),
        (new.id, effective, None)]
    [event] = audit()
    assert event.detail["op"] == "reassign" and event.detail["from_helper"] == old.id
    assert event.detail["reason"] == "工作调动"
    assert assignments.overlapping() == set()
    page = client.get(f"/manage/households/{household.id}/assignment").get_data(as_text=True)
    assert "待生效" in page and "工作调动" in page


@pytest.mark.parametrize(("data", "field_message"), [
    ({"helper_id": ""}, "请选择本区在岗的帮扶责任人"),
    ({"reason": ""}, "请填写调整原因"),
    ({"reason": "长" * 201}, "原因不能超过 200 个字"),
    ({"effective": "2020-01-01"}, "生效日期最早只能是本月 1 日"),
    ({"effective": "明天"}, "生效日期格式不正确"),
    ({"effective": "2999-01-01"}, "生效日期不能晚于一年以后"),
])
def test_bad_reassignment_is_refused(client, auth, officer, make_user, make_household, data,
                                     field_message):
    old, new = make_user("helper"), make_user("helper")
    household = make_household(helper=old)
    before = household.version
    auth.login(officer)
    form = {"helper_id": new.id, "effective": today_local().isoformat(), "reason": "调动",
            **data}
    response = client.post(f"/manage/households/{household.id}/assignment", data=form)
    assert response.status_code == 422
    assert field_message in response.get_data(as_text=True)
    assert history(household.id) == [(old.id, date(2020, 1, 1), None)]
    assert version(household.id) == before
    assert audit() == []


def test_only_active_helpers_of_the_county_can_be_chosen(client, auth, world, officer,
                                                         make_user, make_household):
    old = make_user("helper")
    outsider = make_user("helper", place=world.community_b)  # the other county
    retired = make_user("helper", active=False)
    not_helper = make_user("community_worker")
    household = make_household(helper=old)
    auth.login(officer)
    for candidate in (outsider, retired, not_helper):
        response = client.post(f"/manage/households/{household.id}/assignment", data={
            "helper_id": candidate.id, "effective": today_local().isoformat(),
            "reason": "调动"})
        assert response.status_code == 422
        assert "请选择本区在岗的帮扶责任人" in response.get_data(as_text=True)
    # A helper filed at the county itself or in a community of it is fine.
    county_level = make_user("helper", place=world.county)
    assert client.post(f"/manage/households/{household.id}/assignment", data={
        "helper_id": county_level.id, "effective": today_local().isoformat(),
        "reason": "调动"}).status_code == 302


def test_same_helper_is_refused(client, auth, officer, make_user, make_household):
    helper = make_user("helper")
    household = make_household(helper=helper)
    auth.login(officer)
    response = client.post(f"/manage/households/{household.id}/assignment", data={
        "helper_id": helper.id, "effective": today_local().isoformat(), "reason": "x"})
    assert response.status_code == 422 and "无需调整" in response.get_data(as_text=True)


def test_effective_date_back_to_the_first_of_the_month(app, world, officer, make_user,
                                                      make_household):
    """On the 20th a departure on the 3rd can still be recorded; one in the previous month
    cannot."""
    old, new = make_user("helper"), make_user("helper")
    household = make_household(helper=old, assigned_on=date(2024, 1, 1))
    today = date(2025, 6, 20)
    with pytest.raises(FormError) as refused:
        assignments.set_helper(household, world.county, officer, {
            "helper_id": new.id, "effective": "2025-05-31", "reason": "调动"}, today=today)
    assert "2025-06-01" in refused.value.errors["effective"]
    assignments.set_helper(household, world.county, officer, {
        "helper_id": new.id, "effective": "2025-06-03", "reason": "调动"}, today=today)
    _db.session.commit()
    assert history(household.id) == [(old.id, date(2024, 1, 1), date(2025, 6, 2)),
                                     (new.id, date(2025, 6, 3), None)]


def test_a_second_change_replaces_a_scheduled_one_without_overlap(app, world, officer,
                                                                  make_user, make_household):
    a, b, c = make_user("helper"), make_user("helper"), make_user("helper")
    household = make_household(helper=a, assigned_on=date(2024, 1, 1))
    today = date(2025, 6, 10)
    assignments.set_helper(household, world.county, officer, {
        "helper_id": b.id, "effective": "2025-07-01", "reason": "计划调整"}, today=today)
    _db.session.commit()
    # Plans change: C takes over from the 20th instead; B's scheduled start is withdrawn.
    move = assignments.set_helper(household, world.county, officer, {
        "helper_id": c.id, "effective": "2025-06-20", "reason": "改派"}, today=today)
    _db.session.commit()
    assert move.withdrawn == [{"household": household.id, "helper": b.id,
                               "start": "2025-07-01"}]
    assert history(household.id) == [(a.id, date(2024, 1, 1), date(2025, 6, 19)),
                                     (c.id, date(2025, 6, 20), None)]
    assert assignments.overlapping([household.id]) == set()


def test_a_same_day_correction_replaces_the_wrong_helper(app, world, officer, make_user,
                                                         make_household):
    wrong, right = make_user("helper"), make_user("helper")
    household = make_household()
    today = date(2025, 6, 10)
    assignments.set_helper(household, world.county, officer,
                           {"helper_id": wrong.id, "effective": "2025-06-10"}, today=today)
    _db.session.commit()
    assignments.set_helper(household, world.county, officer, {
        "helper_id": right.id, "effective": "2025-06-10", "reason": "选错人"}, today=today)
    _db.session.commit()
    assert history(household.id) == [(right.id, date(2025, 6, 10), None)]


def test_days_already_served_cannot_be_rewritten(app, world, officer, make_user,
                                                 make_household):
    a, b = make_user("helper"), make_user("helper")
    household = make_household(helper=a, assigned_on=date(2025, 6, 5))
    with pytest.raises(FormError) as refused:
        assignments.set_helper(household, world.county, officer, {
            "helper_id": b.id, "effective": "2025-06-02", "reason": "调动"},
            today=date(2025, 6, 10))
    assert "生效日期不能早于该日期" in refused.value.errors["effective"]
    assert history(household.id) == [(a.id, date(2025, 6, 5), None)]


def test_overlap_check_finds_overlapping_rows(app, make_user, make_household):
    a, b = make_user("helper"), make_user("helper")
    good = make_household(helper=a, assigned_on=date(2025, 1, 1))
    bad = make_household(helper=a, assigned_on=date(2025, 1, 1))
    _db.session.add(Assignment(household_id=bad.id, helper_id=b.id,
                               start_date=date(2025, 3, 1)))
    _db.session.add(Assignment(household_id=good.id, helper_id=b.id,
                               start_date=date(2024, 1, 1), end_date=date(2024, 12, 31)))
    _db.session.commit()
    assert assignments.overlapping() == {bad.id}
    assert assignments.overlapping([good.id]) == set()


# ---------------------------------------------------------------- hand over everything

def test_transfer_all_of_a_departing_helpers_households(client, auth, world, officer,
                                                        make_user, make_household):
    leaving = make_user("helper", display_name="离岗者")
    successor = make_user("helper", display_name="接任者")
    other = make_user("helper")
    mine = [make_household(helper=leaving, assigned_on=date(2024, 1, 1)) for _ in range(3)]
    theirs = make_household(helper=other)
    versions = {h.id: h.version for h in mine}
    today = today_local()
    auth.login(officer)
    page = client.get(f"/manage/assignments/helpers/{leaving.id}")
    assert page.status_code == 200 and "整体移交" in page.get_data(as_text=True)
    response = client.post(f"/manage/assignments/helpers/{leaving.id}/transfer", data={
        "helper_id": successor.id, "effective": today.isoformat(), "reason": "调往市教育局",
        "deactivate": "1"})
    assert response.status_code == 302
    for h in mine:
        assert history(h.id) == [(leaving.id, date(2024, 1, 1), today - timedelta(days=1)),
                                 (successor.id, today, None)]
        assert version(h.id) == versions[h.id] + 1
    assert history(theirs.id)[0][0] == other.id  # untouched
    [event] = audit()
    assert event.detail["op"] == "transfer"
    assert event.detail["household_ids"] == sorted(h.id for h in mine)
    assert event.detail["from_helper"] == leaving.id and event.detail["deactivate"] is True
    _db.session.expire_all()
    assert _db.session.get(User, leaving.id).active is False
    assert len(audit("user.deactivate")) == 1
    followed = client.get(f"/manage/assignments/helpers/{leaving.id}").get_data(as_text=True)
    assert "账号已停用" in followed and "名下没有帮扶户" in followed


def test_transfer_is_one_transaction(app, world, officer, make_user, make_household):
    """One household that cannot move stops the whole handover: nothing is written."""
    leaving, successor = make_user("helper"), make_user("helper")
    ok = make_household(helper=leaving, assigned_on=date(2024, 1, 1))
    late = make_household(helper=leaving, assigned_on=date(2025, 6, 8))
    with pytest.raises(FormError) as refused:
        assignments.transfer_all(leaving, world.county, officer, {
            "helper_id": successor.id, "effective": "2025-06-05", "reason": "调动"},
            today=date(2025, 6, 10))
    assert late.head_name in refused.value.errors["effective"]
    _db.session.rollback()
    assert history(ok.id) == [(leaving.id, date(2024, 1, 1), None)]
    assert history(late.id) == [(leaving.id, date(2025, 6, 8), None)]


@pytest.mark.parametrize(("data", "message"), [
    ({"helper_id": ""}, "请选择本区在岗的帮扶责任人"),
    ({"reason": ""}, "请填写调整原因"),
    ({"effective": "2000-01-01"}, "生效日期最早只能是本月 1 日"),
    ({"deactivate": "1", "effective": "+5"}, "生效日期在今后时不能立即停用账号"),
])
def test_bad_transfer_is_refused(client, auth, officer, make_user, make_household, data,
                                 message):
    leaving, successor = make_user("helper"), make_user("helper")
    household = make_household(helper=leaving)
    form = {"helper_id": successor.id, "effective": today_local().isoformat(),
            "reason": "调动", **data}
    if form["effective"] == "+5":
        form["effective"] = (today_local() + timedelta(days=5)).isoformat()
    auth.login(officer)
    response = client.post(f"/manage/assignments/helpers/{leaving.id}/transfer", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert history(household.id) == [(leaving.id, date(2020, 1, 1), None)]
    _db.session.expire_all()
    assert _db.session.get(User, leaving.id).active is True
    assert audit() == []


def test_transfer_to_oneself_and_from_an_empty_helper(client, auth, officer, make_user,
                                                      make_household):
    leaving, idle = make_user("helper"), make_user("helper")
    make_household(helper=leaving)
    auth.login(officer)
    same = client.post(f"/manage/assignments/helpers/{leaving.id}/transfer", data={
        "helper_id": leaving.id, "effective": today_local().isoformat(), "reason": "x"})
    assert same.status_code == 422 and "不能是原帮扶责任人本人" in same.get_data(as_text=True)
    empty = client.post(f"/manage/assignments/helpers/{idle.id}/transfer", data={
        "helper_id": leaving.id, "effective": today_local().isoformat(), "reason": "x"})
    assert empty.status_code == 422
    assert "名下没有需要移交的帮扶户" in empty.get_data(as_text=True)


def test_helper_of_another_county_is_404(client, auth, world, officer, make_user):
    outsider = make_user("helper", place=world.community_b)
    auth.login(officer)
    assert client.get(f"/manage/assignments/helpers/{outsider.id}").status_code == 404
    assert client.post(f"/manage/assignments/helpers/{outsider.id}/transfer",
                       data={}).status_code == 404


# ---------------------------------------------------------------- phones and compliance

def test_old_helpers_phone_drops_the_household_and_the_new_one_gets_it(
        client, auth, officer, make_user, make_household):
    old, new = make_user("helper"), make_user("helper")
    household = make_household(helper=old)
    kept = make_household(helper=old)
    auth.login(old)
    first = client.get("/api/sync/v1/pull").get_json()
    assert {h["id"] for h in first["households"]} == {str(household.id), str(kept.id)}
    auth.logout()

    auth.login(officer)
    assert client.post(f"/manage/households/{household.id}/assignment", data={
        "helper_id": new.id, "effective": today_local().isoformat(),
        "reason": "工作调动"}).status_code == 302
    auth.logout()

    auth.login(old)
    after = client.get(f"/api/sync/v1/pull?since={first['cursor']}").get_json()
    assert after["full"] is False
    assert after["removed"] == [str(household.id)]
    assert str(household.id) not in {h["id"] for h in after["households"]}
    auth.logout()

    auth.login(new)
    theirs = client.get("/api/sync/v1/pull").get_json()
    assert [h["id"] for h in theirs["households"]] == [str(household.id)]


def test_scheduled_handover_keeps_the_old_helper_until_the_day(client, auth, officer,
                                                               make_user, make_household):
    old, new = make_user("helper"), make_user("helper")
    household = make_household(helper=old)
    auth.login(officer)
    client.post(f"/manage/households/{household.id}/assignment", data={
        "helper_id": new.id, "effective": (today_local() + timedelta(days=2)).isoformat(),
        "reason": "下周交接"})
    auth.logout()
    auth.login(old)
    assert [h["id"] for h in client.get("/api/sync/v1/pull").get_json()["households"]] == [
        str(household.id)]


def test_mid_month_reassignment_attributes_the_month_to_the_new_helper(
        app, world, officer, make_user, make_household, make_visit):
    old = make_user("helper", display_name="原帮扶人")
    new = make_user("helper", display_name="新帮扶人")
    month = add_months(current_month(), -1)
    first = month_first_day(month)
    household = make_household(helper=old, assigned_on=date(2024, 1, 1),
                               enrolled_on=date(2024, 1, 1))
    assignments.set_helper(household, world.county, officer, {
        "helper_id": new.id, "effective": (first + timedelta(days=14)).isoformat(),
        "reason": "月中调动"}, today=first + timedelta(days=20))
    _db.session.commit()
    make_visit(household, old, visited_at=datetime(first.year, first.month, 3, 2, tzinfo=UTC))
    rows = {r.key: r for r in compliance.helper_rows(household_clause(officer), month)}
    assert set(rows) == {new.id}
    assert rows[new.id].counts.due == 1 and rows[new.id].counts.visited == 1
    # The month before belongs to the old helper.
    before = {r.key for r in compliance.helper_rows(household_clause(officer),
                                                     add_months(month, -1))}
    assert before == {old.id}


# ---------------------------------------------------------------- pages and roles

def test_street_reviewer_sees_but_cannot_change(client, auth, world, make_user,
                                                make_household):
    helper = make_user("helper", display_name="赵帮扶")
    household = make_household(helper=helper)
    other_street = make_household(place=world.community_3)
    auth.login(make_user("street_reviewer"))
    page = client.get("/manage/assignments").get_data(as_text=True)
    assert "赵帮扶" in page and other_street.head_name not in page
    assert 'action="/manage/assignments/assign"' not in page
    view = client.get(f"/manage/households/{household.id}/assignment")
    assert view.status_code == 200 and "调整帮扶责任人" not in view.get_data(as_text=True)
    assert client.get(f"/manage/households/{other_street.id}/assignment").status_code == 404
    assert client.post(f"/manage/households/{household.id}/assignment", data={
        "helper_id": helper.id, "effective": today_local().isoformat(),
        "reason": "x"}).status_code == 404


def test_household_of_another_county_is_404(client, auth, world, officer, make_user,
                                            make_household):
    household = make_household(place=world.community_b)
    auth.login(officer)
    assert client.get(f"/manage/households/{household.id}/assignment").status_code == 404
    assert client.post("/manage/assignments/assign", data={
        "household_id": household.id, "helper_id": make_user("helper").id}).status_code == 404


def test_search_finds_a_household_to_reassign(client, auth, officer, make_user,
                                              make_household):
    make_household(helper=make_user("helper"), head_name="欧阳明")
    auth.login(officer)
    page = client.get("/manage/assignments?q=欧阳").get_data(as_text=True)
    assert "欧阳明" in page

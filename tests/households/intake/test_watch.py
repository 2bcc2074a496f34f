"""The watch list (加强监测, policy line 147) as reviewers use it: a household not enrolled is put
on the list with a reason and a re-check date, the community or street records checks, and
"重新启动审核" brings it back into review at the right first step. Scoped like every list."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from fieldwork.accounts.models import User
from fieldwork.audit.models import AuditEvent
from fieldwork.errors import FormError
from fieldwork.extensions import db as _db
from fieldwork.households.intake import cases, steps, watch
from fieldwork.households.models import Case, Household, WatchCheck, WatchEntry
from fieldwork.timeutil import date_plus_months

from .conftest import ID_1, TODAY, decide, entry

pytestmark = pytest.mark.usefixtures("fresh_g")


@pytest.fixture
def as_(client, auth):
    def switch(user):
        auth.logout()
        response = auth.login(user)
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return client
    return switch


def text(response) -> str:
    return response.get_data(as_text=True)


def rejected(world, people, **over) -> Household:
    """A household whose application the community rejected (未纳入)."""
    case = cases.enter_application(people.community, entry(world, **over))
    _db.session.commit()
    decide(people.community, case, "reject", "家庭收入高于低保边缘标准")
    return case.household


def watched(user, hh: Household, reason: str = "收入不稳定，持续关注",
            recheck=None) -> WatchEntry:
    e = watch.start_watch(user, hh, {"reason": reason,
                                     "recheck_on": (recheck or TODAY + timedelta(days=30))
                                     .isoformat()})
    _db.session.commit()
    return e


def ids_in(page: str, testid: str = "watch-row") -> list[int]:
    return [int(m) for m in re.findall(
        rf'data-testid="{testid}" data-household-id="(\d+)"', page)]


def test_reject_then_put_on_the_watch_list_with_reason_and_date(world, people, as_):
    client = as_(people.community)
    client.post("/reviews/new", data={
        "head_name": "赵建国", "id_number": ID_1, "phone": "", "address": "东关街道建设路8号",
        "place_id": str(world.community.id), "members_count": "3", "category": "edge",
        "causes": ["illness"], "situation": "户主重病"})
    case = _db.session.scalar(sa.select(Case))
    assert case is not None
    r = client.post(f"/reviews/cases/{case.id}/decision",
                    data={"decision": "reject", "opinion": "家庭有两套住房"})
    assert r.headers["Location"].endswith(f"/reviews/cases/{case.id}")
    hh = case.household
    page = text(client.get(f"/reviews/cases/{case.id}"))
    # The form offers the rejection's opinion as the reason and three months ahead.
    assert 'data-testid="case-watch"' in page and "家庭有两套住房</textarea>" in page
    assert watch.default_recheck(TODAY).isoformat() in page
    assert watch.default_recheck(TODAY) == date_plus_months(TODAY, 3)

    url = f"/reviews/watch/{hh.id}/start"
    r = client.post(url, data={"reason": "  ", "recheck_on": TODAY.isoformat()})
    assert r.status_code == 422 and "请填写“监测原因”" in text(r)
    r = client.post(url, data={"reason": "两套住房中一套拟出售",
                               "recheck_on": (TODAY - timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and "复查日期不能早于今天" in text(r)
    r = client.post(url, data={"reason": "两套住房中一套拟出售", "recheck_on": "明年"})
    assert r.status_code == 422 and "应为日期" in text(r)
    r = client.post(url, data={"reason": "两套住房中一套拟出售",
                               "recheck_on": (TODAY + timedelta(days=400)).isoformat()})
    assert r.status_code == 422 and "复查日期不能晚于 12 个月之后" in text(r)
    _db.session.expire_all()
    assert hh.status == "rejected" and _db.session.scalar(sa.select(WatchEntry)) is None

    r = client.post(url, data={"reason": "两套住房中一套拟出售", "recheck_on": TODAY.isoformat()})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/households/{hh.id}")
    _db.session.expire_all()
    e = _db.session.scalar(sa.select(WatchEntry))
    assert (hh.status, e.reason, e.recheck_on, e.case_id, e.started_by_id) == (
        "watch", "两套住房中一套拟出售", TODAY, case.id, people.community.id)
    page = text(client.get(f"/households/{hh.id}"))
    assert "未纳入·监测中" in page and "监测记录" in page and "两套住房中一套拟出售" in page
    assert f"复查日期 {TODAY.isoformat()}" in page
    assert "观察" not in page  # the policy says 监测, not 观察期
    # Once on the list, not twice.
    r = client.post(url, data={"reason": "再次", "recheck_on": TODAY.isoformat()})
    assert r.status_code == 409 and "已在监测名单中" in text(r)
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(WatchEntry)) == 1
    assert _db.session.scalar(sa.select(AuditEvent.action).where(
        AuditEvent.action == "watch.start")) == "watch.start"


def test_only_households_not_enrolled_go_on_the_list(world, people, make_household, as_):
    enrolled = make_household(status="enrolled")
    client = as_(people.county)
    r = client.post(f"/reviews/watch/{enrolled.id}/start",
                    data={"reason": "x", "recheck_on": TODAY.isoformat()})
    assert r.status_code == 409 and "只有未纳入帮扶的家庭" in text(r)
    assert client.get(f"/reviews/watch/{enrolled.id}/start").status_code == 302
    assert "列入监测名单" not in text(client.get(f"/households/{enrolled.id}"))


def test_the_list_per_community_street_and_county_is_scoped_and_sorted(
        world, people, make_household, make_user, as_):
    here = watched(people.county, make_household(status="rejected", head_name="和平甲"),
                   recheck=TODAY + timedelta(days=60))
    soon = watched(people.county, make_household(status="rejected", head_name="和平乙"),
                   recheck=TODAY + timedelta(days=5))
    next_door = watched(people.county, make_household(place=world.community_2,
                                                      status="rejected", head_name="幸福丙"))
    other_street = watched(people.county, make_household(place=world.community_3,
                                                         status="rejected", head_name="民主丁"))
    county_b = make_user("county_officer", place=world.county_b)
    other_county = watched(county_b, make_household(place=world.community_b,
                                                    status="rejected", head_name="光明戊"))
    overdue = watched(people.county, make_household(status="rejected", head_name="和平己"))
    overdue.recheck_on = TODAY - timedelta(days=3)  # the date passed without a check
    not_yet = make_household(status="rejected", head_name="和平庚")
    _db.session.commit()

    page = text(as_(people.community).get("/reviews/watch"))
    assert ids_in(page) == [overdue.household_id, soon.household_id, here.household_id]
    row = page.split(f'data-household-id="{overdue.household_id}"')[1].split("</li>")[0]
    assert 'data-overdue="1"' in row and f"复查已逾期：{overdue.recheck_on.isoformat()}" in row
    assert "收入不稳定，持续关注" in row and "尚无监测记录" in row
    assert "复查已逾期" not in page.split(f'data-household-id="{soon.household_id}"')[1] \
        .split("</li>")[0]
    assert ids_in(page, "unwatched") == [] and "和平庚" in page  # to decide on
    assert f"/reviews/watch/{not_yet.id}/start" in page
    assert as_(people.community_2).get(f"/reviews/watch?place={world.community.id}") \
        .status_code == 404

    page = text(as_(people.street).get("/reviews/watch"))
    assert set(ids_in(page)) == {here.household_id, soon.household_id, overdue.household_id,
                                 next_door.household_id}
    page = text(as_(people.street).get(f"/reviews/watch?place={world.community_2.id}"))
    assert ids_in(page) == [next_door.household_id]

    client = as_(people.county)
    page = text(client.get("/reviews/watch"))
    assert other_street.household_id in ids_in(page)
    assert other_county.household_id not in ids_in(page)
    page = text(client.get(f"/reviews/watch?place={world.street_2.id}"))
    assert ids_in(page) == [other_street.household_id]
    assert client.get(f"/reviews/watch?place={world.street_b.id}").status_code == 404

    page = text(as_(people.city).get("/reviews/watch"))
    assert other_county.household_id in ids_in(page)
    assert "重新启动审核" not in page  # the city reads the list
    # The list is in the navigation beside the review queue.
    assert 'href="/reviews/watch"' in text(as_(people.street).get("/reviews/"))
    for user in (people.commerce, people.helper):
        assert as_(user).get("/reviews/watch").status_code == 404


def test_a_check_is_recorded_and_moves_the_recheck_date(world, people, make_household, as_):
    hh = make_household(status="rejected")
    e = watched(people.county, hh, recheck=TODAY)
    client = as_(people.street)
    url = f"/reviews/watch/{hh.id}/check"
    assert "填写监测记录" in text(client.get(url))
    nxt = TODAY + timedelta(days=90)
    r = client.post(url, data={"checked_on": TODAY.isoformat(), "changes": "",
                               "next_recheck_on": nxt.isoformat()})
    assert r.status_code == 422 and "请填写“家庭情况变化”" in text(r)
    r = client.post(url, data={"checked_on": (TODAY + timedelta(days=1)).isoformat(),
                               "changes": "配偶失业", "next_recheck_on": nxt.isoformat()})
    assert r.status_code == 422 and "监测日期不能晚于今天" in text(r)
    r = client.post(url, data={"checked_on": TODAY.isoformat(), "changes": "配偶失业",
                               "next_recheck_on": (TODAY - timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and "复查日期不能早于今天" in text(r)
    assert _db.session.scalar(sa.select(WatchCheck)) is None

    r = client.post(url, data={"checked_on": TODAY.isoformat(), "changes": "配偶失业，收入减少",
                               "note": "下月核实失业登记", "next_recheck_on": nxt.isoformat()})
    assert r.status_code == 302
    _db.session.expire_all()
    check = _db.session.scalar(sa.select(WatchCheck))
    assert (check.entry_id, check.recorded_by_id, check.next_recheck_on) == (
        e.id, people.street.id, nxt)
    assert e.recheck_on == nxt
    page = text(client.get(f"/households/{hh.id}"))
    assert "配偶失业，收入减少" in page and "下月核实失业登记" in page
    page = text(client.get("/reviews/watch"))
    assert f"最近联系 {TODAY.isoformat()}" in page and f"复查日期 {nxt.isoformat()}" in page

    # The community worker of the household checks too; the county office, the next
    # community, the helper and departments do not (404: the page is not theirs).
    assert as_(people.community).get(url).status_code == 200
    for user in (people.county, people.community_2, people.street_2, people.helper,
                 people.commerce):
        assert as_(user).post(url, data={"checked_on": TODAY.isoformat(), "changes": "x",
                                         "next_recheck_on": nxt.isoformat()}).status_code == 404
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(WatchCheck)) == 1


@pytest.mark.parametrize(("who", "stage", "source"), [
    ("community", steps.COMMUNITY_REVIEW, "monitoring"),
    ("street", steps.STREET_REVIEW, "monitoring_lead"),
    ("county", steps.STREET_REVIEW, "monitoring_lead"),
])
def test_restart_opens_a_case_at_the_first_step_of_the_level(world, people, as_, who, stage,
                                                             source):
    hh = rejected(world, people)
    first = _db.session.scalar(sa.select(Case))
    e = watched(people.community, hh)
    user = getattr(people, who)
    client = as_(user)
    url = f"/reviews/watch/{hh.id}/restart"
    r = client.post(url, data={"reason": ""})
    assert r.status_code == 422 and "请填写“重新启动审核的原因”" in text(r)

    r = client.post(url, data={"reason": "户主确诊尿毒症，每月透析支出三千元"})
    assert r.status_code == 302
    _db.session.expire_all()
    case = _db.session.scalar(sa.select(Case).where(Case.id != first.id))
    assert r.headers["Location"].endswith(f"/reviews/cases/{case.id}")
    assert (case.kind, case.state, case.channel, case.stage, case.source, case.opened_by_id) \
        == ("intake", "open", "territorial", stage, source, user.id)
    assert hh.status == "reported"
    assert (e.ended_by_id, e.end_reason, e.restart_case_id) == (
        user.id, "户主确诊尿毒症，每月透析支出三千元", case.id)
    # Off the list, history kept; the case shows why it came back; the step's holder sees it.
    assert hh.id not in ids_in(text(client.get("/reviews/watch")))
    page = text(client.get(f"/households/{hh.id}"))
    assert "收入不稳定，持续关注" in page and "户主确诊尿毒症" in page
    assert f"/reviews/cases/{case.id}" in page
    page = text(client.get(f"/reviews/cases/{case.id}"))
    assert 'data-testid="restarted-from-watch"' in page and "户主确诊尿毒症" in page
    holder = people.community if stage == steps.COMMUNITY_REVIEW else people.street
    assert f'data-case-id="{case.id}"' in text(as_(holder).get("/reviews/"))
    decide(holder, case, "approve", "情况属实", draft_plan="申请城镇低保")
    assert case.stage == (steps.STREET_REVIEW if stage == steps.COMMUNITY_REVIEW
                          else steps.COUNTY_CONFIRM)
    # Not twice: the household is no longer on the list.
    assert as_(user).post(url, data={"reason": "再次"}).status_code == 409


def test_who_may_not_put_on_watch_or_restart(world, people, make_household, make_user, as_):
    hh = make_household(status="rejected")
    other_community = make_household(place=world.community_2, status="rejected")
    data = {"reason": "x", "recheck_on": TODAY.isoformat()}
    for user in (people.helper, people.commerce, people.city):
        client = as_(user)
        assert client.post(f"/reviews/watch/{hh.id}/start", data=data).status_code == 404
        assert client.post(f"/reviews/watch/{hh.id}/restart", data=data).status_code == 404
    client = as_(people.community)
    assert client.post(f"/reviews/watch/{other_community.id}/start",
                       data=data).status_code == 404
    for user in (people.street_2, people.street_b, people.county_b):
        assert as_(user).post(f"/reviews/watch/{hh.id}/start", data=data).status_code == 404
    assert _db.session.scalar(sa.select(WatchEntry)) is None
    # A rejected household cannot be restarted from here (it is not on the list).
    assert as_(people.county).post(f"/reviews/watch/{hh.id}/restart",
                                   data={"reason": "x"}).status_code == 409
    # A department reviewer of the county is not a watcher (the service's own rule).
    with pytest.raises(FormError) as refused:
        watch.start_watch(people.commerce, hh, data)
    assert refused.value.status == 403
    _db.session.rollback()


def test_watched_before_the_list_kept_reasons(world, people, make_household, as_):
    """Households marked 观察 by the old rejection have no entry: they lead the list, flagged,
    and can be given a reason and a date, or restarted."""
    old = make_household(status="watch", head_name="老观察户")
    other = make_household(status="watch")
    client = as_(people.community)
    page = text(client.get("/reviews/watch"))
    assert ids_in(page)[:2] == [old.id, other.id] and "未登记监测原因和复查日期" in page
    r = client.post(f"/reviews/watch/{old.id}/start",
                    data={"reason": "原观察名单，补录", "recheck_on": TODAY.isoformat()})
    assert r.status_code == 302
    r = client.post(f"/reviews/watch/{other.id}/restart", data={"reason": "收入骤降"})
    assert r.status_code == 302
    _db.session.expire_all()
    entry_of_other = _db.session.scalar(sa.select(WatchEntry).where(
        WatchEntry.household_id == other.id))
    assert entry_of_other.ended_at is not None and entry_of_other.restart_case_id is not None
    assert (old.status, other.status) == ("watch", "reported")


def test_two_reviewers_watching_at_once_make_one_entry(app, world, people, make_household,
                                                       monkeypatch):
    if _db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    hh_id = make_household(status="rejected").id
    user_ids = [people.community.id, people.street.id]
    real = watch.open_entry
    barrier = threading.Barrier(2, timeout=20)
    local = threading.local()

    def both_look_first(hh):
        found = real(hh)
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()  # both saw no open entry before either writes
        return found

    monkeypatch.setattr(watch, "open_entry", both_look_first)
    outcomes: list[object] = []

    def start(user_id: int) -> None:
        with app.app_context():
            try:
                watch.start_watch(_db.session.get(User, user_id),
                                  _db.session.get(Household, hh_id),
                                  {"reason": "同时登记", "recheck_on": TODAY.isoformat()})
                _db.session.commit()
                outcomes.append("ok")
            except FormError as exc:
                _db.session.rollback()
                outcomes.append(exc.status)
            except BaseException as exc:  # reported below, in the test's thread
                outcomes.append(exc)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=start, args=(u,)) for u in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(map(str, outcomes)) == ["409", "ok"], outcomes
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(WatchEntry)) == 1

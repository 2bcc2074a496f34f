"""A form that creates something, sent twice with its one-time token (a double tap, a retry,
the back button), is saved once, and the repeat lands on the first result
(fieldwork/forms_once.py). Browser-free: the pages are fetched and their forms posted as a
browser would."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from fieldwork.extensions import db as _db
from fieldwork.forms_once import FormSubmission
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    HouseholdChange,
    Measure,
    Member,
    ReviewDecision,
)
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.timeutil import now_utc, today_local

TOKEN = re.compile(r'name="form_token" value="([A-Za-z0-9_-]+)"')


def token_in(html: str, action: str) -> str:
    """The token of the form that posts to `action` on the page."""
    for form in re.findall(r"<form\b.*?</form>", html, re.S):
        opening = form.split(">", 1)[0]
        if 'method="post"' not in opening:
            continue
        if (f'action="{action}' in opening) if action else ("action=" not in opening):
            found = TOKEN.search(form)
            assert found, f"the form posting to {action!r} carries no one-time token"
            return found.group(1)
    raise AssertionError(f"no form posting to {action!r}")


def count(model) -> int:
    _db.session.expire_all()
    return _db.session.scalar(sa.select(sa.func.count()).select_from(model))


def twice(client, url: str, data: dict) -> tuple:
    first = client.post(url, data=data)
    second = client.post(url, data=data)
    return first, second


@pytest.fixture
def officer(make_user):
    return make_user("county_officer", display_name="刘主任")


def measure_form(token: str) -> dict:
    return {"name": "宛城区冬季取暖补贴", "area": "income", "department": "民政",
            "amount": "300", "unit": "元/年", "note": "", "form_token": token}


def test_adding_a_measure_twice_adds_one(client, auth, officer):
    auth.login(officer)
    token = token_in(client.get("/manage/measures").get_data(as_text=True),
                     "/manage/measures")
    before = count(Measure)
    first, second = twice(client, "/manage/measures", measure_form(token))
    assert first.status_code == 302
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert count(Measure) == before + 1
    page = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "该表单已提交过，没有重复保存" in page
    # A new rendering of the form is a new token: adding another measure still works.
    token = token_in(client.get("/manage/measures").get_data(as_text=True),
                     "/manage/measures")
    again = client.post("/manage/measures", data={**measure_form(token), "name": "另一项补贴"})
    assert again.status_code == 302 and count(Measure) == before + 2


def test_a_refused_form_may_be_corrected_and_sent_with_its_token(client, auth, officer):
    auth.login(officer)
    token = token_in(client.get("/manage/measures").get_data(as_text=True),
                     "/manage/measures")
    before = count(Measure)
    refused = client.post("/manage/measures", data={**measure_form(token), "amount": "-1"})
    assert refused.status_code == 422 and count(Measure) == before
    assert count(FormSubmission) == 0  # the claim went with the refused transaction
    ok = client.post("/manage/measures", data=measure_form(token))
    assert ok.status_code == 302 and count(Measure) == before + 1


def test_a_token_not_ours_or_of_another_form_is_refused(client, auth, officer,
                                                        make_household):
    auth.login(officer)
    before = count(Measure)
    bad = client.post("/manage/measures", data=measure_form("short'<>"))
    assert bad.status_code == 400
    assert "表单已失效，请刷新页面后重新填写" in bad.get_data(as_text=True)
    token = token_in(client.get("/manage/measures").get_data(as_text=True),
                     "/manage/measures")
    assert client.post("/manage/measures", data=measure_form(token)).status_code == 302
    household = make_household()
    other = client.post(f"/manage/exit/households/{household.id}/propose",
                        data={"form_token": token})
    assert other.status_code == 400
    assert count(Measure) == before + 1 and count(Case) == 0


def test_the_same_token_of_another_user_is_theirs(client, auth, officer, make_user):
    auth.login(officer)
    token = token_in(client.get("/manage/measures").get_data(as_text=True),
                     "/manage/measures")
    assert client.post("/manage/measures", data=measure_form(token)).status_code == 302
    auth.logout()
    other = make_user("county_officer", place=None)
    auth.login(other)
    r = client.post("/manage/measures", data={**measure_form(token), "name": "他人的措施"})
    assert r.status_code == 302 and count(Measure) >= 2


def test_entering_a_household_twice_registers_one(client, auth, make_user, world):
    auth.login(make_user("community_worker"))
    token = token_in(client.get("/reviews/new").get_data(as_text=True), "")
    id_number = make_test_id_number("411302", date(1975, 6, 1), 321)
    form = {"head_name": "赵建国", "id_number": id_number,
            "phone": "13837700001", "address": "东关街道建设路8号",
            "place_id": str(world.community.id), "members_count": "3", "category": "edge",
            "causes": ["illness"], "situation": "户主重病", "form_token": token}
    first, second = twice(client, "/reviews/new", form)
    assert first.status_code == 302, first.get_data(as_text=True)
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert count(Household) == 1 and count(Case) == 1


def test_reassigning_twice_moves_once(client, auth, officer, make_user, make_household):
    old, new = make_user("helper"), make_user("helper")
    household = make_household(helper=old, assigned_on=date(2024, 1, 1))
    auth.login(officer)
    url = f"/manage/households/{household.id}/assignment"
    token = token_in(client.get(url).get_data(as_text=True), url)
    form = {"helper_id": new.id, "effective": (today_local() + timedelta(days=3)).isoformat(),
            "reason": "工作调动", "form_token": token}
    first, second = twice(client, url, form)
    assert first.status_code == 302 and second.status_code == 303
    assert count(Assignment) == 2


def test_deciding_a_visit_twice_records_one_decision(client, auth, make_user, world,
                                                     make_household, make_visit):
    helper = make_user("helper")
    household = make_household(helper=helper)
    visit = make_visit(household, helper, visited_at=now_utc() - timedelta(hours=2),
                       flags=["no_photo"], flag_count=1)
    auth.login(make_user("county_officer"))
    url = f"/supervision/reviews/{visit.id}"
    html = client.get(url).get_data(as_text=True)
    token = token_in(html, url)
    form = {"form_token": token, "review_version": "0", "decision": "reject",
            "opinion": "照片缺失"}
    first, second = twice(client, url, form)
    # The double tap is not a second reviewer: no 409, the same result page.
    assert first.status_code == 302 and second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert count(ReviewDecision) == 1


def test_every_page_form_that_creates_carries_a_token(client, auth, officer, make_household,
                                                      make_user):
    """The views guarded by @once, and the page each of their forms is on."""
    household = make_household(helper=make_user("helper"))
    make_household(head_name="无人户")  # unassigned: the assignments page shows its form
    auth.login(officer)
    pages = {
        "/manage/measures": "/manage/measures",
        "/manage/assignments": "/manage/assignments/assign",
        f"/manage/households/{household.id}/assignment":
            f"/manage/households/{household.id}/assignment",
        f"/manage/households/{household.id}/plan": f"/manage/households/{household.id}/plan",
        "/manage/policy": "",
        "/reviews/new": "",
    }
    for page, action in pages.items():
        html = client.get(page).get_data(as_text=True)
        assert token_in(html, action), page


def test_two_copies_sent_at_the_same_moment_save_one(app, officer):
    """The second copy arrives while the first is still saving (its transaction open): on
    PostgreSQL its claim waits on the unique key, on SQLite its transaction waits for the
    write lock; either way it then finds the first one's result."""
    import threading
    import time

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    clients = [app.test_client(), app.test_client()]
    for c in clients:
        c.post("/login", data={"username": officer.username, "password": "test-pass-123"})
    token = token_in(clients[0].get("/manage/measures").get_data(as_text=True),
                     "/manage/measures")
    before = count(Measure)
    _db.session.commit()  # the test's own session holds no transaction meanwhile
    saving = threading.Event()
    answers: dict[str, int] = {}

    def hold(session, _context):
        if threading.current_thread().name == "first" and any(
                isinstance(o, Measure) for o in session.new):
            saving.set()
            time.sleep(0.8)

    def send(name: str, client) -> None:
        if name == "second":
            assert saving.wait(timeout=10)
        answers[name] = client.post("/manage/measures", data=measure_form(token)).status_code

    event.listen(Session, "after_flush", hold)
    try:
        threads = [threading.Thread(target=send, args=(n, c), name=n)
                   for n, c in zip(("first", "second"), clients, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        event.remove(Session, "after_flush", hold)
    assert answers == {"first": 302, "second": 303}
    assert count(Measure) == before + 1


def test_recording_a_member_leaving_twice_records_one_change(client, auth, make_user,
                                                            make_household):
    """A double tap on 成员减少登记 (and on 修改成员信息, same decorator) is not a second
    change nor a "没有任何改动" refusal: the repeat lands where the first went."""
    household = make_household()
    son = Member(name="王小明", relation="child")
    household.members.append(son)
    _db.session.commit()
    auth.login(make_user("street_reviewer"))
    url = f"/households/{household.id}/members/{son.id}/leave"
    token = token_in(client.get(url).get_data(as_text=True), "")
    form = {"form_token": token, "left_reason": "moved_out",
            "left_on": today_local().isoformat(), "reason": "外出务工"}
    first, second = twice(client, url, form)
    assert first.status_code == 302 and second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert count(HouseholdChange) == 1

    edit = f"/households/{household.id}/members/{son.id}/edit"
    assert token_in(client.get(edit).get_data(as_text=True), "")

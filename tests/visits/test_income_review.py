"""A doubtful visit changes nothing in the household file until a reviewer accepts it: the
case of a former helper who pushes a visit after the household was handed to someone else,
and of a reviewer who takes an acceptance back."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest

from fieldwork.extensions import db as _db
from fieldwork.households.models import Household
from fieldwork.timeutil import now_utc, today_local
from fieldwork.visits.models import Visit
from fieldwork.visits.services import parse_visit_record, record_visit

DIMS = ("income", "housing", "education", "medical", "employment", "elderly")


def visit_raw(household, income: str, hours_ago: float = 1) -> dict:
    answers = {"present": "户主本人", "household_income": income,
               **{f"{d}_status": "ok" for d in DIMS}}
    return {"type": "visit", "id": str(uuid.uuid4()), "household_id": household.id,
            "visited_at": (now_utc() - timedelta(hours=hours_ago)).isoformat(),
            "location": {"lat": 32.995, "lon": 112.541, "accuracy_m": 12, "source": "gps"},
            "answers": answers, "notes": "", "supersedes": None,
            "photos": [{"id": str(uuid.uuid4()), "sha256": "b" * 64, "bytes": 900}]}


def push(user, raw):
    result = record_visit(user, parse_visit_record(raw, device_id="phone-1"))
    _db.session.commit()
    return result


def income(household) -> Decimal | None:
    _db.session.expire_all()
    return _db.session.get(Household, household.id).per_capita_income


@pytest.fixture
def handed_over(client, auth, world, make_user, make_household):
    """A household of three at 500 a head, handed today from 老帮扶 to 新帮扶."""
    old = make_user("helper", display_name="老帮扶")
    new = make_user("helper", display_name="新帮扶")
    household = make_household(helper=old, members_count=3, per_capita_income=Decimal("500"))
    officer = make_user("county_officer", display_name="刘主任")
    auth.login(officer)
    r = client.post(f"/manage/households/{household.id}/assignment", data={
        "helper_id": new.id, "effective": today_local().isoformat(), "reason": "工作调动"})
    assert r.status_code == 302
    return household, old, new, officer


def test_a_former_helpers_visit_waits_for_review(client, handed_over):
    household, old, _new, _officer = handed_over
    result = push(old, visit_raw(household, "3000"))
    assert result.status == "created"
    assert "after_reassignment" in result.flags
    assert income(household) == Decimal("500.00")
    # The reviewer is told what accepting would change.
    page = client.get(f"/supervision/reviews/{result.id}").get_data(as_text=True)
    assert "确认有效后才计入住户档案" in page

    r = client.post(f"/supervision/reviews/{result.id}", data={"decision": "accept"})
    assert r.status_code == 302
    assert income(household) == Decimal("1000.00")


def test_a_rejected_former_helpers_visit_never_touches_the_file(client, handed_over):
    household, old, _new, _officer = handed_over
    result = push(old, visit_raw(household, "3000"))
    r = client.post(f"/supervision/reviews/{result.id}",
                    data={"decision": "reject", "opinion": "已移交，非本人走访"})
    assert r.status_code == 302
    assert income(household) == Decimal("500.00")
    assert _db.session.get(Visit, result.id).review_status == "rejected"


def test_the_current_helpers_visit_still_updates_the_file(handed_over):
    household, old, new, _officer = handed_over
    assert push(new, visit_raw(household, "1800")).flags == []
    assert income(household) == Decimal("600.00")


def test_a_later_accepted_visit_wins_and_a_re_review_takes_it_back(client, handed_over):
    household, old, new, _officer = handed_over
    mine = push(new, visit_raw(household, "1200", hours_ago=5))
    assert mine.flags == [] and income(household) == Decimal("400.00")
    theirs = push(old, visit_raw(household, "3000", hours_ago=1))
    assert income(household) == Decimal("400.00")
    client.post(f"/supervision/reviews/{theirs.id}", data={"decision": "accept"})
    assert income(household) == Decimal("1000.00")
    # A second look finds it wrong: the file goes back to the latest visit it may hold.
    client.post(f"/supervision/reviews/{theirs.id}",
                data={"decision": "reject", "opinion": "复查：非本人走访"})
    assert income(household) == Decimal("400.00")

"""Two reviewers deciding the same doubtful visit: the second is refused, nothing of theirs is
written, and they are told who decided. Sequentially (two pages loaded with the same state,
both sent) on every backend, and with two real concurrent transactions on PostgreSQL."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.errors import FormError
from fieldwork.households.models import ReviewDecision
from fieldwork.timeutil import now_utc
from fieldwork.visits.models import Visit


@pytest.fixture
def doubtful(world, make_user, make_household, make_visit):
    helper = make_user("helper", place=world.street, display_name="王帮扶")
    household = make_household(place=world.community, helper=helper, head_name="张疑点")
    visit = make_visit(household, helper, visited_at=now_utc() - timedelta(hours=3),
                       flags=["no_photo"], flag_count=1)
    return visit


def _form(client, visit_id: str) -> dict[str, str]:
    """The decision form's hidden fields, as the reviewer's page carries them."""
    html = client.get(f"/supervision/reviews/{visit_id}").get_data(as_text=True)
    form = html[html.index('data-testid="review-decide"'):]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def _decisions(db) -> list[ReviewDecision]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ReviewDecision).order_by(ReviewDecision.id)))


def test_the_second_of_two_reviewers_on_the_same_state_is_refused(app, db, make_user, world,
                                                                  doubtful):
    first = make_user("street_reviewer", place=world.street, display_name="街道审核甲")
    second = make_user("county_officer", display_name="县审核乙")
    a, b = app.test_client(), app.test_client()
    for client, user in ((a, first), (b, second)):
        client.post("/login", data={"username": user.username, "password": "test-pass-123"})
    form_a, form_b = _form(a, doubtful.id), _form(b, doubtful.id)
    assert form_a["review_version"] == form_b["review_version"] == "0"

    r = a.post(f"/supervision/reviews/{doubtful.id}", data={**form_a, "decision": "accept"})
    assert r.status_code == 302
    r = b.post(f"/supervision/reviews/{doubtful.id}",
               data={**form_b, "decision": "reject", "opinion": "照片缺失"})
    html = r.get_data(as_text=True)
    assert r.status_code == 409
    assert "该走访已由街道审核甲审核，请刷新后查看" in html
    # Nothing of the second decision was written.
    assert [(d.decision, d.reviewer_id) for d in _decisions(db)] == [("approve", first.id)]
    assert db.session.get(Visit, doubtful.id).review_status == "accepted"
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id)).where(
        AuditEvent.action == "visit.review")) == 1
    # The page answered carries the new state: deciding again from it is a re-review.
    again = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"',
                            html[html.index('data-testid="review-decide"'):]))
    assert again["review_version"] == "1"
    r = b.post(f"/supervision/reviews/{doubtful.id}",
               data={**again, "decision": "reject", "opinion": "复查：照片缺失"})
    assert r.status_code == 302
    assert [d.decision for d in _decisions(db)] == ["approve", "reject"]


def test_a_version_that_is_not_a_number_is_stale(client, auth, db, make_user, doubtful):
    auth.login(make_user("county_officer"))
    r = client.post(f"/supervision/reviews/{doubtful.id}",
                    data={"decision": "accept", "review_version": "x"})
    assert r.status_code == 409 and "请刷新后查看" in r.get_data(as_text=True)
    assert _decisions(db) == []


def test_two_concurrent_transactions_record_one_decision(app, db, make_user, world, doubtful):
    """Two threads, each with its own session and connection, both load the visit, then
    decide; the first holds its transaction open while the second writes. On PostgreSQL the
    second UPDATE waits for the first to commit, then matches no row."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs writing requests one at a time (BEGIN IMMEDIATE): the "
                    "sequential test covers it")
    from fieldwork.supervision import review

    reviewers = [make_user("street_reviewer", place=world.street, display_name="甲"),
                 make_user("county_officer", display_name="乙")]
    ids = [u.id for u in reviewers]
    loaded = threading.Barrier(2)
    first_wrote = threading.Event()
    results: dict[int, str] = {}

    def run(i: int) -> None:
        from fieldwork.accounts.models import User

        with app.test_request_context(method="POST"):
            try:
                user = db.session.get(User, ids[i])
                visit = db.session.get(Visit, doubtful.id)
                version = visit.review_version
                loaded.wait(timeout=10)
                if i == 1:
                    assert first_wrote.wait(timeout=10)
                try:
                    review.decide(user, visit, "accept" if i == 0 else "reject",
                                  "并发审核", expect_version=version)
                except FormError as exc:
                    db.session.rollback()
                    results[i] = f"stale:{exc.status}:{exc.message}"
                    return
                if i == 0:
                    db.session.flush()
                    first_wrote.set()
                    # Hold the row while the other transaction tries to write it.
                    threading.Event().wait(0.5)
                db.session.commit()
                results[i] = "ok"
            except Exception as exc:  # pragma: no cover - reported below
                results[i] = f"error:{exc!r}"
                first_wrote.set()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == {0: "ok", 1: "stale:409:该走访已由甲审核，请刷新后查看"}
    decisions = _decisions(db)
    assert [(d.decision, d.reviewer_id) for d in decisions] == [("approve", ids[0])]
    visit = db.session.get(Visit, doubtful.id)
    assert (visit.review_status, visit.review_version) == ("accepted", 1)

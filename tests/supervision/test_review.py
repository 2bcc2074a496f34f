"""The doubtful-visit queue and the reviewer's decision: scope, filters, evidence, who may
decide, what is recorded and audited, and what it does to the compliance figures."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.households.models import Household, ReviewDecision
from fieldwork.photos.models import Photo
from fieldwork.timeutil import add_months, current_month, month_bounds, now_utc
from fieldwork.visits.models import Visit


def at(month_offset: int = 0, hours: float = 2):
    return month_bounds(add_months(current_month(), month_offset))[0] + timedelta(hours=hours)


def queue_ids(html: str) -> list[str]:
    return re.findall(r'data-visit-id="([0-9a-f-]{36})"', html)


@pytest.fixture
def flagged(world, make_user, make_household, make_visit):
    """Flagged and plain visits in 东关街道, 新华街道 and 卧龙区."""
    helper = make_user("helper", place=world.street, display_name="王帮扶", phone="13812345678")
    helper_2 = make_user("helper", place=world.street_2, display_name="李帮扶")
    helper_b = make_user("helper", place=world.street_b, display_name="赵帮扶")
    enrolled = date(2025, 1, 1)
    home = make_household(place=world.community, helper=helper, enrolled_on=enrolled,
                          head_name="张远处", ref_lat=32.995, ref_lon=112.541)
    other = make_household(place=world.community_2, helper=helper, enrolled_on=enrolled,
                           head_name="周无照")
    street_2 = make_household(place=world.community_3, helper=helper_2, enrolled_on=enrolled,
                              head_name="钱邻街")
    county_b = make_household(place=world.community_b, helper=helper_b, enrolled_on=enrolled,
                              head_name="孙外区")
    v = {
        "far": make_visit(home, helper, visited_at=at(0, 3), lat=33.005, lon=112.541,
                          accuracy_m=15, distance_m=1112.0, device_time=now_utc(),
                          flags=["far_from_household", "no_photo"], flag_count=2),
        "old": make_visit(home, helper, visited_at=at(-1), flags=["late_entry"], flag_count=1,
                          recorded_at=at(-1, 80)),
        "no_photo": make_visit(other, helper, visited_at=at(0, 5), flags=["no_photo"],
                               flag_count=1),
        "plain": make_visit(other, helper, visited_at=at(0, 1)),
        "accepted": make_visit(other, helper, visited_at=at(-2), flags=["no_photo"],
                               flag_count=1, review_status="accepted"),
        "superseded": make_visit(home, helper, visited_at=at(-1, 5), flags=["no_photo"],
                                 flag_count=1, superseded=True),
        "street_2": make_visit(street_2, helper_2, visited_at=at(0), flags=["no_photo"],
                               flag_count=1),
        "county_b": make_visit(county_b, helper_b, visited_at=at(0), flags=["no_photo"],
                               flag_count=1),
    }
    return {"visits": v, "helper": helper, "home": home}


def test_the_queue_lists_only_flagged_visits_in_scope_oldest_first(client, auth, make_user,
                                                                   world, flagged):
    v = flagged["visits"]
    auth.login(make_user("street_reviewer", place=world.street))
    html = client.get("/supervision/reviews").get_data(as_text=True)
    assert queue_ids(html) == [v["old"].id, v["far"].id, v["no_photo"].id]
    assert "共 3 条" in html
    auth.logout()
    auth.login(make_user("county_officer"))
    ids = queue_ids(client.get("/supervision/reviews").get_data(as_text=True))
    assert set(ids) == {v["old"].id, v["far"].id, v["no_photo"].id, v["street_2"].id}
    auth.logout()
    auth.login(make_user("city_supervisor"))
    ids = queue_ids(client.get("/supervision/reviews").get_data(as_text=True))
    assert len(ids) == 5 and v["county_b"].id in ids


def test_the_queue_filters(client, auth, make_user, world, flagged):
    v = flagged["visits"]
    auth.login(make_user("street_reviewer", place=world.street))

    def ids(**args):
        return queue_ids(client.get("/supervision/reviews", query_string=args)
                         .get_data(as_text=True))

    assert ids(flag="far_from_household") == [v["far"].id]
    assert ids(flag="no_photo") == [v["far"].id, v["no_photo"].id]
    assert ids(month=str(current_month())) == [v["far"].id, v["no_photo"].id]
    assert ids(month=str(add_months(current_month(), -1))) == [v["old"].id]
    assert ids(status="accepted") == [v["accepted"].id]
    assert ids(status="rejected") == []
    assert ids(status="all") == [v["accepted"].id, v["old"].id, v["far"].id, v["no_photo"].id]
    assert ids(place=str(world.community_2.id)) == [v["no_photo"].id]


def test_the_queue_and_its_items_are_for_officers_in_scope(client, auth, make_user, world,
                                                           flagged):
    v = flagged["visits"]
    auth.login(make_user("street_reviewer", place=world.street))
    assert client.get(f"/supervision/reviews?place={world.street_2.id}").status_code == 404
    for key in ("street_2", "county_b"):
        assert client.get(f"/supervision/reviews/{v[key].id}").status_code == 404
        r = client.post(f"/supervision/reviews/{v[key].id}",
                        data={"decision": "reject", "opinion": "越权"})
        assert r.status_code == 404
    # A visit without flags has nothing to review.
    assert client.get(f"/supervision/reviews/{v['plain'].id}").status_code == 404
    auth.logout()
    auth.login(flagged["helper"])
    assert client.get(f"/supervision/reviews/{v['far'].id}").status_code == 404
    assert client.post(f"/supervision/reviews/{v['far'].id}",
                       data={"decision": "accept"}).status_code == 404


@pytest.mark.parametrize("args, message", [
    ({"flag": "nonsense"}, "没有“nonsense”这种疑点"),
    ({"status": "maybe"}, "无法识别"),
    ({"month": "2026-13"}, "不存在"),
])
def test_bad_filters_are_refused_with_a_message(client, auth, make_user, flagged, args,
                                                message):
    auth.login(make_user("county_officer"))
    r = client.get("/supervision/reviews", query_string=args)
    assert r.status_code == 400 and message in r.get_data(as_text=True)


def test_the_evidence_side_by_side(client, auth, make_user, world, flagged, db):
    v = flagged["visits"]
    photo = Photo(id=str(uuid.uuid4()), visit_id=v["far"].id, uploader_id=flagged["helper"].id,
                  declared_sha256="0" * 64, stored_at=now_utc())
    db.session.add(photo)
    db.session.commit()
    auth.login(make_user("county_officer"))
    html = client.get(f"/supervision/reviews/{v['far'].id}").get_data(as_text=True)
    flags = html[html.index('data-testid="review-flags"'):]
    assert "距离住户过远" in flags and "1112 米" in flags and "无照片" in flags
    assert f"/photos/{photo.id}/thumb.jpg" in html
    location = html[html.index('data-testid="review-location"'):]
    assert 'id="visit-map"' in location and "map-fence" in location
    assert re.search(r'data-testid="review-distance"><b>1112 米', html)
    times = html[html.index('data-testid="review-times"'):]
    assert "走访时间" in times and "录入时间" in times and "手机时间" in times
    history = html[html.index('data-testid="review-history"'):]
    # The helper's visits in the last 12 months: 5 kept (one superseded), 4 flagged.
    assert "共走访 5 次，其中带疑点 4 次（80.0%）" in history
    assert v["old"].id in history and v["far"].id in history
    assert "138****5678" in html and "13812345678" not in html
    assert 'data-testid="review-decide"' in html


def test_rejecting_records_audits_and_stops_the_visit_counting(client, auth, make_user,
                                                               world, flagged, db):
    v = flagged["visits"]
    officer = make_user("county_officer", display_name="刘审核")
    auth.login(officer)

    def visited_on_dashboard() -> str:
        html = client.get(f"/supervision/place/{world.community.id}").get_data(as_text=True)
        return re.search(r'data-testid="stat-visited">(\d+)<', html).group(1)

    assert visited_on_dashboard() == "1"
    version = db.session.get(Household, flagged["home"].id).version
    r = client.post(f"/supervision/reviews/{v['far'].id}",
                    data={"decision": "reject", "opinion": "签到位置在另一小区，照片缺失"})
    assert r.status_code == 302
    # On to the next visit waiting for a decision, the oldest first.
    assert r.headers["Location"].endswith(f"/supervision/reviews/{v['old'].id}")
    follow = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已判定该走访无效（张远处" in follow
    db.session.expire_all()
    visit = db.session.get(Visit, v["far"].id)
    assert visit.review_status == "rejected"
    decision = db.session.scalars(sa.select(ReviewDecision)
                                  .where(ReviewDecision.visit_id == visit.id)).one()
    assert (decision.step, decision.decision, decision.opinion, decision.reviewer_id) == \
        ("visit_review", "reject", "签到位置在另一小区，照片缺失", officer.id)
    assert abs((now_utc() - decision.decided_at).total_seconds()) < 600
    event = db.session.scalars(sa.select(AuditEvent)
                               .where(AuditEvent.action == "visit.review")).one()
    assert (event.target_type, event.target_id, event.user_id, event.place_id) == \
        ("visit", visit.id, officer.id, world.county.id)
    assert event.detail["decision"] == "reject" and event.detail["previous"] == "none"
    assert db.session.get(Household, flagged["home"].id).version == version + 1
    assert visited_on_dashboard() == "0"
    page = client.get(f"/supervision/reviews/{visit.id}").get_data(as_text=True)
    assert "已判定无效" in page and "刘审核" in page and "签到位置在另一小区" in page
    # No longer waiting: the default queue has moved on.
    assert visit.id not in queue_ids(client.get("/supervision/reviews").get_data(as_text=True))


def test_accepting_keeps_the_visit_counting(client, auth, make_user, world, flagged, db):
    v = flagged["visits"]
    auth.login(make_user("street_reviewer", place=world.street))
    r = client.post(f"/supervision/reviews/{v['no_photo'].id}", data={"decision": "accept"})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Visit, v["no_photo"].id).review_status == "accepted"
    decision = db.session.scalars(sa.select(ReviewDecision)).one()
    assert (decision.decision, decision.opinion) == ("approve", "")


def test_rejecting_without_a_reason_is_refused(client, auth, make_user, flagged, db):
    v = flagged["visits"]
    auth.login(make_user("county_officer"))
    r = client.post(f"/supervision/reviews/{v['far'].id}",
                    data={"decision": "reject", "opinion": "   "})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "判定无效时必须填写理由" in html and 'aria-invalid="true"' in html
    db.session.expire_all()
    assert db.session.get(Visit, v["far"].id).review_status == "none"
    assert db.session.scalar(sa.select(sa.func.count(ReviewDecision.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))
                             .where(AuditEvent.action == "visit.review")) == 0


def test_a_missing_decision_or_an_overlong_opinion_is_refused(client, auth, make_user,
                                                              flagged):
    v = flagged["visits"]
    auth.login(make_user("county_officer"))
    r = client.post(f"/supervision/reviews/{v['far'].id}", data={"opinion": "看不清"})
    assert r.status_code == 422 and "请选择" in r.get_data(as_text=True)
    r = client.post(f"/supervision/reviews/{v['far'].id}",
                    data={"decision": "reject", "opinion": "长" * 501})
    assert r.status_code == 422 and "不能超过 500 字" in r.get_data(as_text=True)


def test_the_city_supervisor_reads_but_cannot_decide(client, auth, make_user, flagged, db):
    v = flagged["visits"]
    for role in ("city_supervisor", "admin"):
        auth.login(make_user(role))
        queue = client.get("/supervision/reviews").get_data(as_text=True)
        assert v["far"].id in queue_ids(queue)
        page = client.get(f"/supervision/reviews/{v['far'].id}")
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "距离住户过远" in html
        assert 'data-testid="review-decide"' not in html and "判定无效</button>" not in html
        r = client.post(f"/supervision/reviews/{v['far'].id}",
                        data={"decision": "reject", "opinion": "不应生效"})
        assert r.status_code == 403
        auth.logout()
    db.session.expire_all()
    assert db.session.get(Visit, v["far"].id).review_status == "none"
    assert db.session.scalar(sa.select(sa.func.count(ReviewDecision.id))) == 0


def test_deciding_twice_keeps_both_decisions(client, auth, make_user, world, flagged, db):
    v = flagged["visits"]
    street = make_user("street_reviewer", place=world.street, display_name="街道审核人")
    county = make_user("county_officer", display_name="县审核人")
    auth.login(street)
    client.post(f"/supervision/reviews/{v['far'].id}",
                data={"decision": "accept", "opinion": "在门口拍照，定位漂移"})
    auth.logout()
    auth.login(county)
    page = client.get(f"/supervision/reviews/{v['far'].id}").get_data(as_text=True)
    assert "重新审核" in page and "街道审核人" in page
    client.post(f"/supervision/reviews/{v['far'].id}",
                data={"decision": "reject", "opinion": "复查：该户已搬离"})
    db.session.expire_all()
    assert db.session.get(Visit, v["far"].id).review_status == "rejected"
    decisions = db.session.scalars(sa.select(ReviewDecision).order_by(ReviewDecision.id)).all()
    assert [(d.decision, d.reviewer_id) for d in decisions] == \
        [("approve", street.id), ("reject", county.id)]
    page = client.get(f"/supervision/reviews/{v['far'].id}").get_data(as_text=True)
    record = page[page.index('data-testid="review-decisions"'):]
    assert record.index("街道审核人") < record.index("县审核人")
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "visit.review").order_by(AuditEvent.id)).all()
    assert [e.detail["previous"] for e in events] == ["none", "accepted"]


def test_the_dashboard_links_to_the_months_queue(client, auth, make_user, world, flagged):
    auth.login(make_user("street_reviewer", place=world.street))
    html = client.get("/supervision/").get_data(as_text=True)
    link = re.search(r'href="([^"]+)" data-testid="pending-link">待审核 (\d+) 次', html)
    assert link and link.group(2) == "2"
    target = link.group(1).replace("&amp;", "&")
    assert len(queue_ids(client.get(target).get_data(as_text=True))) == 2


def test_the_pages_need_nothing_the_csp_forbids(client, auth, make_user, world, flagged):
    auth.login(make_user("county_officer"))
    for url in ("/supervision/", f"/supervision/place/{world.county.id}/trend",
                f"/supervision/place/{world.community.id}", "/supervision/reviews",
                f"/supervision/reviews/{flagged['visits']['far'].id}"):
        html = client.get(url).get_data(as_text=True)
        for attributes, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in attributes and not body.strip(), url
        assert not re.search(r"\son[a-z]+\s*=", html), url
        assert "style=" not in html and "javascript:" not in html, url

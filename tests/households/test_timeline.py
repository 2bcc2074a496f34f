"""The household's timeline: every kind of event of its file, in date order, from a fixed
number of queries however long the history."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fieldwork.extensions import db
from fieldwork.households import changes, timeline
from fieldwork.households.file_changes import CATEGORY, PHONE
from fieldwork.households.models import (
    Assignment,
    Case,
    Measure,
    Objection,
    PlanMeasure,
    PlatformEntry,
    ReviewDecision,
    WatchCheck,
    WatchEntry,
)

PROBLEM = {"income_status": "problem", "medical_status": "at_risk", "housing_status": "ok"}


def at(month, day, hour=9):
    return datetime(2025, month, day, hour, tzinfo=UTC)


def history(hh, world, make_user, make_visit, rounds=1):
    """A household's life: intake with three decisions, publicity with an objection,
    enrolment, helpers, plan, visits (one with problems), changes, exit. `rounds` repeats
    the after-enrolment part to make the history longer."""
    worker, street, county = (make_user("community_worker"), make_user("street_reviewer"),
                              make_user("county_officer"))
    case = Case(household_id=hh.id, channel="territorial", stage="enrolled", state="approved",
                opened_at=at(1, 2), source="application", publicity_ends_on=date(2025, 1, 20))
    db.session.add(case)
    db.session.flush()
    for step, when, who in (("community_review", at(1, 3), worker),
                            ("street_review", at(1, 6), street),
                            ("county_confirm", at(1, 10), county)):
        db.session.add(ReviewDecision(case_id=case.id, step=step, decision="approve",
                                      opinion=f"{step} 同意", reviewer_id=who.id,
                                      decided_at=when))
    db.session.add(Objection(case_id=case.id, text="邻居称其有车", recorded_by_id=county.id,
                             recorded_at=at(1, 12), upheld=False, resolution="车辆已报废",
                             resolved_at=at(1, 15)))
    hh.enrolled_on = date(2025, 1, 22)
    measure = Measure(county_id=world.county.id, area="income", name="城市低保金")
    db.session.add(measure)
    db.session.flush()
    for n in range(rounds):
        helper = make_user("helper")
        db.session.add(Assignment(household_id=hh.id, helper_id=helper.id,
                                  start_date=date(2025, 1, 22 + n),
                                  end_date=date(2025, 6, 30), reason="结对帮扶"))
        db.session.add(PlanMeasure(household_id=hh.id, measure_id=measure.id,
                                   start_date=date(2025, 2, 1), end_date=date(2025, 6, 30)))
        make_visit(hh, helper, visited_at=at(3, 5 + n), answers=PROBLEM)
        make_visit(hh, helper, visited_at=at(4, 5 + n), answers={"income_status": "ok"})
        make_visit(hh, helper, visited_at=at(5, 5 + n), answers=PROBLEM,
                   review_status="rejected")
        applied = changes.propose(hh, PHONE.name, {"phone": f"1390000000{n}"}, user=worker,
                                  reason="换号")
        applied.requested_at = at(4, 1 + n)
        waiting = changes.propose(hh, CATEGORY.name, {"category": "edge", "groups": []},
                                  user=worker, reason="收入略高于低保线")
        waiting.requested_at = at(5, 1 + n)
        if n < rounds - 1:  # one category change waits at a time: refuse the earlier ones
            changes.reject(waiting, county, "证明不足")
    hh.exited_on = date(2025, 7, 1)
    db.session.commit()


def test_the_timeline_has_each_event_in_date_order(make_household, make_user, make_visit,
                                                   world):
    hh = make_household()
    history(hh, world, make_user, make_visit)
    events = timeline.build(hh)
    titles = [e.title for e in events]
    kinds = [e.kind for e in events]
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert set(kinds) == {"intake", "decision", "publicity", "objection", "enrolment",
                          "change", "plan", "helper", "visit", "exit"}
    assert titles[0].startswith("立案（辖区筛选认定 · 本人申请）")
    assert titles[1:4] == ["社区初审：同意", "街道复核：同意", "县级综合审核确认：同意"]
    assert titles.index("开始公示") < titles.index("公示期间收到异议") < \
        titles.index("异议不成立") < titles.index("公示期满") < titles.index(
            "纳入帮扶，建档（TEST-00001）")
    # Only the valid visit that found problems: not the good one, not the rejected one.
    [visit] = [e for e in events if e.kind == "visit"]
    assert visit.title == "走访发现困难：收入、医疗" and visit.day == date(2025, 3, 5)
    states = {e.title: e.state for e in events if e.kind == "change"}
    assert states == {"变更：联系电话": "applied", "变更：困难类别": "pending"}
    assert kinds[-1] == "exit"


def test_the_page_shows_the_timeline(client, auth, make_household, make_user, make_visit,
                                     world):
    hh = make_household()
    history(hh, world, make_user, make_visit)
    auth.login(as_=make_user("county_officer"))
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    # The sections sit in the page's body, not in its <title> (a merge once put them there).
    title = page[page.index("<title>"):page.index("</title>")]
    assert hh.head_name in title and "<section" not in title and "&lt;section" not in title
    assert page.count('data-testid="timeline"') == 1
    section = page[page.index('data-testid="timeline"'):]
    assert section.index("立案") < section.index("开始公示") < section.index("走访发现困难") \
        < section.index("退出帮扶")
    assert "邻居称其有车" in section and "县级综合审核确认：同意" in section


def test_a_longer_history_takes_no_more_queries(make_household, make_user, make_visit, world,
                                                count_statements):
    short, long = make_household(), make_household()
    history(short, world, make_user, make_visit, rounds=1)
    history(long, world, make_user, make_visit, rounds=4)
    counts = []
    for hh in (short, long):
        db.session.expire_all()
        hh = db.session.get(type(hh), hh.id)
        count_statements.clear()
        events = timeline.build(hh)
        counts.append(len(count_statements))
        assert events
    assert counts[0] == counts[1] == 10, counts


def test_a_feature_adds_its_events_with_one_line(make_household, monkeypatch):
    hh = make_household()
    monkeypatch.setattr(timeline, "PROVIDERS", list(timeline.PROVIDERS))
    timeline.add_provider(lambda h: [timeline.Event(at(8, 1), "watch", "列入观察")])
    assert [e.title for e in timeline.build(hh)] == ["列入观察"]


def test_the_watch_list_and_the_platform_entry_are_on_the_timeline(make_household, make_user):
    street, county = make_user("street_reviewer"), make_user("county_officer")
    hh = make_household(status="watch")
    entry = WatchEntry(household_id=hh.id, reason="配偶收入不稳定", recheck_on=date(2025, 6, 1),
                       started_by_id=street.id, started_at=at(3, 1),
                       ended_at=at(5, 20), ended_by_id=street.id, end_reason="重新启动审核")
    db.session.add(entry)
    db.session.flush()
    db.session.add(WatchCheck(entry_id=entry.id, household_id=hh.id, checked_on=date(2025, 4, 2),
                              changes="配偶失业", note="", next_recheck_on=date(2025, 6, 1),
                              recorded_by_id=street.id))
    db.session.add(PlatformEntry(household_id=hh.id, entered_on=date(2025, 7, 1),
                                 entered_by_id=county.id))
    db.session.commit()
    events = [(e.kind, e.title, e.detail) for e in timeline.build(hh)]
    assert events == [
        ("watch", "列入监测名单", "配偶收入不稳定；复查日期 2025-06-01"),
        ("watch", "监测记录", "配偶失业"),
        ("watch", "移出监测名单", "重新启动审核"),
        ("platform", "录入低收入人口动态监测信息平台", county.name),
    ]

"""What waits for whom: queues per role and place, new reports, and the decision record."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from fieldwork.extensions import db as _db
from fieldwork.households.intake import (
    cases,
    queues,
    reports,
    steps,
)
from fieldwork.households.models import (
    ReviewDecision,
)

from .conftest import decide, discovery, entry, to_publicity_end

# ---------------------------------------------------------------- queues

def test_queues_are_per_role_and_place_and_oldest_first(world, people):
    first = cases.enter_application(people.community, entry(world, head_name="甲", id_number=None,
                                                         address="一号"))
    second = cases.enter_application(people.community, entry(world, head_name="乙",
                                                          id_number=None, address="二号"))
    _db.session.commit()
    first.stage_since = first.stage_since - timedelta(days=4)
    _db.session.commit()
    rows = queues.queue(people.community)
    assert [r.case.id for r in rows] == [first.id, second.id]
    assert [r.days_waiting for r in rows] == [4, 0]
    for other in (people.community_2, people.street, people.county, people.commerce,
                  people.helper, people.city):
        assert queues.queue(other) == []

    decide(people.community, second)
    assert [r.case.id for r in queues.queue(people.street)] == [second.id]
    assert queues.queue(people.street_2) == [] and queues.queue(people.street_b) == []
    decide(people.street, second, draft_plan="低保")
    assert [r.case.id for r in queues.queue(people.county)] == [second.id]
    assert queues.queue(people.county_b) == []
    decide(people.county, second)
    running, ready = queues.publicity_rows(people.county)
    assert [r.case.id for r in running] == [second.id] and ready == []
    to_publicity_end(second)
    running, ready = queues.publicity_rows(people.county)
    assert running == [] and [r.case.id for r in ready] == [second.id]
    assert queues.publicity_rows(people.county_b) == ([], [])


def test_new_reports_wait_in_their_communitys_and_streets_queues(world, people):
    report = discovery(people.community, world.community)
    assert queues.reports_waiting(people.community) == [report]
    assert queues.reports_waiting(people.street) == [report]
    for other in (people.community_2, people.street_2, people.county, people.county_b,
                  people.helper, people.commerce):
        assert queues.reports_waiting(other) == []
    lead = discovery(people.county, world.community_3, head_name="钱某", id_number="",
                     address="民主路1号")
    assert queues.reports_waiting(people.county) == [lead]
    case = reports.open_case_from_report(people.street_2, lead, category="edge")
    _db.session.commit()
    assert (case.source, case.stage) == ("employer", steps.STREET_REVIEW)
    assert queues.reports_waiting(people.county) == []


def test_case_decisions_keep_who_when_and_why(world, people):
    case = cases.enter_application(people.community, entry(world))
    _db.session.commit()
    decide(people.community, case, "approve", "经入户核实，情况属实")
    row = _db.session.scalar(sa.select(ReviewDecision).where(ReviewDecision.case_id == case.id))
    assert (row.reviewer.name, row.opinion, row.step) == ("社区李", "经入户核实，情况属实",
                                                          steps.COMMUNITY_REVIEW)
    assert row.decided_at is not None and row.decided_at.tzinfo is not None

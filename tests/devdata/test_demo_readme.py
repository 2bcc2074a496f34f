"""The README's demo section tells the truth: the figures it states are read from README.md and
checked against the demo county as built, and against what its accounts' pages show. Also the
demo's history: twelve months of visits, exits by every route with their three-step cases, and
households that meet the stable-exit rule today."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldwork.access.scope import department_case_clause, household_clause, visible_households
from fieldwork.access.validity import valid_visit_clause
from fieldwork.accounts.models import User
from fieldwork.devdata.demo import DEMO_PASSWORD, VISIT_MONTHS
from fieldwork.extensions import db as _db
from fieldwork.households.constants import EXIT_ROUTES
from fieldwork.households.management import exit as exits
from fieldwork.households.models import Case, Household, WatchEntry
from fieldwork.places.models import Place
from fieldwork.timeutil import add_months, current_month, month_bounds
from fieldwork.visits.models import Visit

README = Path(__file__).resolve().parents[2] / "README.md"
WORDS = {"six": 6, "twelve": 12}


def demo_section() -> str:
    text = README.read_text("utf-8")
    return text[text.index("## Demo accounts"):text.index("## What each role finds")]


def figure(pattern: str) -> tuple[int, ...]:
    """The numbers the README's demo section states where `pattern` matches (spaces in the
    pattern match any run of whitespace, so the paragraph may be re-wrapped)."""
    found = re.search(pattern.replace(" ", r"\s+"), demo_section())
    assert found, f"README.md's demo section no longer says {pattern!r}"
    return tuple(WORDS[g] if g in WORDS else int(g) for g in found.groups())


@pytest.fixture
def demo(app, db):
    result = app.test_cli_runner().invoke(args=["demo", "--reset"])
    assert result.exit_code == 0, result.output
    return {u.username: u for u in db.session.scalars(sa.select(User).order_by(User.id))}


def count(query: sa.Select) -> int:
    return int(_db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())))


def test_the_readme_states_what_the_demo_builds_and_its_pages_show(demo, db, client, auth):
    streets, communities = figure(r"(\d+) streets and (\d+) communities")
    assert count(sa.select(Place.id).where(Place.level == "street")) == streets
    assert count(sa.select(Place.id).where(Place.level == "community")) == communities

    total, enrolled, exited, reviewing, publicity, watched = figure(
        r"(\d+) households \((\d+) enrolled, (\d+) exited, (\d+) under review, (\d+) in "
        r"publicity, (\d+) on the watch list\)")
    statuses = Counter(db.session.scalars(sa.select(Household.status)))
    assert sum(statuses.values()) == total
    assert statuses == {"enrolled": enrolled, "exited": exited, "reviewing": reviewing,
                        "publicity": publicity, "watch": watched}
    assert count(sa.select(WatchEntry.id)) == watched
    assert figure(r"(\d+) households of 东关街道 have left") == (exited,)
    assert figure(r"(\d+) households not enrolled are on the watch list") == (watched,)

    (helpers,) = figure(r"(\d+) helpers")
    assert sum(u.role == "helper" for u in demo.values()) == helpers
    (months,) = figure(r"(twelve|six) months of visits")
    assert months == VISIT_MONTHS

    # The accounts' table: each published account exists with the published password, and the
    # scopes it states are what those accounts see.
    accounts = re.findall(r"^\| `([a-z-]+)` \|", demo_section(), flags=re.M)
    assert accounts == [u for u in demo if u.startswith("demo-")]
    (mine,) = figure(r"`demo-helper` \|[^|]*\| the (\d+) households assigned to them")
    assert count(visible_households(demo["demo-helper"])) == mine
    (screened,) = figure(r"`demo-department` \|[^|]*\| the (\d+) cases? it screened")
    assert count(sa.select(Case.id).where(department_case_clause(demo["demo-department"]))) \
        == screened

    # …and what the pages show: the case the department screened, with its 认定结果, waits in
    # the county's queue; the county's watch list names the watched households.
    department_case = db.session.scalar(
        sa.select(Case).where(department_case_clause(demo["demo-department"])))
    assert auth.login("demo-department", DEMO_PASSWORD).status_code == 302
    page = client.get(f"/reviews/cases/{department_case.id}").get_data(as_text=True)
    assert department_case.household.head_name in page and "部门筛选认定" in page
    client.post("/logout")
    assert auth.login("demo-county", DEMO_PASSWORD).status_code == 302
    page = client.get("/reviews/").get_data(as_text=True)
    assert f'data-case-id="{department_case.id}"' in page
    page = client.get("/reviews/watch").get_data(as_text=True)
    for hh in db.session.scalars(sa.select(Household).where(Household.status == "watch")):
        assert hh.head_name in page


def test_the_demo_has_a_year_of_visits_exits_by_every_route_and_households_ready_to_exit(
        demo, db):
    # Twelve months of valid visits for households enrolled a year or more ago: each month has
    # one (a few households miss the month before last).
    this = current_month()
    window = [add_months(this, -back) for back in range(VISIT_MONTHS, 0, -1)]
    start = month_bounds(window[0])[0].date()
    long_enrolled = list(db.session.scalars(sa.select(Household.id).where(
        Household.status == "enrolled", Household.enrolled_on < start)))
    assert len(long_enrolled) > 50
    visited = Counter(db.session.execute(
        sa.select(Visit.household_id, Visit.month).where(
            Visit.household_id.in_(long_enrolled), Visit.month.in_(window),
            valid_visit_clause()).distinct()).all())
    per_household = Counter(hid for hid, _month in visited)
    assert all(per_household[hid] >= VISIT_MONTHS - 1 for hid in long_enrolled)
    assert sum(per_household[hid] == VISIT_MONTHS for hid in long_enrolled) > 40

    # Exits: one per route, each with its date and an approved exit case whose community,
    # street and county opinions were given by three different people; no visits after it.
    exited = list(db.session.scalars(sa.select(Household).where(Household.status == "exited")))
    assert sorted(hh.exit_route for hh in exited) == sorted(EXIT_ROUTES)
    for hh in exited:
        case = db.session.scalar(sa.select(Case).where(Case.household_id == hh.id,
                                                       Case.kind == "exit"))
        assert case.state == "approved" and case.exit_route == hh.exit_route
        assert case.exit_on == hh.exited_on and case.exit_reason
        steps = {d.step: d for d in case.decisions}
        assert sorted(steps) == ["exit_community", "exit_county", "exit_street"]
        assert all(d.decision == "approve" for d in case.decisions)
        assert len({d.reviewer_id for d in case.decisions}) == 3
        assert steps["exit_community"].decided_at < steps["exit_street"].decided_at \
            < steps["exit_county"].decided_at
        assert case.opened_by_id != steps["exit_county"].reviewer_id  # four eyes
        assert all(a.end_date is not None and a.end_date <= hh.exited_on
                   for a in hh.assignments)
        assert all(pm.end_date is not None and pm.end_date <= hh.exited_on for pm in hh.plan)
        last = db.session.scalar(sa.select(sa.func.max(Visit.visited_at)).where(
            Visit.household_id == hh.id))
        assert last is None or last.date() <= hh.exited_on
    assert {hh.place.parent.name for hh in exited} == {"东关街道"}

    # The stable-exit rule (exit.evaluate) holds today for some of demo-county's households,
    # demo-helper's among them.
    ready = {ev.household_id for ev in exits.eligible(household_clause(demo["demo-county"]))}
    assert ready
    helper_households = set(db.session.scalars(
        sa.select(Household.id).where(household_clause(demo["demo-helper"]))))
    assert ready & helper_households

"""The pull sends a fixed number of queries, however many households it carries.

No timing: the statements a pull sends are counted for a helper (the household page's members,
helpers and recent visits included) and for a community worker, at two sizes. A field that
loads one household's rows at a time (an N+1, as the first household-page pull did: the bench
showed a helper's pull 4x and a community worker's 10x slower) adds statements per household
and fails here.
"""

from __future__ import annotations

from datetime import date

import pytest

from fieldwork.extensions import db
from fieldwork.households.models import Member


def _households(n, make_household, make_visit, helper):
    for _ in range(n):
        hh = make_household(helper=helper)
        db.session.add(Member(household=hh, name="成员", relation="spouse",
                              birth_date=date(1980, 1, 1)))
        db.session.commit()
        make_visit(hh, helper)


def _pull_statements(client, auth, user, count_statements) -> tuple[int, int]:
    auth.login(user)
    count_statements.clear()
    body = client.get("/api/sync/v1/pull").get_json()
    auth.logout()
    return len(count_statements), len(body["households"])


@pytest.mark.parametrize("role", ["helper", "community_worker"])
def test_a_pull_sends_as_many_queries_for_twenty_households_as_for_two(
        role, client, auth, make_user, make_household, make_visit, count_statements):
    helper = make_user("helper")
    user = helper if role == "helper" else make_user("community_worker")
    _households(2, make_household, make_visit, helper)
    small, carried_small = _pull_statements(client, auth, user, count_statements)
    _households(18, make_household, make_visit, helper)
    large, carried_large = _pull_statements(client, auth, user, count_statements)
    assert (carried_small, carried_large) == (2, 20)
    assert large == small, f"{role}: {small} statements for 2 households, {large} for 20"


def test_only_a_helpers_pull_carries_the_household_page(
        client, auth, make_user, make_household, make_visit):
    helper = make_user("helper")
    _households(1, make_household, make_visit, helper)
    for user, has_page in ((helper, True), (make_user("community_worker"), False)):
        auth.login(user)
        (h,) = client.get("/api/sync/v1/pull").get_json()["households"]
        auth.logout()
        assert ("members" in h and "recent_visits" in h) is has_page
        assert h["members_count"] and "visit_state" in h

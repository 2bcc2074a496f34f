"""The demo county has a few changes in its history, one category change waiting for the
county office and an income waiting for the street."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fieldwork.accounts.models import User
from fieldwork.households import changes
from fieldwork.households.models import HouseholdChange


@pytest.fixture
def runner(app, fresh_g):
    return app.test_cli_runner()


def test_the_demo_has_changes_and_pending_ones_in_the_queues(runner, db):
    result = runner.invoke(args=["demo", "--reset"])
    assert result.exit_code == 0, result.output
    rows = db.session.scalars(sa.select(HouseholdChange)).all()
    assert {(c.kind, c.state) for c in rows} >= {
        ("phone", "applied"), ("employer", "applied"), ("income", "applied"),
        ("causes", "applied"), ("category", "applied"), ("category", "pending"),
        ("income", "pending")}
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    assert [c.kind for c in changes.queue(users["demo-street"])] == ["income"]
    assert sorted(c.kind for c in changes.queue(users["demo-county"])) == ["category", "income"]
    assert all(c.requested_at <= c.decided_at for c in rows if c.confirm_level and c.decided_at)

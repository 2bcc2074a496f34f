"""Fixtures shared by the management tests: the seeded catalogue and a county officer."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fieldwork.extensions import db as _db
from fieldwork.households.management import measures
from fieldwork.households.models import Measure


@pytest.fixture
def catalogue(app, world):
    added = measures.seed_catalogue()
    _db.session.commit()
    assert added == 64
    return {m.name: m for m in _db.session.scalars(sa.select(Measure))}


@pytest.fixture
def officer(make_user):
    return make_user("county_officer")

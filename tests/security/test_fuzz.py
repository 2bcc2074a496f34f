"""An OpenAPI-driven fuzz run of the sync API (schemathesis, against the Flask app over WSGI),
logged in as a helper with the CSRF header, as the phone is. Half of the generated visit
records are steered onto the helper's real household with valid answers, so that records are
really stored, not only refused. Nothing may answer 5xx, and afterwards nothing is half-stored:
every visit has exactly the photo rows it declared, and no photo row belongs to nothing."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fieldwork.discovery.models import DiscoveryReport
from fieldwork.photos.models import Photo
from fieldwork.timeutil import now_utc
from fieldwork.visits.models import Visit
from tests.factories import answers, csrf_token

from .conftest import login

schemathesis = pytest.importorskip("schemathesis")

pytestmark = pytest.mark.usefixtures("fresh_g")

EXAMPLES = int(os.environ.get("FIELDWORK_FUZZ_EXAMPLES", "40"))


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def steer(case, household_id: int, valid: bool):
    """Point generated visit records at the helper's household with answers that pass."""
    body = case.body
    if valid and isinstance(body, dict) and isinstance(body.get("records"), list):
        for record in body["records"]:
            if isinstance(record, dict) and record.get("type") == "visit":
                record["household_id"] = str(household_id)
                record["answers"] = answers()
                record["visited_at"] = (now_utc() - timedelta(hours=2)).isoformat()
                record.pop("supersedes", None)
    return case


def test_the_sync_api_survives_fuzzing(app, client, db, scene):
    helper = scene.users["helper"]
    login(client, helper)
    token = csrf_token(client)
    cookie = client.get_cookie("session").value
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /api/sync/v1/push",
                                               "PUT /api/sync/v1/photos/{photo_id}"}

    def fuzz(operation) -> None:
        label = operation.label

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), valid=st.booleans())
        def run(case, valid):
            steer(case, scene.hh_a.id, valid)
            response = case.call(headers={"X-CSRFToken": token}, cookies={"session": cookie})
            if response.status_code >= 500:
                problems.append(f"{label} -> {response.status_code}: "
                                f"{case.as_curl_command()}")
            elif response.status_code == 400 and "csrf" in response.text:
                problems.append(f"{label}: the CSRF header was refused")

        run()

    for operation in operations:
        fuzz(operation)

    assert not problems, "\n".join(problems[:20])

    db.session.expire_all()
    visits = db.session.scalars(sa.select(Visit)).all()
    assert visits, "the fuzz run stored no visit: steer() no longer works"
    for visit in visits:
        photos = db.session.scalar(sa.select(sa.func.count(Photo.id)).where(
            Photo.visit_id == visit.id))
        assert photos == visit.photos_declared, visit.id
        assert visit.photos_stored <= visit.photos_declared
    for report in db.session.scalars(sa.select(DiscoveryReport)):
        photos = db.session.scalar(sa.select(sa.func.count(Photo.id)).where(
            Photo.discovery_id == report.id))
        assert photos == report.photos_declared
    orphans = db.session.scalar(sa.select(sa.func.count(Photo.id)).where(
        Photo.visit_id.is_(None), Photo.discovery_id.is_(None)))
    assert orphans == 0
    stored_without_bytes = db.session.scalar(sa.select(sa.func.count(Photo.id)).where(
        Photo.stored_at.is_not(None), Photo.stored_sha256.is_(None)))
    assert stored_without_bytes == 0

"""Shared by the intake tests: the people of the world, the seeded measures, and helpers that
enter, decide and publicise cases through the services."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.discovery.services import parse_discovery_record, record_discovery
from fieldwork.extensions import db as _db
from fieldwork.households.intake import (
    cases,
    decisions,
    enrolment,
)
from fieldwork.households.models import (
    Case,
    Measure,
)
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.timeutil import today_local

TODAY = today_local()
ID_1 = make_test_id_number("411302", date(1970, 3, 8), 123)
ID_2 = make_test_id_number("411302", date(1982, 11, 2), 456)


@pytest.fixture
def people(world, make_user):
    """One user per role and place the chains need, plus their neighbours elsewhere."""
    return SimpleNamespace(
        community=make_user("community_worker", display_name="社区李"),
        community_2=make_user("community_worker", place=world.community_2),
        street=make_user("street_reviewer", display_name="街道王"),
        street_2=make_user("street_reviewer", place=world.street_2),
        street_b=make_user("street_reviewer", place=world.street_b),
        county=make_user("county_officer", display_name="县办刘"),
        county_b=make_user("county_officer", place=world.county_b),
        commerce=make_user("department_reviewer", place=world.county, organisation="商务局"),
        civil=make_user("department_reviewer", place=world.county, organisation="民政局"),
        disabled=make_user("department_reviewer", place=world.county, organisation="残联"),
        union=make_user("department_reviewer", place=world.county, organisation="县总工会"),
        union_b=make_user("department_reviewer", place=world.county_b, organisation="工会"),
        helper=make_user("helper", display_name="帮扶张"),
        helper_b=make_user("helper", place=world.street_b),
        city=make_user("city_supervisor"),
    )


@pytest.fixture
def measures(app):
    rows = [Measure(county_id=None, area="income", department="民政", name="城镇低保",
                    amount=Decimal("630"), unit="元/月"),
            Measure(county_id=None, area="employment", department="人社", name="公益性岗位",
                    unit=""),
            Measure(county_id=None, area="housing", department="住建", name="停用措施",
                    active=False)]
    _db.session.add_all(rows)
    _db.session.commit()
    return rows


def entry(world, **over) -> cases.HouseholdEntry:
    values = dict(head_name="赵建国", address="东关街道建设路8号2单元301",
                  place=world.community, income=Decimal("1800"), category="edge",
                  causes=["illness"], phone="13837700001", situation="户主重病，配偶无业",
                  id_number=ID_1)
    values.update(over)
    return cases.HouseholdEntry(**values)


def discovery(user, community, **over):
    raw = {"id": str(uuid.uuid4()), "region_id": community.id,
           "address": over.pop("address", "东关街道和平路12号"),
           "reason": "老两口无固定收入，房屋漏雨",
           "location": {"lat": 32.9951, "lon": 112.5412, "accuracy_m": 12, "source": "gps"},
           "answers": {"head_name": over.pop("head_name", "孙秀英"),
                       "id_number": over.pop("id_number", ID_2),
                       "contact_phone": "13837700002", "members_count": 2,
                       "category": "below_dibao", "causes": ["illness", "disability"]},
           "photos": []}
    raw.update(over)
    result = record_discovery(user, parse_discovery_record(raw, device_id="phone-1"))
    assert result.status == "created", result.errors
    _db.session.commit()
    return _db.session.get(DiscoveryReport, raw["id"])


def decide(user, case, decision="approve", opinion="", **kw):
    d = decisions.decide(user, case, decision, opinion, **kw)
    _db.session.commit()
    return d


def to_publicity_end(case, days_ago: int = 1) -> None:
    case.publicity_ends_on = TODAY - timedelta(days=days_ago)
    _db.session.commit()


def plan(measures, start=TODAY):
    return [enrolment.PlanItem(measures[0].id, None, start), enrolment.PlanItem(measures[1].id,
                                                                 Decimal("1800"), start)]


def audit_actions(target_type: str, target_id) -> list[str]:
    return list(_db.session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.target_type == target_type, AuditEvent.target_id == str(target_id))
        .order_by(AuditEvent.id)))




def in_publicity(world, people, **kw) -> Case:
    case = cases.enter_application(people.community, entry(world, **kw))
    _db.session.commit()
    decide(people.community, case)
    decide(people.street, case, draft_plan="低保")
    decide(people.county, case)
    return case

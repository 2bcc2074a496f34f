"""A small world of two counties for the security tests: every role in county A (宛城区), a
household, visit, photo, case, member and discovery report on each side, and distinctive
strings on the county B side so that a leak shows up in any response body."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from fieldwork.extensions import db as _db
from fieldwork.privacy.idnumber import make_test_id_number, mask_id_number
from tests.factories import photo_jpeg, sha, visit_record

ROLES = ("helper", "community_worker", "street_reviewer", "county_officer", "city_supervisor",
         "department_reviewer", "admin")

ID_A = make_test_id_number("411302", date(1968, 3, 14), 123)
ID_A_MEMBER = make_test_id_number("411302", date(2012, 9, 1), 246)
ID_B = make_test_id_number("411303", date(1971, 11, 2), 357)
ID_B_MEMBER = make_test_id_number("411303", date(2015, 5, 20), 468)
PHONE_A = "13800138000"
PHONE_B = "13912345678"


def login(client, user) -> None:
    """Sign the client in as user without the (deliberately slow) password hash."""
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


def body_text(response) -> str:
    """What a person could read in a response: JSON without escapes, XLSX cell values."""
    data = response.get_data()
    mime = response.mimetype or ""
    if mime.endswith("json"):
        try:
            return json.dumps(json.loads(data), ensure_ascii=False)
        except ValueError:
            return data.decode("utf-8", "replace")
    if "spreadsheetml" in mime or data[:2] == b"PK":
        try:
            from openpyxl import load_workbook

            book = load_workbook(io.BytesIO(data), read_only=True)
            cells = [str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
                     for c in row if c is not None]
            return "\n".join(cells)
        except Exception:  # noqa: BLE001 - not a workbook after all: read it as bytes
            pass
    return data.decode("utf-8-sig", "replace")


@dataclass
class Scene:
    world: Any
    users: dict[str, Any] = field(default_factory=dict)
    helper_b: Any = None
    hh_a: Any = None
    hh_b: Any = None
    member_a: Any = None
    member_b: Any = None
    visit_a: Any = None
    visit_b: Any = None
    photo_a: str = ""
    photo_b: str = ""
    photo_a_bytes: bytes = b""
    case_a: Any = None
    case_b: Any = None
    report_a: Any = None
    report_b: Any = None
    measure_a: Any = None
    measure_b: Any = None
    document_a: Any = None
    document_b: Any = None
    plan_a: Any = None
    plan_b: Any = None
    objection_a: Any = None
    objection_b: Any = None
    decision_a: Any = None
    decision_b: Any = None
    assignment_a: Any = None
    assignment_b: Any = None
    change_a: Any = None
    change_b: Any = None
    import_batch_a: Any = None
    import_batch_b: Any = None

    # Strings of county B that no county-A user may ever see.
    @property
    def secrets_b(self) -> list[str]:
        return [self.hh_b.head_name, self.hh_b.address, ID_B, ID_B_MEMBER, PHONE_B,
                self.member_b.name, "外县走访备注丙", "外县发现户戊", "外县发现地址己"]

    # Strings nobody may see without a deliberate, audited action.
    @property
    def never_shown(self) -> list[str]:
        return [ID_A, ID_A_MEMBER, ID_B, ID_B_MEMBER, PHONE_A, PHONE_B]


def _stored_visit(helper, household, seed: int, notes: str = "") -> tuple[Any, str, bytes]:
    from fieldwork.photos import services as photos
    from fieldwork.visits.models import Visit
    from fieldwork.visits.services import parse_visit_record, record_visit

    data = photo_jpeg(seed)
    raw = visit_record(str(household.id), photos=[data], notes=notes)
    result = record_visit(helper, parse_visit_record(raw, device_id="phone-1"))
    assert result.status == "created", result.errors
    _db.session.commit()
    [photo_id] = result.missing_photos
    outcome = photos.upload(photo_id, data, sha(data), helper.id)
    assert outcome.status == 201, outcome
    _db.session.commit()
    return _db.session.get(Visit, result.id), photo_id, data


@pytest.fixture
def scene(world, make_user, make_household) -> Scene:
    from fieldwork.discovery.models import DiscoveryReport
    from fieldwork.households.intake import documents
    from fieldwork.households.models import (
        Assignment,
        Case,
        CaseDocument,
        HouseholdChange,
        Measure,
        Member,
        Objection,
        PlanMeasure,
        ReviewDecision,
    )
    from fieldwork.photos.storage import photo_store
    from fieldwork.privacy.service import protect_id

    s = Scene(world=world)
    places = {"department_reviewer": world.county, "admin": world.city}
    for role in ROLES:
        extra = {"organisation": "民政局"} if role == "department_reviewer" else {}
        s.users[role] = make_user(role, place=places.get(role), username=f"a-{role}",
                                  display_name=f"甲方{role}", **extra)
    s.helper_b = make_user("helper", place=world.street_b, username="b-helper",
                           display_name="乙方帮扶人")

    def household(place, helper, name, address, phone, id_number):
        protected = protect_id(id_number)
        return make_household(place=place, helper=helper, head_name=name, address=address,
                              phone=phone, head_id_enc=protected.enc,
                              head_id_index=protected.index, head_id_mask=protected.mask)

    s.hh_a = household(world.community, s.users["helper"], "宛城住户甲", "东关街道建设路1号",
                       PHONE_A, ID_A)
    s.hh_b = household(world.community_b, s.helper_b, "卧龙外县户甲", "卧龙区保密巷99号",
                       PHONE_B, ID_B)
    for hh, name, number, attr in ((s.hh_a, "宛城成员乙", ID_A_MEMBER, "member_a"),
                                   (s.hh_b, "外县成员乙", ID_B_MEMBER, "member_b")):
        p = protect_id(number)
        member = Member(household_id=hh.id, name=name, relation="child", id_enc=p.enc,
                        id_index=p.index, id_mask=p.mask, health="哮喘")
        _db.session.add(member)
        setattr(s, attr, member)
    for county, attr in ((world.county, "measure_a"), (world.county_b, "measure_b")):
        m = Measure(county_id=county.id, area="income", name=f"{county.name}临时救助",
                    amount=Decimal("500"))
        _db.session.add(m)
        setattr(s, attr, m)
    _db.session.flush()
    s.plan_a = PlanMeasure(household_id=s.hh_a.id, measure_id=s.measure_a.id,
                           start_date=date(2024, 1, 1))
    s.plan_b = PlanMeasure(household_id=s.hh_b.id, measure_id=s.measure_b.id,
                           start_date=date(2024, 1, 1))
    _db.session.add_all([s.plan_a, s.plan_b])
    _db.session.commit()

    s.visit_a, s.photo_a, s.photo_a_bytes = _stored_visit(s.users["helper"], s.hh_a, 1)
    s.visit_b, s.photo_b, _ = _stored_visit(s.helper_b, s.hh_b, 2, notes="外县走访备注丙")

    for reporter, place, attr, name, address in (
        (s.users["community_worker"], world.community, "report_a", "宛城发现户",
         "东关街道发现路2号"),
        (s.helper_b, world.community_b, "report_b", "外县发现户戊", "外县发现地址己"),
    ):
        report = DiscoveryReport(id=str(uuid.uuid4()), reporter_id=reporter.id,
                                 place_id=place.id, address=address, head_name=name,
                                 reason="失业后无收入", answers={"head_name": name})
        _db.session.add(report)
        setattr(s, attr, report)
    _db.session.flush()
    for hh, report, attr in ((s.hh_a, s.report_a, "case_a"), (s.hh_b, s.report_b, "case_b")):
        # A sector case (民政局 certified), so county A's department reviewer has it in scope.
        case = Case(household_id=hh.id, stage="county", channel="sector", organisation="民政局",
                    discovery_id=report.id, opened_by_id=s.users["community_worker"].id)
        _db.session.add(case)
        setattr(s, attr, case)
    _db.session.flush()
    s.objection_a = Objection(case_id=s.case_a.id, text="邻居反映", recorded_by_id=s.users[
        "county_officer"].id)
    s.objection_b = Objection(case_id=s.case_b.id, text="外县异议", recorded_by_id=s.helper_b.id)
    s.decision_a = ReviewDecision(case_id=s.case_a.id, step="community", decision="approve",
                                  reviewer_id=s.users["community_worker"].id)
    s.decision_b = ReviewDecision(case_id=s.case_b.id, step="community", decision="approve",
                                  reviewer_id=s.helper_b.id)
    _db.session.add_all([s.objection_a, s.objection_b, s.decision_a, s.decision_b])
    for hh, attr in ((s.hh_a, "change_a"), (s.hh_b, "change_b")):
        # An income change of the file waiting for the street (households/changes.py).
        change = HouseholdChange(household_id=hh.id, kind="income", state="pending",
                                 confirm_level="street", before={"per_capita_income": "500.00"},
                                 after={"per_capita_income": "900.00", "basis": "再就业"},
                                 reason="再就业", requested_by_id=s.users["community_worker"].id)
        _db.session.add(change)
        setattr(s, attr, change)
    from fieldwork.households.imports.models import ImportBatch

    for county, attr in ((s.world.county, "import_batch_a"), (s.world.county_b, "import_batch_b")):
        # A household import batch of each county (households/imports), nothing depending on it.
        batch = ImportBatch(county_id=county.id, sha256="0" * 64, filename="matrix.xlsx")
        _db.session.add(batch)
        setattr(s, attr, batch)
    _db.session.commit()
    for case, attr in ((s.case_a, "document_a"), (s.case_b, "document_b")):
        # An application material (a scan) on each side.
        doc = CaseDocument(id=str(uuid.uuid4()), case_id=case.id, doc_type="id_card",
                           kind="image", filename="scan.jpg", size=len(s.photo_a_bytes),
                           upload_sha256=sha(s.photo_a_bytes), stored_sha256=sha(s.photo_a_bytes),
                           uploaded_by_id=s.users["county_officer"].id)
        _db.session.add(doc)
        photo_store().put(documents.document_key(doc), s.photo_a_bytes)
        photo_store().put(documents.thumb_key(doc), s.photo_a_bytes)
        setattr(s, attr, doc)
    _db.session.commit()
    s.assignment_a = s.hh_a.assignments[0]
    s.assignment_b = s.hh_b.assignments[0]
    assert isinstance(s.assignment_a, Assignment)
    assert s.hh_a.head.id_mask == mask_id_number(ID_A)
    return s

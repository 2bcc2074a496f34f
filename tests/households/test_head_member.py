"""The head is a member (one person, one ID): intake creates the head member, the reveal of
the head is the head member's (audited), printed forms and the ledger read the members;
the per-capita income is the accepted income over the current members."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.members import ADD_KIND, parse_member
from fieldwork.households.models import Household, Member
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id, reveal_id
from fieldwork.visits.services import refile_household

HEAD_ID = make_test_id_number("411302", date(1968, 2, 3), 124)  # a woman
CHILD_ID = make_test_id_number("411302", date(2015, 9, 1), 35)


def _entry(world, **over):
    form = {"head_name": "孟凡英", "id_number": HEAD_ID, "phone": "13837700009",
            "address": "东关街道建设路18号", "place_id": str(world.community.id),
            "household_income": "1800", "category": "below_dibao", "causes": ["illness"],
            "situation": "户主患病，无固定收入"}
    form.update(over)
    return form


def test_intake_creates_the_head_member_with_the_one_id_and_no_typed_size(
        client, auth, make_user, world):
    auth.login(make_user("community_worker"))
    page = client.get("/reviews/new").get_data(as_text=True)
    assert 'name="members_count"' not in page and 'name="household_income"' in page
    assert client.post("/reviews/new", data=_entry(world)).status_code == 302
    hh = db.session.scalar(sa.select(Household).where(Household.head_name == "孟凡英"))
    head = hh.head
    assert head is not None and [m.relation for m in hh.members] == ["self"]
    assert reveal_id(head.id_enc) == HEAD_ID and head.id_index == protect_id(HEAD_ID).index
    assert (head.gender, head.birth_date) == ("female", date(1968, 2, 3))
    assert "head_id_enc" not in Household.__table__.c
    assert (hh.members_count, hh.intake_income, hh.per_capita_income) == (
        1, Decimal("1800.00"), Decimal("1800.00"))
    # The same person cannot open a second household while this one is under review.
    again = client.post("/reviews/new", data=_entry(world, address="别处路1号",
                                                    confirm_new="1"))
    assert again.status_code == 422 and "已在审核或帮扶中" in again.get_data(as_text=True)


def test_revealing_the_head_reveals_and_audits_the_head_member(client, auth, make_user,
                                                               make_household):
    p = protect_id(HEAD_ID)
    hh = make_household(head_id_enc=p.enc, head_id_index=p.index, head_id_mask=p.mask)
    officer = make_user("county_officer")
    auth.login(officer)
    page = client.get(f"/households/{hh.id}").get_data(as_text=True)
    assert p.mask in page and HEAD_ID not in page and f"/privacy/households/{hh.id}/reveal" in page
    shown = client.post(f"/privacy/households/{hh.id}/reveal", data={"reason": "核对低保申请材料"})
    assert shown.status_code == 200 and HEAD_ID in shown.get_data(as_text=True)
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "id.reveal"))
    assert (event.target_type, event.target_id) == ("member", str(hh.head.id))
    assert event.detail["household_id"] == hh.id


def test_the_printed_review_form_lists_the_current_members(client, auth, make_user,
                                                           make_household):
    p = protect_id(HEAD_ID)
    hh = make_household(head_name="孟凡英", head_id_enc=p.enc, head_id_index=p.index,
                        head_id_mask=p.mask)
    c = protect_id(CHILD_ID)
    db.session.add_all([
        Member(household=hh, name="孟小雨", relation="child", id_mask=c.mask, gender="female",
               schooling_stage="primary", boarding=True),
        Member(household=hh, name="孟老汉", relation="parent", left_on=date(2024, 1, 5),
               left_reason="died"),
    ])
    db.session.commit()
    auth.login(make_user("street_reviewer"))
    page = client.get(f"/print/households/{hh.id}/review-form").get_data(as_text=True)
    assert "孟小雨" in page and "小学" in page and "寄宿" in page and c.mask in page
    assert p.mask in page and "孟老汉" not in page


def test_per_capita_is_the_latest_visits_income_over_the_current_members(
        make_household, make_user, make_visit):
    helper = make_user("helper")
    p = protect_id(HEAD_ID)
    hh = make_household(helper=helper, members_count=1, intake_income=Decimal("900"),
                        head_id_enc=p.enc, head_id_index=p.index, head_id_mask=p.mask,
                        per_capita_income=Decimal("900"))
    make_visit(hh, helper, household_income=Decimal("2400"), per_capita_income=Decimal("2400"))
    refile_household(hh)
    assert hh.per_capita_income == Decimal("2400.00")
    after = parse_member({"name": "孟小雨", "relation": "child", "id_number": CHILD_ID},
                         household=hh)
    changes.propose(hh, ADD_KIND, after, user=make_user("street_reviewer"), reason="出生")
    db.session.commit()
    assert (hh.members_count, hh.per_capita_income) == (2, Decimal("1200.00"))

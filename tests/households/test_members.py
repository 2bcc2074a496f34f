"""Family members as changes of the file: parse_member refuses bad input in Chinese,
adding/removing waits for the street, edits apply at once, size and per-capita follow."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.members import (
    ADD_KIND,
    EDIT_KIND,
    LEAVE_KIND,
    head_of,
    parse_leave,
    parse_member,
)
from fieldwork.households.models import Member
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id, reveal_id

HEAD_ID = make_test_id_number("411302", date(1970, 5, 6), 11)  # a man
WIFE_ID = make_test_id_number("411302", date(1972, 8, 9), 22)  # a woman
CHILD_ID = make_test_id_number("411302", date(2012, 3, 4), 31)


def _with_head(make_household, **kw):
    hh = make_household(members_count=1, intake_income=Decimal("1500"), **kw)
    p = protect_id(HEAD_ID)
    db.session.add(Member(household=hh, name=hh.head_name, relation="self", id_enc=p.enc,
                          id_index=p.index, id_mask=p.mask, gender="male",
                          birth_date=date(1970, 5, 6)))
    db.session.commit()
    return hh


def _form(**over):
    base = {"name": "李秀英", "relation": "spouse", "id_number": WIFE_ID, "illness": "chronic",
            "disability_kind": "", "disability_grade": "", "schooling_stage": "",
            "employment_status": "flexible", "monthly_income": "600", "note": "高血压"}
    base.update(over)
    return base


def test_an_add_takes_sex_and_birth_from_the_id_and_stores_no_plain_number(make_household):
    hh = _with_head(make_household)
    after = parse_member(_form(gender="male", birth_date="1999-01-01"), household=hh)
    assert (after["gender"], after["birth_date"]) == ("female", "1972-08-09")
    assert WIFE_ID not in repr(after) and reveal_id(after["id_enc"]) == WIFE_ID
    assert after["id_mask"] == WIFE_ID[:4] + "*" * 10 + WIFE_ID[-4:]
    assert set(after) == {"name", "relation", "id_enc", "id_index", "id_mask", "gender",
                          "birth_date", "joined_on", "illness", "disability_kind",
                          "disability_grade", "schooling_stage", "boarding",
                          "employment_status", "monthly_income", "note"}
    assert after["monthly_income"] == "600.00"


@pytest.mark.parametrize(("over", "field", "message"), [
    ({"id_number": WIFE_ID[:-1] + ("0" if WIFE_ID[-1] != "0" else "1")}, "id_number",
     "身份证号校验位不正确，请核对后重新输入"),
    ({"relation": "self"}, "relation", "本户已有户主"),
    ({"disability_grade": "2"}, "disability_grade", "未选择残疾类别时不能填写残疾等级"),
    ({"disability_kind": "physical"}, "disability_grade", "请按残疾人证填写残疾等级"),
    ({"id_number": "", "birth_date": ""}, "birth_date", "请填写出生日期"),
    ({"id_number": HEAD_ID}, "id_number", "该身份证号已是本户的成员"),
    ({"boarding": "on"}, "boarding", "未在学的成员不能是寄宿生"),
    ({"monthly_income": "-5"}, "monthly_income", "月收入应为"),
])
def test_bad_member_input_is_refused_in_chinese(make_household, over, field, message):
    hh = _with_head(make_household)
    with pytest.raises(FormError) as refused:
        parse_member(_form(**over), household=hh)
    assert message in refused.value.errors[field]


def test_a_current_member_elsewhere_is_refused_naming_only_the_place(make_household, world):
    other = _with_head(make_household, place=world.community_b, head_name="王其他")
    hh = make_household(members_count=0)
    with pytest.raises(FormError) as refused:
        parse_member(_form(id_number=HEAD_ID, relation="self"), household=hh)
    message = refused.value.errors["id_number"]
    assert "光明社区" in message and other.head_name not in message
    assert other.address not in message


def test_a_community_workers_add_waits_for_the_street(make_household, make_user):
    hh = _with_head(make_household)
    worker, street = make_user("community_worker"), make_user("street_reviewer")
    after = parse_member(_form(), household=hh)
    change = changes.propose(hh, ADD_KIND, after, user=worker, reason="结婚迁入")
    db.session.commit()
    assert change.state == "pending" and change.confirm_level == "street"
    assert (hh.members_count, len(hh.members)) == (1, 1)
    with pytest.raises(FormError):  # the same person cannot be asked for twice
        parse_member(_form(), household=hh)
    changes.confirm(change, street, "核实无误")
    db.session.commit()
    added = db.session.get(Member, change.member_id)
    assert added is not None and added.name == "李秀英" and added.illness == "chronic"
    assert added.health == "高血压" and added.monthly_income == Decimal("600.00")
    assert hh.members_count == 2 and hh.per_capita_income == Decimal("750.00")


def test_a_newborn_without_id_and_a_death_recompute_size_and_per_capita(
        make_household, make_user):
    hh = _with_head(make_household)
    street = make_user("street_reviewer")
    baby = parse_member(_form(name="张小宝", relation="child", id_number="",
                              birth_date=(date.today() - timedelta(days=30)).isoformat(),
                              gender="female", illness="", employment_status="",
                              monthly_income="", note=""), household=hh)
    assert baby["id_index"] is None and baby["gender"] == "female"
    added = changes.propose(hh, ADD_KIND, baby, user=street, reason="出生")
    db.session.commit()
    assert added.state == "applied" and hh.members_count == 2
    assert hh.per_capita_income == Decimal("750.00")
    head = head_of(hh)
    assert head is not None
    with pytest.raises(FormError) as future:
        parse_leave({"left_on": (date.today() + timedelta(days=2)).isoformat(),
                     "left_reason": "died"}, member=head)
    assert future.value.errors == {"left_on": "离开日期不能晚于今天"}
    leave = parse_leave({"left_on": date.today().isoformat(), "left_reason": "died"},
                        member=head)
    change = changes.propose(hh, LEAVE_KIND, leave, user=street, reason="病故",
                             member=head)
    db.session.commit()
    assert change.before == {"left_on": None, "left_reason": ""}
    assert not head.current and hh.members_count == 1
    assert hh.per_capita_income == Decimal("1500.00")


def test_an_edit_records_only_the_changed_fields_and_applies_at_once(make_household,
                                                                     make_user):
    hh = _with_head(make_household)
    head = head_of(hh)
    assert head is not None
    worker = make_user("community_worker")
    after = parse_member({"name": head.name, "relation": "self", "id_number": "",
                          "illness": "serious", "disability_kind": "physical",
                          "disability_grade": "2", "employment_status": "unable"},
                         household=hh, member=head)
    assert after == {"illness": "serious", "disability_kind": "physical",
                     "disability_grade": 2, "employment_status": "unable"}
    change = changes.propose(hh, EDIT_KIND, after, user=worker, reason="新办残疾人证",
                             member=head)
    db.session.commit()
    assert change.state == "applied" and head.disability_grade == 2
    assert head.id_index == protect_id(HEAD_ID).index, "a blank ID keeps the one on file"

"""Members on the phone and member changes reported from a visit (issue 13, point 1): the pull
carries the current members without a digit of their ID numbers; a visit's
answers.member_changes are validated with a Chinese message per field; each entry of a new
visit becomes one pending change of the file (a replay adds none) that the street confirms."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.members import LEAVE_KIND
from fieldwork.households.models import HouseholdChange, Member
from fieldwork.places.models import PolicySettings
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.visits.models import Visit
from offline_sync.models import SyncCursor
from tests import factories
from tests.factories import answers

HEAD_ID = make_test_id_number("411302", date(1955, 5, 6), 11)   # a man, over 65
WIFE_ID = make_test_id_number("411302", date(1980, 8, 9), 22)   # a woman of screening age
VISITED = datetime.now(UTC) - timedelta(hours=1)
DAY = (VISITED + timedelta(hours=8)).date()  # the visit's date in Asia/Shanghai


@pytest.fixture
def helper(make_user):
    return make_user("helper")


@pytest.fixture
def family(make_household, helper):
    """An enrolled 低保 household of three: the head (over 65, with ID), his wife (ID, disabled)
    and a son at junior school (boarding); plus a daughter who moved out years ago."""
    hh = make_household(helper=helper, category="dibao_unemployed", members_count=3,
                        head_name="王建国")
    for name, relation, number, gender, birth, extra in (
        ("王建国", "self", HEAD_ID, "male", date(1955, 5, 6), {"illness": "chronic"}),
        ("李秀英", "spouse", WIFE_ID, "female", date(1980, 8, 9),
         {"disability_kind": "physical", "disability_grade": 2,
          "employment_status": "flexible"}),
        ("王小明", "child", None, "male", date(2012, 3, 4),
         {"schooling_stage": "junior", "boarding": True}),
    ):
        p = protect_id(number) if number else None
        db.session.add(Member(household=hh, name=name, relation=relation, gender=gender,
                              birth_date=birth, id_enc=p.enc if p else None,
                              id_index=p.index if p else None, id_mask=p.mask if p else None,
                              **extra))
    db.session.add(Member(household=hh, name="王小红", relation="child", gender="female",
                          birth_date=date(1999, 1, 1), left_on=date(2020, 1, 1),
                          left_reason="moved_out"))
    db.session.commit()
    return hh


def member(hh, name):
    return db.session.scalar(sa.select(Member).where(Member.household_id == hh.id,
                                                     Member.name == name))


def push(client, *records):
    return client.post("/api/sync/v1/push", json={"device_id": "phone-1",
                                                  "records": list(records)})


def visit(hh, changes_=None, **over):
    extra = {"member_changes": changes_} if changes_ is not None else {}
    return factories.visit_record(str(hh.id), visited_at=VISITED.isoformat(),
                                  answers=answers(household_income=1200, **extra), **over)


def birth(**over):
    entry = {"kind": "birth", "name": "王小宝", "birth_date": (DAY - timedelta(days=20))
             .isoformat(), "relation": "grandchild", "gender": "female"}
    entry.update(over)
    return {k: v for k, v in entry.items() if v is not None}


def death(member_id, **over):
    entry = {"kind": "death", "member_id": member_id, "date": (DAY - timedelta(days=3))
             .isoformat()}
    entry.update(over)
    return entry


def visit_changes(hh):
    return list(db.session.scalars(
        sa.select(HouseholdChange).where(HouseholdChange.household_id == hh.id)
        .order_by(HouseholdChange.id)))


# ---------------------------------------------------------------- the pull

def test_the_pull_carries_current_members_without_a_digit_of_their_ids(
        client, auth, helper, family):
    auth.login(helper)
    body = client.get("/api/sync/v1/pull").get_json()
    (h,) = body["households"]
    by_name = {m["name"]: m for m in h["members"]}
    assert set(by_name) == {"王建国", "李秀英", "王小明"}  # the daughter who left is not sent
    head, wife, son = by_name["王建国"], by_name["李秀英"], by_name["王小明"]
    assert (head["relation"], head["gender"], head["health"]) == ("户主", "男", "慢性病")
    assert head["age"] >= 70 and [f["label"] for f in head["flags"]] == ["65岁以上"]
    assert (wife["disability"], wife["employment"]) == ("肢体残疾2级", "灵活就业")
    assert [f["label"] for f in wife["flags"]] == ["两癌筛查对象"]
    assert (son["schooling"], son["boarding"], son["flags"]) == ("初中", True, [])
    assert son["id"] == member(family, "王小明").id
    # Not the ID, not its mask, not its last digits: no ID field and no run of digits.
    text = json.dumps(h, ensure_ascii=False)
    for number in (HEAD_ID, WIFE_ID):
        assert number not in text and number[-4:] not in text and number[:6] not in text
    assert not {"id_mask", "id_number", "id_enc", "id_index"} & {k for m in h["members"]
                                                                  for k in m}
    assert not re.search(r"\*{4}", text)
    # The visit form's shape of member changes comes with the forms.
    spec = body["forms"]["visit"]["member_changes"]
    assert [k["value"] for k in spec["kinds"]] == ["birth", "death", "move_out", "move_in"]
    assert "id_number" not in json.dumps(spec)


# ---------------------------------------------------------------- push: proposing changes

def test_a_visit_reporting_a_birth_and_a_death_proposes_pending_changes_the_street_confirms(
        client, auth, helper, family, make_user):
    head = member(family, "王建国")
    auth.login(helper)
    rec = visit(family, [birth(), death(head.id)])
    (result,) = push(client, rec).json["results"]
    assert result["status"] == "created", result
    add, leave = visit_changes(family)
    assert (add.kind, add.state, add.source, add.visit_id, add.requested_by_id) == (
        "member_add", "pending", "visit", rec["id"], helper.id)
    assert add.confirm_level == "street" and add.after["name"] == "王小宝"
    assert (add.after["id_enc"], add.after["id_mask"], add.after["gender"]) == (
        None, None, "female")
    assert add.after["joined_on"] == add.after["birth_date"]
    assert (leave.kind, leave.member_id, leave.after) == (
        "member_leave", head.id, {"left_on": death(0)["date"], "left_reason": "died"})
    assert "走访" in leave.reason
    # Nothing in the file changed yet: the helper's report waits for the street.
    assert member(family, "王小宝") is None and head.current
    assert family.members_count == 3
    # The phone shows them as waiting.
    (h,) = client.get("/api/sync/v1/pull").get_json()["households"]
    assert {(c["kind"], c["name"]) for c in h["pending_member_changes"]} == {
        ("member_add", "王小宝"), ("member_leave", "王建国")}
    # A helper cannot confirm; the street reviewer of the household's street can.
    with pytest.raises(FormError):
        changes.confirm(add, helper)
    reviewer = make_user("street_reviewer")
    changes.confirm(add, reviewer)
    changes.confirm(leave, reviewer)
    db.session.commit()
    baby = member(family, "王小宝")
    assert baby is not None and baby.current and baby.birth_date == DAY - timedelta(days=20)
    assert not head.current and head.left_reason == "died"
    assert family.members_count == 3  # one born, one died
    (h,) = client.get("/api/sync/v1/pull").get_json()["households"]
    assert {m["name"] for m in h["members"]} == {"王小宝", "李秀英", "王小明"}
    assert h["pending_member_changes"] == [] and h["members_count"] == 3
    # The visit's page says what it reported and that the office confirmed it.
    html = client.get(f"/visits/{rec['id']}").get_data(as_text=True)
    listed = html[html.index('data-testid="visit-member-changes"'):]
    listed = listed[:listed.index("</ul>")]
    assert "出生：王小宝（孙子女）" in listed and f"死亡：王建国 · {death(0)['date']}" in listed
    assert listed.count("已生效") == 2 and "待确认" not in listed


def test_a_move_in_and_a_move_out_become_an_add_without_id_and_a_leave(
        client, auth, helper, family):
    son = member(family, "王小明")
    auth.login(helper)
    moved_in = {"kind": "move_in", "name": "张桂兰", "relation": "parent",
                "birth_date": "1950-02-03", "note": "随子女生活"}
    rec = visit(family, [moved_in, {"kind": "move_out", "member_id": son.id,
                                    "date": DAY.isoformat()}])
    assert push(client, rec).json["results"][0]["status"] == "created"
    add, leave = visit_changes(family)
    assert (add.after["name"], add.after["relation"], add.after["note"]) == (
        "张桂兰", "parent", "随子女生活")
    assert add.after["id_index"] is None and add.after["gender"] is None
    assert add.after["joined_on"] == DAY.isoformat()  # no date typed: the visit's day
    assert leave.after["left_reason"] == "moved_out" and leave.member_id == son.id


def test_replaying_the_same_visit_proposes_nothing_twice(client, auth, helper, family):
    head = member(family, "王建国")
    auth.login(helper)
    rec = visit(family, [birth(), death(head.id)])
    assert push(client, rec).json["results"][0]["status"] == "created"
    for _ in range(2):
        assert push(client, rec).json["results"][0]["status"] == "duplicate"
    assert len(visit_changes(family)) == 2


def test_a_member_who_left_before_the_visit_arrived_is_not_proposed_again(
        client, auth, helper, family, make_user):
    """The office recorded the death first; the helper's report of it is not refused (the
    visit counts) and proposes nothing more. A second report of the same birth in another
    visit is the office's to judge, so it is proposed."""
    head = member(family, "王建国")
    head.left_on, head.left_reason = DAY - timedelta(days=5), "died"
    db.session.commit()
    auth.login(helper)
    (result,) = push(client, visit(family, [death(head.id)])).json["results"]
    assert result["status"] == "created"
    assert visit_changes(family) == []


# ---------------------------------------------------------------- push: validation

@pytest.mark.parametrize(("entries", "field", "words"), [
    ("王小宝", "member_changes", "格式不正确"),
    ([{"kind": "adopted"}], "member_changes[0].kind", "出生、死亡、迁出、迁入"),
    ([birth(name="")], "member_changes[0].name", "姓名"),
    ([birth(name="王" * 65)], "member_changes[0].name", "不能超过 64 个字"),
    ([birth(birth_date="2026-13-01")], "member_changes[0].birth_date", "应为日期"),
    ([birth(birth_date=(DAY + timedelta(days=1)).isoformat())],
     "member_changes[0].birth_date", "不能晚于走访日期"),
    ([birth(relation="self")], "member_changes[0].relation", "与户主关系"),
    ([birth(gender=None)], "member_changes[0].gender", "性别"),
    ([birth(id_number="411302202611010011")], "member_changes[0].id_number", "未知的填写项"),
    ([{"kind": "death", "date": "2026-01-01"}], "member_changes[0].member_id", "哪位成员"),
    ([{"kind": "death", "member_id": 999999, "date": "2026-01-01"}],
     "member_changes[0].member_id", "不是该户的成员"),
    ([{"kind": "move_out", "member_id": "$head"}], "member_changes[0].date", "请填写“迁出日期”"),
    ([{"kind": "death", "member_id": "$head", "date": "1950-01-01"}],
     "member_changes[0].date", "早于出生日期"),
    ([{"kind": "death", "member_id": "$head", "date": "2026-01-01"},
      {"kind": "move_out", "member_id": "$head", "date": "2026-01-01"}],
     "member_changes[1].member_id", "同一成员"),
    ([birth()] * 11, "member_changes", "最多登记 10 项"),
])
def test_bad_member_changes_reject_the_visit_with_a_chinese_message_per_field(
        client, auth, helper, family, entries, field, words):
    head = member(family, "王建国")
    if isinstance(entries, list):
        entries = [{k: head.id if v == "$head" else v for k, v in e.items()} for e in entries]
    auth.login(helper)
    rec = visit(family, entries)
    (result,) = push(client, rec).json["results"]
    assert result["status"] == "rejected"
    assert words in result["errors"][f"answers.{field}"], result["errors"]
    assert db.session.get(Visit, rec["id"]) is None and visit_changes(family) == []


def test_a_member_of_another_household_cannot_be_reported(
        client, auth, helper, family, make_household):
    other = make_household(helper=helper)
    stranger = Member(household=other, name="陌生人", relation="self",
                      birth_date=date(1970, 1, 1))
    db.session.add(stranger)
    db.session.commit()
    auth.login(helper)
    (result,) = push(client, visit(family, [death(stranger.id)])).json["results"]
    assert result["errors"] == {"answers.member_changes[0].member_id":
                                "所选成员不是该户的成员，请同步后重新选择"}


def test_a_visit_without_member_changes_stores_answers_as_before(client, auth, helper, family):
    auth.login(helper)
    rec = visit(family)
    assert push(client, rec).json["results"][0]["status"] == "created"
    assert "member_changes" not in db.session.get(Visit, rec["id"]).answers
    rec2 = visit(family, [])
    assert push(client, rec2).json["results"][0]["status"] == "created"
    assert "member_changes" not in db.session.get(Visit, rec2["id"]).answers
    assert visit_changes(family) == []


def test_a_correction_of_a_visit_does_not_report_its_member_changes_twice(
        client, auth, helper, family):
    """A correction re-sends the whole survey: the birth and death it repeats were proposed
    by the visit it corrects; a change only the correction reports is proposed."""
    head, son = member(family, "王建国"), member(family, "王小明")
    auth.login(helper)
    first = visit(family, [birth(), death(head.id)])
    assert push(client, first).json["results"][0]["status"] == "created"
    fixed = visit(family, [birth(), death(head.id),
                           {"kind": "move_out", "member_id": son.id, "date": DAY.isoformat()}],
                  supersedes=first["id"])
    assert push(client, fixed).json["results"][0]["status"] == "created"
    proposed = visit_changes(family)
    assert [(c.kind, c.visit_id) for c in proposed] == [
        ("member_add", first["id"]), ("member_leave", first["id"]),
        ("member_leave", fixed["id"])]
    assert proposed[-1].member_id == son.id


def test_an_incremental_pull_sends_a_household_whose_member_change_was_asked_for_or_refused(
        client, auth, helper, family, make_user):
    """Neither a pending change nor its refusal changes the file, but both change what the
    phone shows of it (待确认): each bumps the household's version, so the next incremental
    pull sends it."""
    son = member(family, "王小明")
    auth.login(helper)

    def age_cursor(token):
        db.session.get(SyncCursor, token).issued_at -= timedelta(hours=1)
        family.updated_at = datetime.now(UTC) - timedelta(hours=2)
        for p in db.session.scalars(sa.select(PolicySettings)):
            p.updated_at = datetime.now(UTC) - timedelta(hours=2)
        db.session.commit()

    first = client.get("/api/sync/v1/pull").get_json()
    age_cursor(first["cursor"])
    assert client.get(f"/api/sync/v1/pull?since={first['cursor']}").get_json()[
        "households"] == []
    worker = make_user("community_worker")
    change = changes.propose(family, LEAVE_KIND, {"left_on": DAY.isoformat(),
                                                  "left_reason": "moved_out"},
                             user=worker, reason="外出务工", member=son)
    version = family.version
    db.session.commit()
    second = client.get(f"/api/sync/v1/pull?since={first['cursor']}").get_json()
    (h,) = second["households"]
    assert [c["name"] for c in h["pending_member_changes"]] == ["王小明"]

    age_cursor(second["cursor"])
    changes.reject(change, make_user("street_reviewer"), "核实仍在本户居住")
    db.session.commit()
    assert family.version == version + 1
    (h,) = client.get(f"/api/sync/v1/pull?since={second['cursor']}").get_json()["households"]
    assert h["pending_member_changes"] == []

"""Each kind of change to the household's own facts: applied at once or waiting for the office
the policy makes responsible, read from the office's form with every field error at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from werkzeug.datastructures import MultiDict

from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.file_changes import change_from_form


def form(**values):
    data = MultiDict()
    for k, v in values.items():
        for item in v if isinstance(v, list) else [v]:
            data.add(k, item)
    return data


@pytest.fixture
def worker(make_user):
    return make_user("community_worker")


def test_immediate_kinds_apply_at_once_with_the_value_before(make_household, worker, world):
    hh = make_household(causes=["illness"], phone="13800000000")
    causes = change_from_form(hh, worker, "causes",
                              form(causes=["layoff", "illness"], reason="丈夫下岗"))
    employer = change_from_form(hh, worker, "employer",
                                form(person_type="worker", employer="南阳纺织厂", reason="核实"))
    same_place = change_from_form(hh, worker, "address", form(
        address="东关街道建设路 8 号 2 单元", place_id=str(world.community.id), reason="门牌更正"))
    phone = change_from_form(hh, worker, "phone", form(phone="0377-63100000", reason="换号"))
    db.session.commit()
    assert [c.state for c in (causes, employer, same_place, phone)] == ["applied"] * 4
    # Stored in the policy's order, whatever order the boxes were ticked in.
    assert (hh.causes, hh.employer, hh.person_type, hh.address, hh.phone) == (
        ["layoff", "illness"], "南阳纺织厂", "worker", "东关街道建设路 8 号 2 单元",
        "0377-63100000")
    assert causes.before == {"causes": ["illness"]}
    assert employer.before == {"employer": "", "person_type": ""}
    assert changes.describe(causes, "after") == "下岗失业、重大疾病"
    assert changes.describe(employer, "after") == "职工 · 南阳纺织厂"


def test_a_move_to_another_community_waits_for_the_street(make_household, worker, make_user,
                                                           world):
    hh = make_household()
    move = change_from_form(hh, worker, "address", form(
        address="新华街道民主路 3 号", place_id=str(world.community_3.id), reason="搬家"))
    db.session.commit()
    assert (move.state, move.confirm_level, hh.place_id) == ("pending", "street",
                                                             world.community.id)
    changes.confirm(move, make_user("street_reviewer"), "已核实")
    db.session.commit()
    # The new community's worker and street see it now; the old ones no longer do.
    assert (hh.place_id, hh.street_id, hh.address) == (world.community_3.id, world.street_2.id,
                                                       "新华街道民主路 3 号")
    assert changes.describe(move, "before").endswith("（和平社区）")


def test_income_needs_the_street_and_category_the_county(make_household, worker, make_user):
    hh = make_household(per_capita_income=Decimal("500"), category="below_dibao")
    income = change_from_form(hh, worker, "income", form(
        per_capita_income="1,200.5", basis="工资 2400 元，2 人", reason="再就业"))
    category = change_from_form(hh, worker, "category", form(
        category="edge", groups=["expenditure", "edge"], reason="收入略高于低保线"))
    db.session.commit()
    assert (income.state, income.confirm_level, hh.per_capita_income) == (
        "pending", "street", Decimal("500"))
    assert (category.state, category.confirm_level, hh.category) == ("pending", "county",
                                                                      "below_dibao")
    # The main category is not repeated among the further groups.
    assert category.after == {"category": "edge", "groups": ["expenditure"]}
    changes.confirm(income, make_user("street_reviewer"))
    changes.confirm(category, make_user("county_officer"))
    db.session.commit()
    assert (hh.per_capita_income, hh.category, hh.groups) == (Decimal("1200.50"), "edge",
                                                              ["expenditure"])
    assert changes.describe(income, "after") == "1200.50 元/人·月（工资 2400 元，2 人）"
    assert changes.describe(category, "after") == "略高于城镇低保线致困（同时属于：支出突增致困）"


def test_the_office_records_its_own_level_directly(make_household, make_user, world):
    hh = make_household()
    street = make_user("street_reviewer")
    county = make_user("county_officer")
    income = change_from_form(hh, street, "income",
                              form(per_capita_income="800", basis="复核", reason="复核"))
    ref = change_from_form(hh, county, "reference",
                           form(lat="32.99", lon="112.54", crs="gcj02", reason="地图标注"))
    db.session.commit()
    assert (income.state, income.decided_by_id, ref.state) == ("applied", street.id, "applied")
    # Typed on a Gaode map (GCJ-02), stored in WGS-84 and said so.
    assert hh.ref_source_crs == "gcj02" and hh.ref_lat != 32.99 and hh.ref_confirmed
    assert "由 GCJ02 转换" in changes.describe(ref, "after")


def test_other_applicants_stand_outside_the_six_groups(make_household, make_user):
    hh = make_household()
    county = make_user("county_officer")
    with pytest.raises(FormError) as mixed:
        change_from_form(hh, county, "category",
                         form(category="other", groups=["edge"], reason="不属于六类"))
    assert "不属于六类重点群体" in mixed.value.errors["groups"]
    other = change_from_form(hh, county, "category", form(category="other", reason="其他困难"))
    db.session.commit()
    assert (other.state, hh.category, hh.groups) == ("applied", "other", [])
    assert changes.describe(other, "after") == "其他城镇困难职工居民"


def test_a_form_with_errors_changes_nothing_and_names_every_field(make_household, worker):
    hh = make_household(per_capita_income=Decimal("500"))
    with pytest.raises(FormError) as refused:
        change_from_form(hh, worker, "income", form(per_capita_income="很多", basis="",
                                                    reason=" "))
    assert set(refused.value.errors) == {"per_capita_income", "basis", "reason"}
    assert refused.value.errors["reason"] == "请填写变更原因"
    with pytest.raises(FormError) as employer:
        change_from_form(hh, worker, "employer", form(person_type="worker", reason="x"))
    assert employer.value.errors == {"employer": "职工请填写工作单位（原工作单位）"}
    with pytest.raises(FormError) as elsewhere:
        change_from_form(hh, worker, "address", form(address="某地", place_id="999999",
                                                     reason="x"))
    assert elsewhere.value.errors == {"place_id": "请选择本县（市、区）内的社区"}
    assert changes.history(hh) == []


def test_a_move_to_another_county_is_refused(make_household, worker, world):
    hh = make_household()
    with pytest.raises(FormError) as refused:
        change_from_form(hh, worker, "address", form(
            address="卧龙区光明路 1 号", place_id=str(world.community_b.id), reason="搬家"))
    assert "place_id" in refused.value.errors


def test_one_change_of_a_fact_waits_at_a_time_and_a_stale_one_is_not_confirmed(
        make_household, worker, make_user):
    hh = make_household(category="below_dibao")
    county = make_user("county_officer")
    waiting = change_from_form(hh, worker, "category", form(category="edge", reason="甲"))
    with pytest.raises(FormError) as second:
        change_from_form(hh, worker, "category", form(category="expenditure", reason="乙"))
    assert second.value.status == 409 and "已有一项待确认的“困难类别”变更" in second.value.message
    # The county office records another category meanwhile (its own confirmation) after
    # refusing nothing: the waiting change was asked against a value the file no longer holds.
    waiting.state = "rejected"
    direct = change_from_form(hh, county, "category", form(category="destitute", reason="丙"))
    waiting.state = "pending"
    db.session.flush()
    assert direct.state == "applied"
    with pytest.raises(FormError) as stale:
        changes.confirm(waiting, county)
    assert stale.value.status == 409 and hh.category == "destitute"
    changes.reject(waiting, county, "已按新情况直接变更")
    assert waiting.state == "rejected"

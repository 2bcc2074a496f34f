"""Printable forms: the visit survey form (blank and filled), the review and approval form and
the assistance measures card, each within the user's scope."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fieldwork.households.models import Case, Measure, Member, PlanMeasure, ReviewDecision
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id


def ticked(html: str) -> list[str]:
    """Labels of the ticked boxes, in page order."""
    return re.findall(r'<span class="tick on" aria-hidden="true"></span>'
                      r'<span class="visually-hidden">[^<]*</span>([^<]+)</span>', html)


def no_inline_code(html: str) -> None:
    assert "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


@pytest.fixture
def home(world, make_user, make_household, db):
    helper = make_user("helper", display_name="张红梅", phone="13837701234")
    member_id = protect_id(make_test_id_number("411302", date(1980, 5, 6), 123))
    household = make_household(helper=helper, head_name="赵一", category="edge",
                               causes=["illness", "education"], members_count=2,
                               per_capita_income=Decimal("512.50"),
                               enrolled_on=date(2025, 1, 1), phone="13912345678")
    db.session.add(Member(household_id=household.id, name="赵一", relation="self", gender="男",
                          id_enc=member_id.enc, id_index=member_id.index, id_mask=member_id.mask,
                          health="高血压"))
    dibao = Measure(county_id=None, area="income", department="民政", name="城乡最低生活保障金",
                    amount=None, unit="元/月")
    school = Measure(county_id=None, area="education", department="教育",
                     name="义务教育寄宿生生活补助（小学）", amount=Decimal("1000"), unit="元/生·年")
    ended = Measure(county_id=None, area="housing", department="住建", name="公租房租赁补贴")
    db.session.add_all([dibao, school, ended])
    db.session.flush()
    db.session.add_all([
        PlanMeasure(household_id=household.id, measure_id=dibao.id, amount=Decimal("450"),
                    start_date=date(2025, 1, 1)),
        PlanMeasure(household_id=household.id, measure_id=school.id, start_date=date(2025, 1, 1)),
        PlanMeasure(household_id=household.id, measure_id=ended.id, start_date=date(2024, 1, 1),
                    end_date=date(2024, 12, 31)),
    ])
    db.session.commit()
    return {"helper": helper, "household": household, "member_id": member_id,
            "measures": (dibao, school, ended)}


def test_blank_visit_form_lays_out_the_survey_schema(client, auth, make_user, home):
    auth.login(home["helper"])
    response = client.get("/print/visit-form")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "城镇困难职工居民入户调查表" in html
    assert "附件3" in html
    # Six dimensions, each with the three statuses to tick, none ticked.
    rows = re.findall(r'<tr data-dimension="(\w+)">(.*?)</tr>', html, re.S)
    assert [d for d, _row in rows] == ["income", "housing", "education", "medical",
                                       "employment", "elderly"]
    for _d, row in rows:
        assert row.count('class="tick"') == 3
        assert "正常" in row and "有风险" in row and "有困难" in row
    assert ticked(html) == []
    for label in ("在场人员", "本月家庭总收入", "工资性收入", "人均月收入", "发现的需求和问题",
                  "下一步帮扶打算", "帮扶责任人（签字）", "户主（签字）"):
        assert label in html
    assert 'data-action="print"' in html
    no_inline_code(html)


def test_filled_visit_form_ticks_the_answers(client, auth, make_user, make_visit, home):
    household, helper = home["household"], home["helper"]
    dibao = home["measures"][0]
    answers = {"present": "户主本人", "household_income": 1025.0, "needs": "希望协调公益性岗位",
               "measures_delivered": [dibao.id], "next_steps": "下月继续走访"}
    for d in ("income", "housing", "education", "medical", "employment", "elderly"):
        answers[f"{d}_status"] = "ok"
        answers[f"{d}_note"] = ""
    answers["medical_status"] = "problem"
    answers["medical_note"] = "高血压需长期服药"
    visit = make_visit(household, helper, visited_at=datetime(2026, 3, 5, 2, 30, tzinfo=UTC),
                       answers=answers, lat=32.995, lon=112.541, accuracy_m=12.0,
                       distance_m=35.0, per_capita_income=Decimal("512.50"))
    auth.login(helper)
    response = client.get(f"/print/visits/{visit.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "赵一" in html and household.file_no in html
    assert "2026-03-05 10:30" in html  # Asia/Shanghai
    assert "高血压需长期服药" in html and "希望协调公益性岗位" in html
    assert "1025.00 元" in html
    # The household's category and causes, five "正常", one "有困难", the delivered measure.
    assert ticked(html) == ["略高于城镇低保线致困", "重大疾病", "子女教育", "正常", "正常", "正常",
                            "有困难", "正常", "正常", "城乡最低生活保障金"]
    medical = re.search(r'<tr data-dimension="medical">(.*?)</tr>', html, re.S).group(1)
    assert ticked(medical) == ["有困难"]
    # Members with masked ID numbers only.
    assert home["member_id"].mask in html
    assert make_test_id_number("411302", date(1980, 5, 6), 123) not in html
    no_inline_code(html)


def test_visit_form_follows_the_scope(client, auth, make_user, make_visit, world, home):
    visit = make_visit(home["household"], home["helper"])
    for user, status in [
        (make_user("county_officer"), 200),
        (make_user("street_reviewer", place=world.street), 200),
        (make_user("city_supervisor"), 200),
        (make_user("county_officer", place=world.county_b), 404),
        (make_user("street_reviewer", place=world.street_2), 404),
        (make_user("helper"), 404),
    ]:
        auth.login(user)
        assert client.get(f"/print/visits/{visit.id}").status_code == status, user.username
        auth.logout()
    assert client.get("/print/visits/not-a-visit").status_code in (302, 401)


def test_review_form_puts_each_decision_in_its_box(client, auth, make_user, world, home, db):
    household = home["household"]
    community = make_user("community_worker", display_name="李建国")
    street = make_user("street_reviewer", display_name="王秀英")
    county = make_user("county_officer", display_name="刘志强")
    case = Case(household_id=household.id, kind="intake", channel="territorial",
                stage="done", state="approved", opened_at=datetime(2025, 1, 2, tzinfo=UTC))
    db.session.add(case)
    db.session.flush()
    db.session.add_all([
        ReviewDecision(case_id=case.id, step="community", decision="approve",
                       opinion="情况属实，同意上报", reviewer_id=community.id,
                       decided_at=datetime(2025, 1, 3, 2, tzinfo=UTC)),
        ReviewDecision(case_id=case.id, step="street", decision="approve",
                       opinion="经复核符合条件", reviewer_id=street.id,
                       decided_at=datetime(2025, 1, 6, 2, tzinfo=UTC)),
    ])
    db.session.commit()
    auth.login(county)
    response = client.get(f"/print/households/{household.id}/review-form")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "城镇困难职工居民审核审批表" in html and "附件2" in html
    boxes = dict(re.findall(r'<tr data-box="(\w+)">(.*?)</tr>', html, re.S))
    assert list(boxes) == ["community", "street", "draft_plan", "department", "sector",
                           "county", "exit_community", "exit_street", "exit_county"]
    assert "社区(村)初审意见" in boxes["community"]
    assert "情况属实，同意上报" in boxes["community"] and "李建国" in boxes["community"]
    assert "2025-01-03" in boxes["community"] and "同意" in boxes["community"]
    assert "经复核符合条件" in boxes["street"] and "王秀英" in boxes["street"]
    # The county has not decided yet: an empty box to sign.
    assert "县级解困办综合审核确认意见" in boxes["county"]
    assert "审核人（签字）" in boxes["county"] and "刘志强" not in boxes["county"]
    # A territorial case: the department and sector boxes say so, with nothing to sign.
    assert "本户未经此渠道认定" in boxes["department"] and "审核人" not in boxes["sector"]
    assert "辖区筛选认定" in html
    assert home["member_id"].mask in html
    assert "512.50" in html
    no_inline_code(html)


def test_review_form_without_cases_has_three_empty_boxes(client, auth, make_user, home):
    auth.login(make_user("street_reviewer"))
    html = client.get(f"/print/households/{home['household'].id}/review-form").get_data(
        as_text=True)
    boxes = dict(re.findall(r'<tr data-box="(\w+)">(.*?)</tr>', html, re.S))
    assert len(boxes) == 9
    assert all("审核人（签字）" in b for k, b in boxes.items() if k != "draft_plan")
    assert 'class="opinion-blank"' in boxes["draft_plan"]


def test_card_lists_measures_in_force_and_the_helpers_full_phone(client, auth, make_user,
                                                                 app, home):
    app.config["OFFICE_PHONE"] = "0377-63112345"
    auth.login(make_user("county_officer"))
    response = client.get(f"/print/households/{home['household'].id}/card")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "城镇困难职工居民帮扶措施明白卡" in html and "附件4" in html
    measures = re.findall(r'<tr data-testid="card-measure">(.*?)</tr>', html, re.S)
    assert len(measures) == 2
    assert "城乡最低生活保障金" in measures[0] and "450 元/月" in measures[0]
    assert "1000 元/生·年" in measures[1]
    assert "公租房租赁补贴" not in html  # ended
    assert "张红梅" in html
    assert "13837701234" in html  # full: the card is given to the household
    assert "0377-63112345" in html and "宛城区解困办" in html
    no_inline_code(html)


def test_card_without_office_phone_leaves_a_line_to_write_on(client, auth, make_user, home):
    auth.login(home["helper"])
    html = client.get(f"/print/households/{home['household'].id}/card").get_data(as_text=True)
    office = re.search(r'data-testid="card-office-phone">(.*?)</td>', html, re.S).group(1)
    assert 'class="blank' in office


@pytest.mark.parametrize("page", ["review-form", "card"])
def test_household_forms_are_404_out_of_scope(client, auth, make_user, world, home, page):
    url = f"/print/households/{home['household'].id}/{page}"
    auth.login(make_user("county_officer", place=world.county_b))
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login(make_user("community_worker", place=world.community_2))
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login(make_user("helper"))
    assert client.get(url).status_code == 404
    assert client.get("/print/households/999999/card").status_code == 404
    auth.logout()
    auth.login(home["helper"])
    assert client.get(url).status_code == 200


def test_review_form_departmental_and_exit_cases(client, auth, make_user, world, home, db):
    household = home["household"]
    department = make_user("department_reviewer", place=world.county, display_name="周敏",
                           organisation="民政局")
    county = make_user("county_officer", display_name="刘志强")
    intake = Case(household_id=household.id, kind="intake", channel="departmental",
                  organisation="民政局", stage="done", state="approved",
                  opened_at=datetime(2025, 1, 2, tzinfo=UTC))
    exit_case = Case(household_id=household.id, kind="exit", channel="territorial",
                     stage="county", state="open", opened_at=datetime(2026, 6, 1, tzinfo=UTC))
    db.session.add_all([intake, exit_case])
    db.session.flush()
    db.session.add_all([
        ReviewDecision(case_id=intake.id, step="department", decision="approve",
                       opinion="经民政部门核实", reviewer_id=department.id,
                       decided_at=datetime(2025, 1, 3, tzinfo=UTC)),
        ReviewDecision(case_id=intake.id, step="confirm", decision="approve",
                       opinion="同意纳入", reviewer_id=county.id,
                       decided_at=datetime(2025, 1, 9, tzinfo=UTC)),
        ReviewDecision(case_id=exit_case.id, step="street", decision="return",
                       opinion="请补充近六个月收入证明", reviewer_id=county.id,
                       decided_at=datetime(2026, 6, 5, tzinfo=UTC)),
    ])
    db.session.commit()
    auth.login(county)
    html = client.get(f"/print/households/{household.id}/review-form").get_data(as_text=True)
    boxes = dict(re.findall(r'<tr data-box="(\w+)">(.*?)</tr>', html, re.S))
    # The department's opinion in its own box, no longer under the community's.
    assert "经民政部门核实" in boxes["department"] and "周敏（民政局）" in boxes["department"]
    assert "本户未经此渠道认定" in boxes["community"] and "本户未经此渠道认定" in boxes["street"]
    assert "同意纳入" in boxes["county"]  # step code without a level: by the reviewer's role
    assert "部门筛选认定（民政局）" in html
    assert "请补充近六个月收入证明" in boxes["exit_street"]
    assert "退回补正" in boxes["exit_street"]


def test_forms_tick_every_priority_group_of_the_household(client, auth, make_user, make_visit,
                                                          home, db):
    household = home["household"]
    household.groups = ["expenditure"]
    db.session.commit()
    visit = make_visit(household, home["helper"])
    auth.login(make_user("street_reviewer"))
    for url in (f"/print/households/{household.id}/review-form", f"/print/visits/{visit.id}"):
        html = client.get(url).get_data(as_text=True)
        assert {"略高于城镇低保线致困", "支出突增致困"} <= set(ticked(html)), url
        assert "其他城镇困难职工居民" in html and "其他城镇困难职工居民" not in ticked(html)

"""Issue 14: every printed field of 附件2, 附件3, 附件4 and the publicity list matches the file
it comes from (docs/forms.md)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from fieldwork.households.models import (
    Case,
    CaseIncome,
    Measure,
    Member,
    Objection,
    PlanMeasure,
    ReviewDecision,
)
from fieldwork.places.models import PolicySettings
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.timeutil import today_local


def rows(html: str, attr: str) -> dict[str, str]:
    return dict(re.findall(rf'<(?:tr|td)[^>]*? {attr}="(\w+)"[^>]*>(.*?)</(?:tr|td)>', html,
                           re.S))


def text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def field(html: str, name: str) -> str:
    m = re.search(rf'data-field="{name}">(.*?)</td>', html, re.S)
    assert m, name
    return text(m.group(1))


@pytest.fixture
def family(world, make_user, make_household, db):
    helper = make_user("helper", display_name="张红梅", phone="13837701234")
    head_id = protect_id(make_test_id_number("411302", date(1970, 3, 8), 111))
    child_id = protect_id(make_test_id_number("411302", date(2012, 9, 1), 222))
    household = make_household(helper=helper, head_name="孙建华", category="below_dibao",
                               members_count=2, per_capita_income=Decimal("410.00"),
                               intake_income=Decimal("820.00"), phone="13912345678",
                               enrolled_on=date(2025, 3, 1))
    head = Member(household_id=household.id, name="孙建华", relation="self", gender="male",
                  birth_date=date(1970, 3, 8), id_enc=head_id.enc, id_index=head_id.index,
                  id_mask=head_id.mask, illness="serious", health="尿毒症透析",
                  disability_kind="physical", disability_grade=3, employment_status="unable",
                  monthly_income=Decimal("300.00"))
    child = Member(household_id=household.id, name="孙小雨", relation="child", gender="female",
                   birth_date=date(2012, 9, 1), id_enc=child_id.enc, id_index=child_id.index,
                   id_mask=child_id.mask, schooling_stage="junior", boarding=True)
    gone = Member(household_id=household.id, name="孙老汉", relation="parent", gender="male",
                  left_on=date(2025, 6, 1), left_reason="died")
    db.session.add_all([head, child, gone])
    db.session.commit()
    return {"helper": helper, "household": household, "head": head, "child": child,
            "head_id": head_id, "child_id": child_id}


# ---------------------------------------------------------------- 附件2

def test_review_form_fills_every_box_from_the_case(client, auth, make_user, family, db):
    household = family["household"]
    community = make_user("community_worker", display_name="李建国")
    street = make_user("street_reviewer", display_name="王秀英")
    county = make_user("county_officer", display_name="刘志强")
    case = Case(household_id=household.id, kind="intake", channel="territorial",
                stage="enrolled", state="approved", opened_at=datetime(2025, 1, 2, tzinfo=UTC),
                draft_plan="申请低保边缘救助；协调公益性岗位一个",
                publicity_ends_on=date(2025, 1, 20))
    db.session.add(case)
    db.session.flush()
    db.session.add_all([
        ReviewDecision(case_id=case.id, step="community_review", decision="approve",
                       opinion="情况属实", reviewer_id=community.id,
                       decided_at=datetime(2025, 1, 3, 2, tzinfo=UTC)),
        ReviewDecision(case_id=case.id, step="street_review", decision="approve",
                       opinion="复核无误", reviewer_id=street.id,
                       decided_at=datetime(2025, 1, 6, 2, tzinfo=UTC)),
        ReviewDecision(case_id=case.id, step="county_confirm", decision="approve",
                       opinion="同意纳入，予以公示", reviewer_id=county.id,
                       decided_at=datetime(2025, 1, 13, 2, tzinfo=UTC)),
        Objection(case_id=case.id, text="该户有经营性收入未申报", raised_by="邻居",
                  recorded_by_id=county.id, recorded_at=datetime(2025, 1, 15, 2, tzinfo=UTC),
                  resolution="经入户核实无经营收入", upheld=False,
                  resolved_at=datetime(2025, 1, 17, 2, tzinfo=UTC)),
    ])
    db.session.commit()
    auth.login(county)
    html = client.get(f"/print/households/{household.id}/review-form").get_data(as_text=True)
    boxes = rows(html, "data-box")
    assert "情况属实" in boxes["community"] and "李建国" in boxes["community"]
    assert "2025-01-03" in boxes["community"]
    assert "复核无误" in boxes["street"] and "王秀英" in boxes["street"]
    assert text(boxes["draft_plan"]).endswith("申请低保边缘救助；协调公益性岗位一个")
    assert "同意纳入，予以公示" in boxes["county"] and "刘志强" in boxes["county"]
    for key in ("department", "sector"):
        assert "本户未经此渠道认定" in boxes[key]
    # Publicity: from the county's approval (Asia/Shanghai day) to publicity_ends_on.
    assert field(html, "publicity-dates") == "2025-01-13 至 2025-01-20"
    outcome = field(html, "publicity-outcome")
    assert "该户有经营性收入未申报（邻居）" in outcome and "2025-01-15" in outcome
    assert "异议不成立，经入户核实无经营收入" in outcome and "2025-01-17" in outcome
    # Household facts.
    assert field(html, "head_name") == "孙建华"
    assert field(html, "id_mask") == family["head_id"].mask
    assert field(html, "phone") == "139****5678"
    assert field(html, "members_count") == "2 人"
    assert field(html, "per_capita") == "410.00 元"
    # No exit case: the exit section is there to fill in by hand.
    assert 'class="blank' in field_html(html, "exit_route")
    assert "审核人（签字）" in boxes["exit_county"]


def field_html(html: str, name: str) -> str:
    return re.search(rf'data-field="{name}">(.*?)</td>', html, re.S).group(1)


def test_review_form_without_objections_after_publicity(client, auth, make_user, family, db):
    household = family["household"]
    county = make_user("county_officer")
    case = Case(household_id=household.id, kind="intake", channel="territorial",
                stage="enrolled", state="approved", opened_at=datetime(2025, 1, 2, tzinfo=UTC),
                publicity_ends_on=date(2025, 1, 20))
    db.session.add(case)
    db.session.flush()
    db.session.add(ReviewDecision(case_id=case.id, step="county_confirm", decision="approve",
                                  reviewer_id=county.id,
                                  decided_at=datetime(2025, 1, 12, 20, tzinfo=UTC)))
    db.session.commit()
    auth.login(county)
    html = client.get(f"/print/households/{household.id}/review-form").get_data(as_text=True)
    assert field(html, "publicity-dates") == "2025-01-13 至 2025-01-20"  # 04:00 in Nanyang
    assert field(html, "publicity-outcome") == "公示期满无异议"


@pytest.mark.parametrize("channel,step,box,organisation", [
    ("departmental", "department_review", "department", "市商务局"),
    ("sector", "sector_certify", "sector", "区残联"),
])
def test_review_form_department_and_sector_opinions_have_their_own_box(
        client, auth, make_user, world, family, db, channel, step, box, organisation):
    household = family["household"]
    reviewer = make_user("department_reviewer", place=world.county, display_name="周敏",
                         organisation=organisation)
    county = make_user("county_officer")
    case = Case(household_id=household.id, kind="intake", channel=channel,
                organisation=organisation, stage="county_confirm", state="open",
                opened_at=datetime(2025, 2, 1, tzinfo=UTC), opened_by_id=reviewer.id)
    db.session.add(case)
    db.session.flush()
    db.session.add(ReviewDecision(case_id=case.id, step=step, decision="approve",
                                  opinion="经本部门初审符合条件", reviewer_id=reviewer.id,
                                  decided_at=datetime(2025, 2, 3, tzinfo=UTC)))
    db.session.commit()
    auth.login(county)
    html = client.get(f"/print/households/{household.id}/review-form").get_data(as_text=True)
    boxes = rows(html, "data-box")
    assert "经本部门初审符合条件" in boxes[box] and f"周敏（{organisation}）" in boxes[box]
    assert organisation in boxes[box]
    others = {"community", "street", "department", "sector"} - {box}
    for key in others:
        assert "经本部门初审符合条件" not in boxes[key]
        assert "本户未经此渠道认定" in boxes[key]
    assert "审核人（签字）" in boxes["county"]  # still waiting for the county
    # Not publicised yet: dates to write in.
    assert 'class="blank' in field_html(html, "publicity-dates")


def test_review_form_exit_section_from_the_exit_case(client, auth, make_user, family, db):
    household = family["household"]
    community = make_user("community_worker", display_name="李建国")
    street = make_user("street_reviewer", display_name="王秀英")
    county = make_user("county_officer", display_name="刘志强")
    exit_case = Case(household_id=household.id, kind="exit", channel="territorial",
                     stage="done", state="approved", opened_at=datetime(2026, 5, 1, tzinfo=UTC),
                     exit_route="moved", exit_on=date(2026, 5, 31),
                     exit_reason="全家迁往郑州市金水区，户籍已迁出")
    db.session.add(exit_case)
    db.session.flush()
    db.session.add_all([
        ReviewDecision(case_id=exit_case.id, step="exit_community", decision="approve",
                       opinion="经核实已迁出", reviewer_id=community.id,
                       decided_at=datetime(2026, 5, 2, tzinfo=UTC)),
        ReviewDecision(case_id=exit_case.id, step="exit_street", decision="approve",
                       opinion="同意退出", reviewer_id=street.id,
                       decided_at=datetime(2026, 5, 5, tzinfo=UTC)),
        ReviewDecision(case_id=exit_case.id, step="exit_county", decision="approve",
                       opinion="批准退出", reviewer_id=county.id,
                       decided_at=datetime(2026, 5, 8, tzinfo=UTC)),
    ])
    db.session.commit()
    auth.login(county)
    html = client.get(f"/print/households/{household.id}/review-form").get_data(as_text=True)
    assert field(html, "exit_route") == "迁出或户籍变更"
    assert field(html, "exit_on") == "2026-05-31"
    assert field(html, "exit_reason") == "全家迁往郑州市金水区，户籍已迁出"
    boxes = rows(html, "data-box")
    assert "经核实已迁出" in boxes["exit_community"] and "李建国" in boxes["exit_community"]
    assert "同意退出" in boxes["exit_street"] and "王秀英" in boxes["exit_street"]
    assert "批准退出" in boxes["exit_county"] and "刘志强" in boxes["exit_county"]
    # An exit that was not publicised prints no exit publicity table.
    assert 'data-section="publicity-exit"' not in html


def test_review_form_reads_older_exit_steps(client, auth, make_user, family, db):
    household = family["household"]
    county = make_user("county_officer", display_name="刘志强")
    street = make_user("street_reviewer", display_name="王秀英")
    exit_case = Case(household_id=household.id, kind="exit", channel="territorial",
                     stage="done", state="approved", opened_at=datetime(2025, 12, 1, tzinfo=UTC))
    db.session.add(exit_case)
    db.session.flush()
    db.session.add_all([
        ReviewDecision(case_id=exit_case.id, step="exit_proposal", decision="approve",
                       opinion="收入稳定超过低保标准半年", reviewer_id=street.id,
                       decided_at=datetime(2025, 12, 1, tzinfo=UTC)),
        ReviewDecision(case_id=exit_case.id, step="exit_review", decision="approve",
                       opinion="同意平稳退出", reviewer_id=county.id,
                       decided_at=datetime(2025, 12, 2, tzinfo=UTC)),
    ])
    db.session.commit()
    auth.login(county)
    html = client.get(f"/print/households/{household.id}/review-form").get_data(as_text=True)
    boxes = rows(html, "data-box")
    assert "收入稳定超过低保标准半年" in boxes["exit_street"]  # by the proposer's role
    assert "同意平稳退出" in boxes["exit_county"]
    assert "审核人（签字）" in boxes["exit_community"]
    assert field(html, "exit_route") == "平稳退出"  # older cases were all stable exits


def test_review_form_exit_publicity(client, auth, make_user, family, db):
    household = family["household"]
    county = make_user("county_officer")
    exit_case = Case(household_id=household.id, kind="exit", channel="territorial",
                     stage="exit_publicity", state="open",
                     opened_at=datetime(2026, 5, 1, tzinfo=UTC), exit_route="stable",
                     publicity_ends_on=today_local() + timedelta(days=3))
    db.session.add(exit_case)
    db.session.flush()
    db.session.add(ReviewDecision(case_id=exit_case.id, step="exit_county", decision="approve",
                                  reviewer_id=county.id,
                                  decided_at=datetime.now(UTC) - timedelta(days=4)))
    db.session.commit()
    auth.login(county)
    html = client.get(f"/print/households/{household.id}/review-form").get_data(as_text=True)
    section = html.split('data-section="publicity-exit"')[1]
    assert "公示中，暂无异议" in section
    assert str(exit_case.publicity_ends_on) in section


def test_review_form_picks_an_intake_case(client, auth, make_user, family, db):
    household = family["household"]
    county = make_user("county_officer")
    old = Case(household_id=household.id, kind="intake", channel="territorial", stage="done",
               state="rejected", opened_at=datetime(2024, 1, 2, tzinfo=UTC), draft_plan="旧方案")
    new = Case(household_id=household.id, kind="intake", channel="territorial", stage="done",
               state="approved", opened_at=datetime(2025, 1, 2, tzinfo=UTC), draft_plan="新方案")
    db.session.add_all([old, new])
    db.session.commit()
    auth.login(county)
    url = f"/print/households/{household.id}/review-form"
    assert "新方案" in rows(client.get(url).get_data(as_text=True), "data-box")["draft_plan"]
    html = client.get(f"{url}?case={old.id}").get_data(as_text=True)
    assert "旧方案" in rows(html, "data-box")["draft_plan"]
    assert client.get(f"{url}?case=999999").status_code == 404


# ---------------------------------------------------------------- 附件3

def member_rows(html: str) -> list[list[str]]:
    out = []
    for row in re.findall(r'<tr data-testid="member-row"[^>]*>(.*?)</tr>', html, re.S):
        out.append([text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)])
    return out


def test_survey_form_members_table_from_the_members(client, auth, family, make_visit):
    visit = make_visit(family["household"], family["helper"],
                       visited_at=datetime(2026, 3, 5, 2, 30, tzinfo=UTC),
                       answers={"household_income": 900.0}, per_capita_income=Decimal("450.00"))
    auth.login(family["helper"])
    html = client.get(f"/print/visits/{visit.id}").get_data(as_text=True)
    assert member_rows(html) == [
        ["孙建华", "户主", family["head_id"].mask, "男/55岁", "重特大疾病：尿毒症透析",
         "肢体残疾3级", "", "无劳动能力"],
        ["孙小雨", "子女", family["child_id"].mask, "女/13岁", "健康", "无", "初中（寄宿）", ""],
    ]  # ages on the visit day; the member who died is not listed
    assert "孙老汉" not in html
    income = rows(html, "data-income")
    assert text(income["total"]) == "900.00 元"
    assert text(income["per_capita"]) == "450.00 元"
    assert text(income["members"]) == "孙建华 300.00 元"


def test_survey_form_from_the_file_fills_income_sources(client, auth, make_user, family, db):
    household = family["household"]
    county = make_user("county_officer")
    case = Case(household_id=household.id, kind="intake", stage="done", state="approved")
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseIncome(case_id=case.id, wages=Decimal("0"), pensions=Decimal("520"),
                              business=Decimal("0"), transfers=Decimal("300"),
                              other=Decimal("0"), members_count=2, total=Decimal("820"),
                              per_capita=Decimal("410"), recorded_by_id=county.id,
                              recorded_at=datetime(2025, 2, 1, tzinfo=UTC)))
    db.session.commit()
    auth.login(county)
    response = client.get(f"/print/households/{household.id}/visit-form")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    income = rows(html, "data-income")
    assert text(income["wages"]) == "0.00 元"
    assert text(income["pensions"]) == "520.00 元"
    assert text(income["transfers"]) == "300.00 元"
    # No visit yet: the latest accepted income is the intake income, over 2 members.
    assert text(income["total"]).startswith("820.00 元")
    assert text(income["per_capita"]) == "410.00 元"
    assert "2025-02-01 核定" in html
    assert len(member_rows(html)) == 2
    assert html.count('class="blank-row"') == 2  # lines for a member the visit finds


def test_blank_survey_form_has_lines_for_members_and_income(client, auth, family):
    auth.login(family["helper"])
    html = client.get("/print/visit-form").get_data(as_text=True)
    assert member_rows(html) == []
    assert html.count('class="blank-row"') == 5
    income = rows(html, "data-income")
    for key in ("wages", "pensions", "business", "transfers", "other", "total", "per_capita"):
        assert 'class="blank' in income[key], key


def test_household_survey_form_is_scoped(client, auth, make_user, world, family):
    url = f"/print/households/{family['household'].id}/visit-form"
    auth.login(make_user("county_officer", place=world.county_b))
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login(family["helper"])
    assert client.get(url).status_code == 200


# ---------------------------------------------------------------- 附件4

@pytest.fixture
def planned(family, db):
    household = family["household"]
    m = Measure(county_id=None, area="income", department="民政", name="城乡最低生活保障金",
                amount=None, unit="元/月")
    db.session.add(m)
    db.session.flush()
    db.session.add(PlanMeasure(household_id=household.id, measure_id=m.id,
                               amount=Decimal("450"), start_date=date(2025, 1, 1)))
    db.session.commit()
    return family


def test_card_office_phone_is_the_countys(client, auth, make_user, world, planned, app, db):
    app.config["OFFICE_PHONE"] = "0377-60000000"
    settings = db.session.scalar(
        db.select(PolicySettings).where(PolicySettings.place_id == world.county.id))
    settings.office_phone = "0377-63112345"
    db.session.commit()
    auth.login(make_user("county_officer"))
    url = f"/print/households/{planned['household'].id}/card"
    html = client.get(url).get_data(as_text=True)
    office = re.search(r'data-testid="card-office-phone">(.*?)</td>', html, re.S).group(1)
    assert text(office) == "0377-63112345"
    assert "0377-60000000" not in html
    settings.office_phone = ""
    db.session.commit()
    html = client.get(url).get_data(as_text=True)
    office = re.search(r'data-testid="card-office-phone">(.*?)</td>', html, re.S).group(1)
    assert text(office) == "0377-60000000"  # the city-wide value as fallback


def test_card_columns_have_fixed_widths(client, auth, planned):
    auth.login(planned["helper"])
    html = client.get(f"/print/households/{planned['household'].id}/card").get_data(
        as_text=True)
    table = re.search(r'<table class="form-table fixed measures">(.*?)</table>', html, re.S)
    assert table, "the measures table has a fixed layout"
    assert len(re.findall(r"<col[ >]", table.group(1))) == 6
    cell = re.search(r'<td class="amount">(.*?)</td>', table.group(1), re.S).group(1)
    assert text(cell) == "450 元/月"
    assert 'data-testid="card-exited"' not in html


def test_card_of_an_exited_household(client, auth, make_user, planned, db):
    household = planned["household"]
    household.status = "exited"
    household.exited_on = date(2026, 5, 31)
    household.exit_route = "death"
    for pm in household.plan:
        pm.end_date = date(2026, 5, 31)
    db.session.commit()
    auth.login(make_user("county_officer"))
    html = client.get(f"/print/households/{household.id}/card").get_data(as_text=True)
    stamp = text(re.search(r'data-testid="card-exited">(.*?)</p>', html, re.S).group(1))
    assert stamp == "已退出 退出日期：2026-05-31 退出类型：死亡"
    # The measures it received up to its exit.
    assert "城乡最低生活保障金" in html and "（退出前落实）" in html


# ---------------------------------------------------------------- 公示名单

@pytest.fixture
def notice(world, make_user, make_household, db):
    county = make_user("county_officer", display_name="刘志强")

    def publicised(name, place, start, ends, kind="intake", **kw):
        pid = protect_id(make_test_id_number("411302", date(1980, 1, 1), len(name) * 7 + ends.day))
        hh = make_household(place=place, head_name=name, head_id_enc=pid.enc,
                            head_id_index=pid.index, head_id_mask=pid.mask, members_count=3,
                            category="dibao_unemployed", per_capita_income=Decimal("321.00"))
        case = Case(household_id=hh.id, kind=kind, channel="territorial", stage="publicity",
                    state="open", publicity_ends_on=ends, **kw)
        db.session.add(case)
        db.session.flush()
        step = "exit_county" if kind == "exit" else "county_confirm"
        db.session.add(ReviewDecision(case_id=case.id, step=step, decision="approve",
                                      reviewer_id=county.id,
                                      decided_at=datetime.combine(start, datetime.min.time(),
                                                                  tzinfo=UTC)))
        db.session.commit()
        return hh, case, pid

    made = {
        "in": publicised("欧阳明", world.community, date(2026, 3, 2), date(2026, 3, 9)),
        "exit": publicised("钱多多", world.community, date(2026, 3, 20), date(2026, 3, 27),
                           kind="exit", exit_route="stable"),
        "before": publicised("赵早早", world.community, date(2026, 1, 2), date(2026, 1, 9)),
        "after": publicised("李晚晚", world.community, date(2026, 4, 5), date(2026, 4, 12)),
        "overlap": publicised("周跨月", world.community, date(2026, 2, 25), date(2026, 3, 4)),
        "other_community": publicised("吴他处", world.community_2, date(2026, 3, 2),
                                      date(2026, 3, 9)),
        "other_county": publicised("郑外县", world.community_b, date(2026, 3, 2),
                                   date(2026, 3, 9)),
    }
    return {"county": county, **made}


def publicity_rows(html: str) -> list[list[str]]:
    return [[text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r'<tr data-testid="publicity-row"[^>]*>(.*?)</tr>', html,
                                  re.S)]


def test_publicity_list_of_a_community_for_a_period(client, auth, world, notice, db):
    settings = db.session.scalar(
        db.select(PolicySettings).where(PolicySettings.place_id == world.county.id))
    settings.office_phone = "0377-63112345"
    db.session.commit()
    auth.login(notice["county"])
    response = client.get(f"/print/places/{world.community.id}/publicity"
                          "?from=2026-03-01&to=2026-03-31")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "和平社区城镇困难职工居民公示名单" in html
    got = publicity_rows(html)
    masks = {k: notice[k][2].mask for k in ("in", "exit", "overlap")}
    assert got == [
        ["1", "周某某", masks["overlap"], "纳入城镇低保未充分就业", "3", "纳入",
         "2026-02-25 至 2026-03-04"],
        ["2", "欧某某", masks["in"], "纳入城镇低保未充分就业", "3", "纳入",
         "2026-03-02 至 2026-03-09"],
        ["3", "钱某某", masks["exit"], "纳入城镇低保未充分就业", "3", "退出（平稳退出）",
         "2026-03-20 至 2026-03-27"],
    ]
    # Names masked, no income figures, the objection channel with the county's phone.
    for name in ("欧阳明", "钱多多", "周跨月", "赵早早", "李晚晚", "吴他处", "郑外县"):
        assert name not in html
    assert "321" not in html
    channel = re.search(r'data-testid="publicity-channel">(.*?)</div>', html, re.S).group(1)
    assert "宛城区解困办" in channel and "0377-63112345" in channel


def test_publicity_list_of_a_street_with_full_names(client, auth, world, notice):
    auth.login(notice["county"])
    html = client.get(f"/print/places/{world.street.id}/publicity"
                      "?from=2026-03-01&to=2026-03-31&names=full").get_data(as_text=True)
    got = {r[1]: r[3] for r in publicity_rows(html)}  # name → community
    assert got == {"周跨月": "和平社区", "吴他处": "幸福社区", "欧阳明": "和平社区",
                   "钱多多": "和平社区"}


@pytest.mark.parametrize("query,message", [
    ("from=2026-13-01&to=2026-03-31", "起始日期不是有效日期"),
    ("from=2026-03-01&to=yesterday", "截止日期不是有效日期"),
    ("from=2026-03-31&to=2026-03-01", "起始日期不能晚于截止日期"),
    ("from=2025-01-01&to=2026-03-01", "公示名单的期间不能超过 120 天"),
])
def test_publicity_list_refuses_bad_periods(client, auth, world, notice, query, message):
    auth.login(notice["county"])
    response = client.get(f"/print/places/{world.community.id}/publicity?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_publicity_list_is_scoped(client, auth, make_user, world, notice):
    url = f"/print/places/{world.community.id}/publicity?from=2026-03-01&to=2026-03-31"
    auth.login(make_user("county_officer", place=world.county_b))
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login(make_user("community_worker", place=world.community_2))
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login(make_user("community_worker"))
    assert len(publicity_rows(client.get(url).get_data(as_text=True))) == 3
    auth.logout()
    # A helper sees the places of their households, and only those households.
    helper = make_user("helper")
    auth.login(helper)
    assert client.get(url).status_code == 404
    auth.logout()
    auth.login(make_user("street_reviewer"))
    assert client.get(f"/print/places/{world.city.id}/publicity").status_code == 404


def test_place_page_links_the_publicity_list(client, auth, make_user, world):
    auth.login(make_user("street_reviewer"))
    html = client.get(f"/places/{world.community.id}").get_data(as_text=True)
    assert f"/print/places/{world.community.id}/publicity" in html

"""The ledger of issue 14: the new columns, the 成员 sheet, the XLSX layout (autofilter, A4
landscape, print titles, totals), the on-screen ledger with its filters, and the printed 附件5."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from fieldwork.audit.models import AuditEvent
from fieldwork.households.models import Case, Measure, Member, PlanMeasure
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.supervision.ledger_rows import SCREEN_PAGE_SIZE, LedgerRequest, screen_page
from fieldwork.timeutil import current_month, today_local
from tests.factories import utc
from tests.supervision.test_export import MONTHS, by_name, read_csv

YEAR = today_local().year - 1


def ident(n: int, born: date = date(1970, 1, 1)) -> str:
    return make_test_id_number("411302", born, 200 + n)


@pytest.fixture
def files(world, make_user, make_household, make_visit, db):
    """Two enrolled households and an exited one in 和平社区 and 民主社区, with measures that
    carry departments and amounts, members, intake cases and visits."""
    helper = make_user("helper", display_name="张红梅", phone="13837701234")
    dibao = Measure(county_id=None, area="income", department="民政", name="城乡最低生活保障金",
                    amount=Decimal("640"), unit="元/月")
    power = Measure(county_id=None, area="income", department="民政", name="电费补贴",
                    amount=Decimal("10"), unit="元/月")
    school = Measure(county_id=None, area="education", department="教育",
                     name="普通高中国家助学金", amount=Decimal("2000"), unit="元/生·年")
    db.session.add_all([dibao, power, school])
    db.session.commit()

    def household(n, place=None, **kw):
        pid = protect_id(ident(n))
        return make_household(place=place, helper=helper, head_id_enc=pid.enc,
                              head_id_index=pid.index, head_id_mask=pid.mask,
                              assigned_on=date(YEAR - 1, 1, 1), **kw)

    a = household(1, head_name="赵一", phone="13912345678", address="建设路1号院3单元",
                  enrolled_on=date(YEAR - 1, 3, 1), members_count=3, category="dibao_unemployed")
    son = protect_id(ident(11, date(2008, 5, 1)))
    a.members.append(Member(name="赵小一", relation="child", gender="male",
                            birth_date=date(2008, 5, 1), id_enc=son.enc, id_index=son.index,
                            id_mask=son.mask, schooling_stage="senior", illness="chronic"))
    a.members.append(Member(name="钱某", relation="spouse", gender="female",
                            disability_kind="physical", disability_grade=2,
                            employment_status="unemployed"))
    a.members.append(Member(name="赵老", relation="parent", left_on=date(YEAR, 2, 1),
                            left_reason="died"))  # left: not a current member
    db.session.add_all([
        PlanMeasure(household_id=a.id, measure_id=dibao.id, start_date=date(YEAR - 1, 3, 1)),
        PlanMeasure(household_id=a.id, measure_id=power.id, start_date=date(YEAR - 1, 3, 1),
                    amount=Decimal("12.50")),
        PlanMeasure(household_id=a.id, measure_id=school.id, start_date=date(YEAR - 1, 9, 1)),
        Case(household_id=a.id, kind="intake", channel="territorial", stage="done",
             state="approved"),
    ])
    b = household(2, head_name="钱二", enrolled_on=date(YEAR, 1, 10), members_count=2,
                  category="edge")
    db.session.add_all([
        Case(household_id=b.id, kind="intake", channel="territorial", stage="done",
             state="rejected"),
        Case(household_id=b.id, kind="intake", channel="sector", stage="done",
             state="approved", organisation="残联"),
    ])
    c = household(3, place=world.community_3, head_name="孙三", status="exited",
                  enrolled_on=date(YEAR - 1, 1, 1), exited_on=date(YEAR, 6, 30),
                  exit_route="death", members_count=1)
    db.session.add(Case(household_id=c.id, kind="intake", channel="departmental", stage="done",
                        state="approved"))
    db.session.commit()
    for month in (1, 2, 3):
        make_visit(a, helper, visited_at=utc(YEAR, month, 10, 2))
    make_visit(b, helper, visited_at=utc(YEAR, 3, 12, 2))
    make_visit(c, helper, visited_at=utc(YEAR, 3, 12, 2))
    make_visit(c, helper, visited_at=utc(YEAR, 3, 14, 2))
    return {"a": a, "b": b, "c": c, "helper": helper}


def workbook(response):
    assert response.status_code == 200, response.data[:500]
    return load_workbook(io.BytesIO(response.data))


def table(ws):
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header = rows[1]
    return header, [dict(zip(header, r, strict=True)) for r in rows[2:]]


def test_the_new_columns_with_their_sources(client, auth, make_user, files):
    auth.login(make_user("county_officer"))
    wb = workbook(client.get(f"/ledger/export.xlsx?year={YEAR}"))
    header, rows = table(wb.worksheets[0])
    data = by_name(rows[:-1])
    a, b, c = data["赵一"], data["钱二"], data["孙三"]
    assert a["家庭住址"] == "建设路1号院3单元"
    # Masked like everywhere else on the office pages: the first 3 and last 4 digits.
    assert a["联系电话"] == "139****5678"
    assert (a["家庭人口"], b["家庭人口"], c["家庭人口"]) == (3, 2, 1)
    assert a["认定渠道"] == "辖区筛选认定"
    # The approved intake case names the channel, not a rejected earlier one.
    assert b["认定渠道"] == "行业筛选认定" and c["认定渠道"] == "部门筛选认定"
    assert a["纳入时间"] == f"{YEAR - 1}-03-01"
    assert (a["退出时间"], a["退出方式"]) == (None, None)  # empty cells
    assert (c["状态"], c["退出时间"], c["退出方式"]) == ("已退出", f"{YEAR}-06-30", "死亡")
    # The household's own amount wins over the catalogue's; no amount given, none printed.
    assert a["帮扶措施"] == ("城乡最低生活保障金（民政）640元/月；电费补贴（民政）12.5元/月；"
                          "普通高中国家助学金（教育）2000元/生·年")
    # Only the monthly amounts add up to the month's assistance.
    assert a["月帮扶金额(元)"] == pytest.approx(652.5)
    assert b["月帮扶金额(元)"] is None


def test_totals_row_sums_households_members_visits_and_amounts(client, auth, make_user, files):
    auth.login(make_user("county_officer"))
    ws = workbook(client.get(f"/ledger/export.xlsx?year={YEAR}")).worksheets[0]
    header, rows = table(ws)
    totals = rows[-1]
    assert totals["序号"] == "合计"
    assert totals["户主姓名"] == 3  # households (shown as "3户")
    assert ws.cell(row=ws.max_row, column=header.index("户主姓名") + 1).number_format == '0"户"'
    assert totals["家庭人口"] == 6
    assert totals["月帮扶金额(元)"] == pytest.approx(652.5)
    # Jan: A 1; Feb: A 1; Mar: A 1, B 1, C 2; the rest nothing.
    assert [totals[m] for m in MONTHS] == [1, 1, 4] + [0] * 9
    assert all(isinstance(totals[m], int) for m in MONTHS)


def test_autofilter_a4_landscape_print_titles_fit_to_width(client, auth, make_user, files):
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/export.xlsx?year={YEAR}")
    wb = workbook(response)
    ws, members = wb.worksheets
    assert [w.title for w in wb.worksheets] == ["台账", "成员"]
    # The filter spans the header and the households, not the totals row below them.
    assert ws.auto_filter.ref == "A2:AH5"
    assert ws.cell(row=6, column=1).value == "合计"
    assert ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == int(ws.PAPERSIZE_A4)
    assert ws.sheet_properties.pageSetUpPr.fitToPage is True
    assert (int(ws.page_setup.fitToWidth), int(ws.page_setup.fitToHeight)) == (1, 0)
    assert ws.print_title_rows == "$1:$2"  # the title and header rows on every page
    assert ws.freeze_panes == "G3"
    assert members.auto_filter.ref == "A2:M7"  # five current members
    assert members.print_title_rows == "$1:$2"
    assert members.page_setup.orientation == "landscape"
    # Excel's own name for each filter range (_FilterDatabase) ends on the same rows.
    with zipfile.ZipFile(io.BytesIO(response.data)) as package:
        book = package.read("xl/workbook.xml").decode()
    assert "'台账'!$A$2:$AH$5" in book and "'成员'!$A$2:$M$7" in book


def test_members_sheet_lists_every_current_member(client, auth, make_user, files):
    auth.login(make_user("county_officer"))
    wb = workbook(client.get(f"/ledger/export.xlsx?year={YEAR}&full_ids=1"))
    header, rows = table(wb["成员"])
    assert header == ["序号", "社区(村)", "档案编号", "户主姓名", "成员姓名", "与户主关系",
                      "身份证号", "性别", "年龄", "患病情况", "残疾情况", "就学情况", "就业情况"]
    assert [r["成员姓名"] for r in rows] == ["赵一", "赵小一", "钱某", "钱二", "孙三"]
    son = rows[1]
    assert son["档案编号"] == files["a"].file_no and son["户主姓名"] == "赵一"
    assert son["与户主关系"] == "子女" and son["性别"] == "男"
    # Masked even in a file with full IDs: the members sheet never holds full numbers.
    assert son["身份证号"] != ident(11, date(2008, 5, 1)) and "*" in son["身份证号"]
    end = date(YEAR, 12, 31)
    assert son["年龄"] == end.year - 2008 - ((end.month, end.day) < (5, 1))
    assert (son["患病情况"], son["就学情况"]) == ("慢性病", "普通高中")
    spouse = rows[2]
    assert (spouse["残疾情况"], spouse["就业情况"]) == ("肢体残疾2级", "失业（有就业意愿）")
    assert rows[4]["社区(村)"] == "民主社区"


def test_full_ids_also_reveal_the_phone_and_are_audited(client, auth, make_user, files, db):
    auth.login(make_user("county_officer"))
    wb = workbook(client.get(f"/ledger/export.xlsx?year={YEAR}&full_ids=1"))
    _header, rows = table(wb.worksheets[0])
    a = by_name(rows[:-1])["赵一"]
    assert (a["身份证号"], a["联系电话"]) == (ident(1), "13912345678")
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ledger.export"))
    assert event.detail["full_id_numbers"] == 3 and event.detail["full_phone_numbers"] == 3


def test_csv_has_the_new_columns_and_no_totals(client, auth, make_user, files):
    auth.login(make_user("county_officer"))
    header, rows = read_csv(client.get(f"/ledger/export.csv?year={YEAR}"))
    assert [r["户主姓名"] for r in rows] == ["赵一", "钱二", "孙三"]
    for column in ("家庭住址", "联系电话", "认定渠道", "纳入时间", "退出时间", "退出方式",
                   "月帮扶金额(元)"):
        assert column in header
    a = by_name(rows)["赵一"]
    assert (a["联系电话"], a["月帮扶金额(元)"], a["认定渠道"]) == ("139****5678", "652.50",
                                                                 "辖区筛选认定")


# ---------------------------------------------------------------- the on-screen ledger


def test_screen_lists_the_scope_with_the_month_and_links(client, auth, make_user, files):
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/?year={YEAR}&month=3")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "共 3 户" in page
    assert f'href="/households/{files["a"].id}"' in page
    assert "已走访 1 次" in page and "已走访 2 次" in page
    # The export buttons carry the filters.
    assert 'name="month" value="3"' in page and f'name="year" value="{YEAR}"' in page


def test_screen_answers_htmx_with_the_partial(client, auth, make_user, files):
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/?year={YEAR}", headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert 'id="ledger"' in page and "<html" not in page
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize(("query", "names"), [
    ("place={community_3}", {"孙三"}),
    ("place={street}", {"赵一", "钱二"}),
    ("category=edge", {"钱二"}),
    ("status=exited", {"孙三"}),
    ("status=enrolled", {"赵一", "钱二"}),
    ("month=2&visit=due", {"赵一", "钱二", "孙三"}),
    ("month=2&visit=visited", {"赵一"}),
    ("month=2&visit=not_visited", {"钱二", "孙三"}),
    ("month=12&visit=due", {"赵一", "钱二"}),  # 孙三 exited in June
    ("q=钱", {"钱二"}),
    ("q=TEST", {"赵一", "钱二", "孙三"}),
    ("q={file_no}", {"钱二"}),
    ("q={id_number}", {"孙三"}),
    ("q={member_id}", {"赵一"}),  # a member's ID finds the household
    ("q=100%25", set()),  # LIKE wildcards are plain text
])
def test_filters_select_the_same_rows_on_screen_and_in_the_export(client, auth, make_user, world,
                                                                  files, query, names):
    auth.login(make_user("county_officer"))
    query = query.format(community_3=world.community_3.id, street=world.street.id,
                         file_no=files["b"].file_no, id_number=ident(3),
                         member_id=ident(11, date(2008, 5, 1)))
    page = client.get(f"/ledger/?year={YEAR}&{query}").get_data(as_text=True)
    assert f"共 {len(names)} 户" in page
    _header, rows = read_csv(client.get(f"/ledger/export.csv?year={YEAR}&{query}"))
    assert {r["户主姓名"] for r in rows} == names


def test_export_audit_names_the_filters_but_not_the_searched_number(client, auth, make_user,
                                                                    world, files, db):
    auth.login(make_user("county_officer"))
    workbook(client.get(f"/ledger/export.xlsx?year={YEAR}&place={world.street.id}"
                        f"&q={ident(1)}"))
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ledger.export"))
    assert event.detail["rows"] == 1
    assert event.detail["filters"]["place"] == world.street.code
    assert event.detail["filters"]["search"] is True
    assert ident(1) not in str(event.detail)


@pytest.mark.parametrize("query", ["place=abc", "place=999999", "place={county_b}",
                                   "category=bogus", "visit=bogus", "month=13", "month=0",
                                   "q=" + "长" * 41])
def test_bad_filters_answer_400_with_a_message(client, auth, make_user, world, query):
    auth.login(make_user("county_officer"))
    query = query.format(county_b=world.county_b.id)
    for url in ("/ledger/", "/ledger/export.xlsx", "/ledger/export.csv",
                f"/ledger/annex5/{world.community.id}"):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400, url
        assert "flash-error" in response.get_data(as_text=True)


def test_a_month_still_to_come_is_refused(client, auth, make_user):
    this = current_month()
    if this % 100 == 12:
        pytest.skip("December: no month of this year is still to come")
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/?year={this // 100}&month={this % 100 + 1}")
    assert response.status_code == 400
    assert "还没有到" in response.get_data(as_text=True)


def test_street_reviewer_cannot_pick_a_place_outside_the_street(client, auth, make_user, world):
    auth.login(make_user("street_reviewer", place=world.street))
    response = client.get(f"/ledger/?place={world.community_3.id}")
    assert response.status_code == 400
    page = client.get("/ledger/").get_data(as_text=True)
    assert "和平社区" in page and "民主社区" not in page


def test_screen_pages_of_fifty_in_a_fixed_number_of_queries(app, world, make_user,
                                                            make_household, db,
                                                            count_statements):
    helper = make_user("helper")
    officer = make_user("county_officer")
    for _i in range(SCREEN_PAGE_SIZE + 7):
        make_household(helper=helper, enrolled_on=date(YEAR, 1, 1))
    req = LedgerRequest(officer, YEAR, ("enrolled", "exited"), False)
    screen_page(req, 1)  # loads the officer's place once
    before = len(count_statements)
    first = screen_page(req, 1)
    assert (first.total, first.pages, len(first.rows)) == (SCREEN_PAGE_SIZE + 7, 2,
                                                           SCREEN_PAGE_SIZE)
    # The count, the page, its visits, its helpers and the place names.
    assert len(count_statements) - before <= 5
    second = screen_page(req, 2)
    assert [r.n for r in second.rows] == list(range(SCREEN_PAGE_SIZE + 1, SCREEN_PAGE_SIZE + 8))
    assert not {r.id for r in first.rows} & {r.id for r in second.rows}
    assert screen_page(req, 99).page == 2  # past the end: the last page


def test_members_sheet_is_paged_without_a_query_per_row(app, world, make_user, make_household,
                                                        db, count_statements):
    from fieldwork.supervision.ledger_rows import iter_members

    officer = make_user("county_officer")
    req = LedgerRequest(officer, YEAR, ("enrolled", "exited"), False)

    def add(n):
        for _i in range(n):
            hh = make_household(enrolled_on=date(YEAR, 1, 1))
            hh.members.extend([Member(name="甲", relation="self"), Member(name="乙",
                                                                          relation="child")])
        db.session.commit()

    def run():
        db.session.expire_all()
        before = len(count_statements)
        rows = list(iter_members(req))
        return rows, len(count_statements) - before

    add(4)
    rows_8, few = run()
    add(8)
    rows_24, more = run()
    assert (len(rows_8), len(rows_24)) == (8, 24)
    assert more == few


# ---------------------------------------------------------------- the printed 附件5


def test_annex5_prints_one_community_in_sheets_of_rows(client, auth, make_user, world, files,
                                                       make_household, db):
    from fieldwork.supervision.export import ROWS_PER_SHEET

    for _i in range(ROWS_PER_SHEET + 1):
        make_household(enrolled_on=date(YEAR, 1, 1))
    auth.login(make_user("county_officer"))
    listing = client.get(f"/ledger/?place={world.community.id}&year={YEAR}").get_data(
        as_text=True)
    assert f"/ledger/annex5/{world.community.id}?year={YEAR}" in listing
    response = client.get(f"/ledger/annex5/{world.community.id}?year={YEAR}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "附件5" in page and "宛城区城镇困难职工居民信息台账" in page
    # 赵一, 钱二 and the nine added: eleven households of 和平社区 over two sheets.
    assert page.count('data-testid="annex5-sheet"') == 2
    assert page.count('data-testid="annex5-row"') == ROWS_PER_SHEET + 3
    assert "孙三" not in page
    assert "139****5678" in page and ident(1) not in page
    assert "城乡最低生活保障金（民政）640元/月" in page
    assert f"合计：{ROWS_PER_SHEET + 3} 户" in page
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ledger.export"))
    assert event.detail["format"] == "print" and event.detail["full_ids"] is False


def test_annex5_needs_a_community_in_scope(client, auth, make_user, world):
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/annex5/{world.street.id}")
    assert response.status_code == 400
    assert "请先选择一个社区(村)" in response.get_data(as_text=True)
    assert client.get(f"/ledger/annex5/{world.community_b.id}").status_code == 404
    assert client.get("/ledger/annex5/999999").status_code == 404


def test_sheet_rows_skip_empty_cells_and_clean_text():
    from fieldwork.supervision.ledger_xlsx import sheet_rows

    xml = b"".join(sheet_rows([["a\x01b", "", None, "x&<y>", " 前后 ", 3, Decimal("1.50"),
                                "\x02"]], 3, {5: 7})).decode()
    assert xml == ('<row r="3"><c r="A3" t="inlineStr"><is><t>ab</t></is></c>'
                   '<c r="D3" t="inlineStr"><is><t>x&amp;&lt;y&gt;</t></is></c>'
                   '<c r="E3" t="inlineStr"><is><t xml:space="preserve"> 前后 </t></is></c>'
                   '<c r="F3" s="7" t="n"><v>3</v></c><c r="G3" t="n"><v>1.50</v></c></row>')

"""The county ledger export: read back with openpyxl and csv, compared with the scope."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from fieldwork.audit.models import AuditEvent
from fieldwork.households.models import Assignment, Household, Measure, PlanMeasure
from fieldwork.privacy.idnumber import make_test_id_number
from fieldwork.privacy.service import protect_id
from fieldwork.timeutil import today_local
from tests.factories import utc

YEAR = today_local().year - 1  # a year that is over: every month has a number or a dash
MONTHS = [f"{m}月" for m in range(1, 13)]


def ident(n: int) -> str:
    return make_test_id_number("411302", date(1970, 1, 1 + n), 100 + n)


@pytest.fixture
def ledger(world, make_user, make_household, make_visit, db):
    """Households in three communities of two counties, with reassignments, rejected and
    superseded visits, a visit just after midnight on a month boundary (Asia/Shanghai), an
    exit and a late enrolment."""
    helper = make_user("helper", display_name="张红梅", phone="13837701234")
    helper_2 = make_user("helper", display_name="李四", phone="13900001111")
    helper_b = make_user("helper", place=world.street_b, display_name="王五", phone="1380000")
    measure = Measure(county_id=None, area="income", name="城乡最低生活保障金")
    measure_2 = Measure(county_id=None, area="medical", name="医疗救助")
    old = Measure(county_id=None, area="housing", name="公租房租赁补贴")
    db.session.add_all([measure, measure_2, old])
    db.session.commit()

    def household(place, helper_, n, **kw):
        pid = protect_id(ident(n))
        return make_household(place=place, helper=helper_, head_id_enc=pid.enc,
                              head_id_index=pid.index, head_id_mask=pid.mask,
                              assigned_on=kw.pop("assigned_on", date(YEAR - 1, 1, 1)), **kw)

    # A: enrolled long ago, visited most months; one rejected and one superseded visit.
    a = household(world.community, helper, 1, enrolled_on=date(YEAR - 1, 6, 1),
                  head_name="赵一", causes=["illness", "education"],
                  per_capita_income=Decimal("512.50"), members_count=4, category="edge")
    for month in range(1, 12):
        make_visit(a, helper, visited_at=utc(YEAR, month, 10, 2))
    make_visit(a, helper, visited_at=utc(YEAR, 3, 20, 2))  # two in March
    make_visit(a, helper, visited_at=utc(YEAR, 5, 20, 2), review_status="rejected",
               flags=["far_from_household"], flag_count=1)
    make_visit(a, helper, visited_at=utc(YEAR, 6, 20, 2), superseded=True)
    # 16:30 UTC on 31 March is 00:30 on 1 April in Nanyang: an April visit.
    make_visit(a, helper, visited_at=utc(YEAR, 3, 31, 16, 30))
    db.session.add_all([
        PlanMeasure(household_id=a.id, measure_id=measure.id, start_date=date(YEAR - 1, 6, 1)),
        PlanMeasure(household_id=a.id, measure_id=measure_2.id, start_date=date(YEAR, 2, 1)),
        PlanMeasure(household_id=a.id, measure_id=old.id, start_date=date(YEAR - 1, 6, 1),
                    end_date=date(YEAR - 1, 12, 31)),
    ])
    # B: enrolled in April, exited at the end of September; reassigned in July.
    b = household(world.community_3, helper, 2, enrolled_on=date(YEAR, 4, 15),
                  exited_on=date(YEAR, 9, 30), status="exited", head_name="钱二",
                  assigned_on=date(YEAR, 4, 15))
    first = db.session.scalar(sa.select(Assignment).where(Assignment.household_id == b.id))
    first.end_date = date(YEAR, 6, 30)
    db.session.add(Assignment(household_id=b.id, helper_id=helper_2.id,
                              start_date=date(YEAR, 7, 1), end_date=date(YEAR, 9, 30)))
    db.session.commit()
    make_visit(b, helper, visited_at=utc(YEAR, 5, 3, 3))
    make_visit(b, helper_2, visited_at=utc(YEAR, 8, 3, 3))
    # C: still under review: in the ledger only when every status is asked for.
    c = household(world.community_2, None, 3, status="reviewing", head_name="孙三")
    # D: the other county.
    d = household(world.community_b, helper_b, 4, enrolled_on=date(YEAR - 1, 1, 1),
                  head_name="李四户")
    make_visit(d, helper_b, visited_at=utc(YEAR, 1, 5, 3))
    return {"a": a, "b": b, "c": c, "d": d, "helper": helper, "helper_2": helper_2}


def read_xlsx(response):
    assert response.status_code == 200, response.data[:500]
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    header_at = next(i for i, r in enumerate(rows) if r and r[0] == "序号")
    header = rows[header_at]
    assert rows[-1][0] == "合计"  # the totals row closes the sheet
    data = [dict(zip(header, r, strict=True)) for r in rows[header_at + 1:-1]]
    return ws, header_at, header, data


def read_csv(response):
    assert response.status_code == 200, response.data[:500]
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    reader = csv.reader(io.StringIO(text[1:]))
    header = next(reader)
    return header, [dict(zip(header, r, strict=True)) for r in reader]


def by_name(data):
    return {r["户主姓名"]: r for r in data}


def expected_names(db, clause, statuses=("enrolled", "exited")):
    query = sa.select(Household.head_name).where(clause)
    if statuses:
        query = query.where(Household.status.in_(statuses))
    return set(db.session.scalars(query))


def test_county_officer_xlsx_matches_the_county(client, auth, make_user, world, ledger, db):
    officer = make_user("county_officer")
    auth.login(officer)
    response = client.get(f"/ledger/export.xlsx?year={YEAR}")
    ws, header_at, header, data = read_xlsx(response)

    assert set(by_name(data)) == expected_names(db, Household.county_id == world.county.id)
    assert set(by_name(data)) == {"赵一", "钱二"}
    assert header[-12:] == MONTHS
    assert header[:7] == ["序号", "县(市、区)", "街道(乡镇)", "社区(村)", "档案编号", "户主姓名",
                          "身份证号"]
    # The header row is frozen: the pane starts on the row below it.
    assert ws.freeze_panes is not None
    assert int("".join(ch for ch in ws.freeze_panes if ch.isdigit())) == header_at + 2
    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in disposition
    assert unquote(disposition.split("UTF-8''")[1]) == f"宛城区台账-{YEAR}.xlsx"

    a = by_name(data)["赵一"]
    assert (a["县(市、区)"], a["街道(乡镇)"], a["社区(村)"]) == ("宛城区", "东关街道", "和平社区")
    assert a["档案编号"] == ledger["a"].file_no
    assert a["身份证号"] == ledger["a"].head.id_mask and "*" in a["身份证号"]
    assert a["家庭人口"] == 4
    assert a["困难类别"] == "略高于城镇低保线致困"
    assert a["致困原因"] == "重大疾病、子女教育"
    assert a["人均月收入(元)"] == pytest.approx(512.5)
    # Measures in force at the end of the year; the one that ended before is gone.
    assert a["帮扶措施"] == "城乡最低生活保障金；医疗救助"
    assert (a["帮扶责任人"], a["帮扶责任人电话"]) == ("张红梅", "13837701234")
    assert a["状态"] == "帮扶中"
    # Jan 1, Feb 1, Mar 2 (the 31 March 16:30 UTC visit is April's), Apr 2, May 1 (one
    # rejected), Jun 1 (one superseded), Jul–Nov 1, Dec 0.
    assert [a[m] for m in MONTHS] == [1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0]

    b = by_name(data)["钱二"]
    assert b["状态"] == "已退出"
    assert b["社区(村)"] == "民主社区" and b["街道(乡镇)"] == "新华街道"
    # Enrolled 15 April, exited 30 September: dashes outside; the exited household shows its
    # last helper.
    assert [b[m] for m in MONTHS] == ["—", "—", "—", 0, 1, 0, 0, 1, 0, "—", "—", "—"]
    assert b["帮扶责任人"] == "李四"
    assert [r["序号"] for r in data] == list(range(1, len(data) + 1))


def test_xlsx_reads_back_in_read_only_mode_with_types_and_formats(client, auth, make_user,
                                                                  make_household, world, db):
    make_household(enrolled_on=date(YEAR, 1, 1), head_name=" 赵<&>\"一 ",
                   per_capita_income=Decimal("630"), file_no="F-1")
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/export.xlsx?year={YEAR}")
    full = load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert full["N3"].number_format == "0.00" and full["N3"].value == 630
    assert full["A2"].font.bold
    assert full.column_dimensions["P"].width == 44
    streamed = load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
    rows = [list(r) for r in streamed.iter_rows(values_only=True)]
    assert rows[0][0] == f"县(市、区)城镇困难职工居民信息台账（宛城区，{YEAR}年）"
    assert rows[1][0] == "序号" and len(rows) == 4  # title, header, one household, totals
    assert rows[2][:6] == [1, "宛城区", "东关街道", "和平社区", "F-1", " 赵<&>\"一 "]
    assert rows[2][-12:] == [0] * 12
    assert rows[3][0] == "合计" and rows[3][-12:] == [0] * 12


def test_street_reviewer_csv_has_bom_and_only_the_street(client, auth, make_user, world,
                                                          ledger, db):
    reviewer = make_user("street_reviewer", place=world.street)
    auth.login(reviewer)
    response = client.get(f"/ledger/export.csv?year={YEAR}")
    assert response.mimetype == "text/csv"
    header, data = read_csv(response)
    assert set(by_name(data)) == expected_names(db, Household.street_id == world.street.id)
    assert set(by_name(data)) == {"赵一"}
    row = by_name(data)["赵一"]
    assert [row[m] for m in MONTHS] == ["1", "1", "2", "2", "1", "1", "1", "1", "1", "1", "1",
                                        "0"]
    assert row["人均月收入(元)"] == "512.50"
    assert header[-12:] == MONTHS
    assert unquote(response.headers["Content-Disposition"].split("UTF-8''")[1]) == \
        f"东关街道台账-{YEAR}.csv"


def test_city_supervisor_sees_every_county_and_all_statuses_on_request(client, auth, make_user,
                                                                        ledger, db):
    auth.login(make_user("city_supervisor"))
    _ws, _h, _header, data = read_xlsx(client.get(f"/ledger/export.xlsx?year={YEAR}"))
    assert set(by_name(data)) == expected_names(db, sa.true()) == {"赵一", "钱二", "李四户"}
    assert by_name(data)["李四户"]["县(市、区)"] == "卧龙区"

    _header, rows = read_csv(client.get(f"/ledger/export.csv?year={YEAR}&status=all"))
    assert set(by_name(rows)) == expected_names(db, sa.true(), None)
    c = by_name(rows)["孙三"]
    assert c["状态"] == "审核中"
    assert [c[m] for m in MONTHS] == ["—"] * 12
    assert c["帮扶责任人"] == ""


def test_current_year_leaves_months_to_come_blank(client, auth, make_user, make_household,
                                                  world):
    this = today_local()
    make_household(enrolled_on=date(this.year, 1, 1), head_name="周五")
    auth.login(make_user("county_officer"))
    _ws, _h, _header, data = read_xlsx(client.get("/ledger/export.xlsx"))
    row = by_name(data)["周五"]
    cells = [row[m] for m in MONTHS]
    assert cells[: this.month] == [0] * this.month
    assert cells[this.month:] == [None] * (12 - this.month)


def test_full_ids_only_for_county_officers_who_ask_and_audited(client, auth, make_user, world,
                                                                ledger, db):
    officer = make_user("county_officer")
    auth.login(officer)
    _ws, _h, _header, masked = read_xlsx(client.get(f"/ledger/export.xlsx?year={YEAR}"))
    assert by_name(masked)["赵一"]["身份证号"] != ident(1)

    response = client.get(f"/ledger/export.xlsx?year={YEAR}&full_ids=1")
    _ws, _h, _header, full = read_xlsx(response)
    assert by_name(full)["赵一"]["身份证号"] == ident(1)
    assert by_name(full)["钱二"]["身份证号"] == ident(2)
    assert "含身份证号" in unquote(response.headers["Content-Disposition"])

    events = list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "ledger.export")
        .order_by(AuditEvent.id)))
    assert len(events) == 2
    first, second = events
    assert first.user_id == officer.id and first.place_id == world.county.id
    assert first.detail["full_ids"] is False and "full_id_numbers" not in first.detail
    assert (first.detail["format"], first.detail["year"], first.detail["rows"]) == \
        ("xlsx", YEAR, 2)
    assert second.detail["full_ids"] is True and second.detail["full_id_numbers"] == 2

    auth.logout()
    auth.login(make_user("street_reviewer"))
    assert client.get(f"/ledger/export.xlsx?year={YEAR}&full_ids=1").status_code == 403
    assert client.get(f"/ledger/export.csv?year={YEAR}&full_ids=1").status_code == 403
    page = client.get("/ledger/").get_data(as_text=True)
    assert "含完整身份证号" not in page


def test_csv_export_is_audited_with_its_row_count(client, auth, make_user, ledger, db):
    auth.login(make_user("city_supervisor"))
    read_csv(client.get(f"/ledger/export.csv?year={YEAR}&status=all"))
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "ledger.export"))
    assert event.detail["format"] == "csv"
    assert event.detail["rows"] == 4
    assert event.detail["statuses"] == "all"


@pytest.mark.parametrize("role", ["helper", "community_worker", "department_reviewer", "admin"])
def test_other_roles_get_404(client, auth, make_user, world, role):
    place = world.county if role == "department_reviewer" else None
    auth.login(make_user(role, place=place))
    for url in ("/ledger/", f"/ledger/export.xlsx?year={YEAR}", f"/ledger/export.csv?year={YEAR}"):
        assert client.get(url).status_code == 404


def test_page_offers_years_and_formats(client, auth, make_user):
    auth.login(make_user("county_officer"))
    page = client.get("/ledger/").get_data(as_text=True)
    assert "县(市、区)城镇困难职工居民信息台账" in page
    assert f'value="{YEAR}"' in page
    assert "含完整身份证号" in page
    assert "/ledger/export.csv" in page and "/ledger/export.xlsx" in page


@pytest.mark.parametrize("query", ["year=abc", "year=1999", "year=3000", "status=bogus"])
def test_bad_parameters_answer_400_with_a_message(client, auth, make_user, query):
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/export.xlsx?{query}")
    assert response.status_code == 400
    assert "flash-error" in response.get_data(as_text=True)


def test_pages_of_rows_are_keyset_paginated_without_a_query_per_row(app, world, make_user,
                                                                    make_household, db):
    from fieldwork.supervision.ledger_rows import LedgerRequest, iter_rows

    helper = make_user("helper")
    officer = make_user("county_officer")
    req = LedgerRequest(officer, YEAR, ("enrolled", "exited"), False)

    def add(n):
        for place in (world.community_3, world.community, world.community_2) * n:
            make_household(place=place, helper=helper, enrolled_on=date(YEAR, 1, 1))

    def run(**kw):
        statements: list[str] = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        db.session.expire_all()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            rows = list(iter_rows(req, **kw))
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        return rows, len(statements)

    add(5)
    whole, queries_15 = run()
    add(5)
    whole_30, queries_30 = run()
    # The same queries for 15 rows as for 30: nothing is fetched row by row.
    assert len(whole) == 15 and len(whole_30) == 30
    assert queries_30 == queries_15 <= 4 + 5
    # Pages smaller than a community (walked by id) or holding several give the same rows.
    for size in (4, 11, 25):
        paged, _queries = run(page_size=size)
        assert [r[1:] for r in paged] == [r[1:] for r in whole_30]
    # Ordered by community code: 和平社区 (…001001), 幸福社区 (…001002), 民主社区 (…002001).
    assert [r[3] for r in whole_30] == ["和平社区"] * 10 + ["幸福社区"] * 10 + ["民主社区"] * 10
    assert [r[0] for r in whole_30] == list(range(1, 31))


def test_an_exit_on_the_first_of_a_month_leaves_that_month_without_duty(
        client, auth, make_user, world, make_household, make_visit, db):
    """The compliance due rule (docs/exit.md): a household that exited on the 1st is not due
    that month, one that exited on the 2nd is; the matrix shows "—" where nothing was due."""
    helper = make_user("helper")
    for n, day in ((28, 1), (29, 2)):
        pid = protect_id(ident(n))
        make_household(place=world.community, helper=helper, head_id_enc=pid.enc,
                       head_id_index=pid.index, head_id_mask=pid.mask,
                       assigned_on=date(YEAR - 1, 1, 1), enrolled_on=date(YEAR - 1, 1, 1),
                       exited_on=date(YEAR, 3, day), status="exited", head_name=f"退出{day}日")
    auth.login(make_user("county_officer"))
    _ws, _at, _header, data = read_xlsx(client.get(f"/ledger/export.xlsx?year={YEAR}"))
    rows = by_name(data)
    assert [rows["退出1日"][m] for m in MONTHS[:4]] == [0, 0, "—", "—"]
    assert [rows["退出2日"][m] for m in MONTHS[:4]] == [0, 0, 0, "—"]

"""CSV/formula injection (audit issue 11, finding 2): text that a spreadsheet would run as a
formula leaves the app as inert text, in the CSV ledger and in the XLSX ledger, and every CSV
writer of the app goes through fieldwork.csvsafe."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from fieldwork.csvsafe import cell
from fieldwork.households.models import Measure, PlanMeasure
from fieldwork.timeutil import today_local

YEAR = today_local().year - 1
ROOT = Path(__file__).resolve().parents[2]

HOSTILE = {
    "户主姓名": '=HYPERLINK("http://x","点我")',
    "档案编号": "=cmd|' /C calc'!A0",
    "帮扶责任人": "+1+cmd|' /C calc'!A0",
    "帮扶措施": "@SUM(1+1)*cmd|' /C calc'!A0",
    "帮扶责任人电话": "-1+cmd|'/C calc'!A0",
}


@pytest.fixture
def hostile(world, make_user, make_household, db):
    helper = make_user("helper", display_name=HOSTILE["帮扶责任人"],
                       phone=HOSTILE["帮扶责任人电话"])
    hh = make_household(helper=helper, head_name=HOSTILE["户主姓名"],
                        file_no=HOSTILE["档案编号"], enrolled_on=date(YEAR, 1, 1),
                        per_capita_income=Decimal("-5"), assigned_on=date(YEAR, 1, 1))
    measure = Measure(county_id=None, area="income", name=HOSTILE["帮扶措施"])
    db.session.add(measure)
    db.session.flush()
    db.session.add(PlanMeasure(household_id=hh.id, measure_id=measure.id,
                               start_date=date(YEAR, 1, 1)))
    db.session.commit()
    return hh


def test_the_csv_ledger_neutralises_formulas_and_keeps_numbers(client, auth, make_user,
                                                              hostile):
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/export.csv?year={YEAR}")
    assert response.status_code == 200
    text = response.data.decode("utf-8").removeprefix("\ufeff")
    header, row = list(csv.reader(io.StringIO(text)))
    record = dict(zip(header, row, strict=True))
    for column, value in HOSTILE.items():
        assert record[column] == "'" + value, column
    # A number the app writes stays a number, negative or not.
    assert record["人均月收入(元)"] == "-5.00"
    assert record["序号"] == "1"
    for column, value in record.items():
        if column != "人均月收入(元)":
            assert value[:1] not in "=+-@\t\r" or value == "", (column, value)


def test_the_xlsx_ledger_holds_formulas_as_plain_text(client, auth, make_user, hostile):
    auth.login(make_user("county_officer"))
    response = client.get(f"/ledger/export.xlsx?year={YEAR}")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as package:
        sheets = [n for n in package.namelist() if n.startswith("xl/worksheets/")]
        for name in sheets:
            assert not re.search(rb"<f[ >]", package.read(name)), name
    ws = load_workbook(io.BytesIO(response.data)).worksheets[0]
    header = [c.value for c in ws[2]]
    cells = dict(zip(header, ws[3], strict=False))
    for column, value in HOSTILE.items():
        assert cells[column].data_type == "s", column
        assert cells[column].value == value, column  # shown exactly as typed
    assert cells["人均月收入(元)"].value == -5


@pytest.mark.parametrize("value", [
    "=1+1", "+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1", " =1+1", "\u3000=1+1",
    "＝1+1", "＋1", "－1", "＠SUM(A1)", "-5",
])
def test_text_that_starts_like_a_formula_is_quoted(value):
    assert cell(value) == "'" + value


@pytest.mark.parametrize("value", [-5, 0, 3.5, Decimal("-12.50"), 7])
def test_numbers_the_app_writes_stay_numbers(value):
    assert cell(value) == value


@pytest.mark.parametrize("value, expected", [
    ("赵一", "赵一"), ("", ""), (None, ""), ("a=b", "a=b"), ("—", "—"), ("O'Neil", "O'Neil"),
])
def test_ordinary_text_is_unchanged(value, expected):
    assert cell(value) == expected


def test_every_csv_writer_of_the_app_is_the_safe_one():
    """A new export written with csv.writer directly would reopen the hole: only
    fieldwork/csvsafe.py may call it."""
    offenders = []
    for package in ("fieldwork", "offline_sync"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "csvsafe.py":
                continue
            source = path.read_text(encoding="utf-8")
            if re.search(r"\bcsv\s*\.\s*(writer|DictWriter)\b|from\s+csv\s+import", source):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []

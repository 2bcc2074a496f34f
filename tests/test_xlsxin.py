"""The XLSX reader: hostile files refused before parsing, headers matched loosely, cell values
as text, formulas reported never evaluated, row limit; the template's validations."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from fieldwork.xlsxin import (
    Column,
    XlsxRefused,
    is_scientific,
    normalise_header,
    open_xlsx,
    read_sheet,
    template,
)

LIMITS = {"max_bytes": 5 * 1024 * 1024, "max_unzipped": 50 * 1024 * 1024}
COLUMNS = [
    Column("id", "身份证号", required=True),
    Column("name", "姓名", aliases=("名字",), required=True),
    Column("kind", "类别", choices=("低保", "特困")),
]


def _book(rows: list[list[object]], title: str = "家庭") -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _refused(data: bytes, **limits: int) -> str:
    with pytest.raises(XlsxRefused) as caught:
        open_xlsx(data, **{**LIMITS, **limits})
    return caught.value.message


def test_normalise_header() -> None:
    assert normalise_header(" 户主 身份证号\u3000") == "户主身份证号"
    assert normalise_header("ＧＣＪ－０２（坐标系）") == "GCJ-02(坐标系)"


def test_rows_headers_and_values(app) -> None:
    data = _book([
        [None],
        [" 身份证号 ", "名 字", "备注"],
        [4.11302198001012e17, "  张三 ", None],
        [],
        ["411302198001011234", 3.0, None],
        [12, dt.datetime(2024, 1, 2, 10, 0), "x"],
    ])
    with app.test_request_context():
        sheet = read_sheet(open_xlsx(data, **LIMITS), "家庭", COLUMNS, max_rows=10)
    assert sheet.header_row == 2
    assert sheet.extra == ["备注"]
    assert sheet.missing == []
    assert sheet.rows == [
        (3, {"id": "4.11302198001012E+17", "name": "张三", "kind": ""}),
        (5, {"id": "411302198001011234", "name": "3", "kind": ""}),
        (6, {"id": "12", "name": "2024-01-02", "kind": ""}),
    ]
    assert is_scientific(sheet.rows[0][1]["id"])
    assert not is_scientific(sheet.rows[1][1]["id"])


def test_missing_header_and_formula(app) -> None:
    data = _book([["身份证号", "类别"], ["=1+1", "低保"], ["1", "=HYPERLINK(\"x\")"]])
    with app.test_request_context():
        sheet = read_sheet(open_xlsx(data, **LIMITS), "家庭", COLUMNS, max_rows=10)
    assert sheet.missing == ["姓名"]
    assert sheet.formulas == ["A2", "B3"]
    assert sheet.rows[0][1]["id"] == "=1+1"  # kept as text, never evaluated


def test_absent_sheet_and_too_many_rows(app) -> None:
    data = _book([["身份证号", "姓名"]] + [[str(i), "x"] for i in range(6)])
    with app.test_request_context():
        wb = open_xlsx(data, **LIMITS)
        with pytest.raises(XlsxRefused) as caught:
            read_sheet(wb, "成员", COLUMNS, max_rows=10)
        assert "成员" in caught.value.message
        assert len(read_sheet(wb, "家庭", COLUMNS, max_rows=6).rows) == 6
        with pytest.raises(XlsxRefused) as caught:
            read_sheet(wb, "家庭", COLUMNS, max_rows=5)
        assert "超过 5 行" in caught.value.message


def test_hostile_files(app) -> None:
    with app.test_request_context():
        assert ".xlsx" in _refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
        assert ".xlsx" in _refused("身份证号,姓名\n1,2\n".encode())
        assert ".xlsx" in _refused(b"")
        assert ".xlsx" in _refused(b"PK\x03\x04 not really a zip")
        # a zip that is not a workbook
        plain = io.BytesIO()
        with zipfile.ZipFile(plain, "w") as z:
            z.writestr("a.txt", "hello")
        assert "不是 Excel" in _refused(plain.getvalue())
        # over the size limit
        assert "太大" in _refused(_book([["a"]]), max_bytes=100)
        # a zip bomb: a valid workbook plus a huge, highly compressible member
        good = _book([["身份证号", "姓名"], ["1", "2"]])
        bomb = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good)) as src, \
                zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info, src.read(info))
            dst.writestr("xl/media/pad.bin", b"\0" * (20 * 1024 * 1024))
        assert "压缩炸弹" in _refused(bomb.getvalue())
        # unzipped total over the limit (without a suspicious ratio)
        assert "解压后过大" in _refused(good, max_unzipped=1000)
        # a zip with the right names but garbage inside
        broken = io.BytesIO()
        with zipfile.ZipFile(broken, "w") as z:
            z.writestr("[Content_Types].xml", "<nope")
            z.writestr("xl/workbook.xml", "<nope")
        assert "无法读取" in _refused(broken.getvalue())


def test_template(app) -> None:
    with app.test_request_context():
        data = template([("家庭", COLUMNS), ("成员", COLUMNS[:2])], ["填表说明", "第二行"])
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["家庭", "成员", "说明", "选项"]
    ws = wb["家庭"]
    assert [c.value for c in ws[1]] == ["身份证号", "姓名", "类别"]
    assert ws["A1"].font.b and ws.freeze_panes == "A2"
    validations = ws.data_validations.dataValidation
    assert len(validations) == 1 and "C2" in str(validations[0].sqref)
    assert wb["选项"].sheet_state == "hidden"
    assert [c.value for c in wb["选项"]["A"]] == ["类别", "低保", "特困"]
    assert wb["说明"]["A1"].value == "填表说明"
    # the template reads back with no missing header and no rows
    with app.test_request_context():
        sheet = read_sheet(open_xlsx(data, **LIMITS), "家庭", COLUMNS, max_rows=10)
    assert sheet.missing == [] and sheet.rows == [] and sheet.extra == []


def test_entity_expansion_bomb_refused(app) -> None:
    import pyexpat

    assert tuple(int(x) for x in pyexpat.EXPAT_VERSION.split("_")[1].split(".")) >= (2, 4, 0)
    good = _book([["身份证号", "姓名"], ["1", "2"]])
    def entity(i: int) -> str:
        inner = (f"&lol{i - 1};" if i else "&lol;") * 10
        return f'<!ENTITY lol{i} "{inner}">'

    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(entity(i) for i in range(10))
              + ']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
              '<si><t>&lol9;</t></si></sst>')
    bomb = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            if info.filename != "xl/sharedStrings.xml":
                dst.writestr(info, src.read(info))
        dst.writestr("xl/sharedStrings.xml", laughs)
    with app.test_request_context():
        with pytest.raises(XlsxRefused):
            open_xlsx(bomb.getvalue(), **LIMITS)

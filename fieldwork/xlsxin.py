"""Reading uploaded XLSX workbooks safely, and writing the templates users fill in.

Core layer: nothing of the project is imported here. Used by the household import
(households/imports) and the staff-account import (账号 sheet).

- ``open_xlsx`` refuses anything that is not a genuine, reasonably sized XLSX *before*
  anything parses it: size, zip structure, declared unzipped size, compression ratio (zip
  bombs). It then opens it with a streaming reader (StreamWorkbook below; openpyxl's
  read-only mode was too slow for 2 million cells), as openpyxl would with
  ``read_only=True, data_only=False``: formulas are seen as formulas and never evaluated (nor
  their cached results trusted).
- ``read_sheet`` streams one sheet: the first non-blank row is the header row, matched to
  ``Column``s after ``normalise_header`` (NFKC: full-width → half-width, all spaces removed);
  every data row becomes ``(excel row number, {key: cell text})`` with every column key
  present ("" when empty or when the column is absent); fully blank rows are skipped.
- ``template`` builds a workbook with one sheet per ``(name, columns)``, bold frozen header,
  text-formatted columns, drop-downs from ``Column.choices`` and an instruction sheet 说明.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

# Members of an XLSX package that must be present.
REQUIRED_PARTS = ("[Content_Types].xml", "xl/workbook.xml")
# A member that inflates more than this many times is a zip bomb (real sheets: 5-30 times).
MAX_RATIO = 100
# Below this unzipped size a member cannot be a bomb whatever its ratio (tiny XML parts of
# repeated tags may compress very well); the total is capped by max_unzipped anyway.
RATIO_FLOOR = 1024 * 1024
INSTRUCTION_SHEET = "说明"
CHOICES_SHEET = "选项"
# Rows of the template given a drop-down and text format.
TEMPLATE_ROWS = 100000
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls and password-protected .xlsx
_SPACES = re.compile(r"\s+")
# A number Excel shows in scientific notation: an ID number typed as a number.
SCIENTIFIC = re.compile(r"^-?\d+(\.\d+)?[eE][+-]?\d+$")


class XlsxRefused(Exception):
    """The whole file is refused; ``message`` is a Chinese sentence for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalise_header(text: str) -> str:
    """NFKC (full-width letters, digits, brackets → half-width), every space removed."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", str(text or "")))


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    # Template extras.
    choices: tuple[str, ...] = ()
    width: int = 14
    note: str = ""


@dataclass
class SheetRows:
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # headers of required columns not found
    extra: list[str] = field(default_factory=list)  # headers present but unknown (ignored)
    formulas: list[str] = field(default_factory=list)  # coordinates of formula cells ("B7")
    header_row: int = 1
    present: list[str] = field(default_factory=list)  # keys of the columns found


def _accepted() -> str:
    return _("请上传 Excel 工作簿（.xlsx 格式）。")


def configured_limits() -> dict[str, int]:
    """open_xlsx's limits as the running app sets them (IMPORT_MAX_BYTES,
    IMPORT_MAX_UNZIPPED): the same for every import."""
    cfg = current_app.config
    return {"max_bytes": cfg["IMPORT_MAX_BYTES"], "max_unzipped": cfg["IMPORT_MAX_UNZIPPED"]}


def open_xlsx(data: bytes, *, max_bytes: int, max_unzipped: int) -> Any:
    """The workbook (openpyxl, read-only, formulas not evaluated) or XlsxRefused.

    The caller should ``close()`` the workbook when done (read-only keeps the zip open)."""
    if not data:
        raise XlsxRefused(_("文件是空的。") + _accepted())
    if len(data) > max_bytes:
        raise XlsxRefused(
            _("文件太大（%(size)s MB），上限为 %(limit)s MB。",
              size=f"{len(data) / 1048576:.1f}", limit=f"{max_bytes / 1048576:.0f}"))
    if data.startswith(OLE_MAGIC):
        raise XlsxRefused(
            _("这是旧版 Excel（.xls）文件或加密的工作簿，无法读取。请在 Excel 中“另存为”"
              "Excel 工作簿（.xlsx），去掉密码后再上传。"))
    buffer = io.BytesIO(data)
    if not zipfile.is_zipfile(buffer):
        raise XlsxRefused(
            _("不是 Excel（.xlsx）文件（CSV、文本或其他格式不能导入）。") + _accepted())
    try:
        with zipfile.ZipFile(buffer) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise XlsxRefused(_("文件已损坏，无法打开。") + _accepted()) from None
    names = {info.filename for info in infos}
    if not all(part in names for part in REQUIRED_PARTS):
        raise XlsxRefused(_("不是 Excel（.xlsx）文件（压缩包中没有工作簿）。") + _accepted())
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise XlsxRefused(_("文件内容异常（压缩比过高，疑似“压缩炸弹”），已拒绝。"))
    if total > max_unzipped:
        raise XlsxRefused(
            _("文件解压后过大（%(size)s MB），上限为 %(limit)s MB。",
              size=f"{total / 1048576:.0f}", limit=f"{max_unzipped / 1048576:.0f}"))
    try:
        return StreamWorkbook(buffer)
    except Exception:  # a broken package raises many kinds of error: never a 500
        raise XlsxRefused(
            _("文件已损坏或不是有效的 Excel 工作簿，无法读取。") + _accepted()) from None


# ---------------------------------------------------------------- the streaming reader
# openpyxl's read-only mode spends ~30 µs of Python per cell (and scans a whole sheet for its
# <dimension> when the writer put none): 2 million cells took over a minute. This reader parses
# the package itself with the C XML parser (iterparse, elements cleared as they pass): the
# sheet list and paths (workbook.xml + its rels), shared strings, the styles that are dates;
# then each sheet's rows on demand. Values come as openpyxl would give them with
# data_only=False: formulas as "=..." text (never evaluated, cached results ignored).
# XML attacks: ElementTree never fetches external entities, and the expat it is built on
# (≥ 2.4, checked in tests/test_xlsxin.py) refuses entity-expansion bombs ("billion laughs");
# the parts' unzipped sizes are capped before this runs (open_xlsx).

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_C, _V, _F, _IS, _T, _ROW, _SHEET_DATA = (
    f"{_NS}{t}" for t in ("c", "v", "f", "is", "t", "row", "sheetData"))
_LETTERS = re.compile(r"^([A-Z]+)(\d*)$")


def _column_index(letters: str) -> int:
    """0-based column of the letters of a cell reference ("B" of "B7")."""
    if not letters or not letters.isalpha() or not letters.isupper() or len(letters) > 3:
        raise ValueError(letters)
    col = 0
    for ch in letters:
        col = col * 26 + ord(ch) - 64
    return col - 1


class StreamSheet:
    def __init__(self, book: StreamWorkbook, title: str, path: str) -> None:
        self.parent = book
        self.title = title
        self.path = path

    def reset_dimensions(self) -> None:  # the openpyxl call iter_sheet makes; nothing to do
        return None

    def iter_rows(self, min_row: int = 1, values_only: bool = True) -> Iterator[tuple]:
        """Every row from 1 (blank rows as empty tuples), values only."""
        from xml.etree.ElementTree import iterparse

        book = self.parent
        shared, dates = book.shared_strings, book.date_styles
        cache: dict[str, int] = {}
        expected = 1
        values: dict[int, Any] = {}
        next_col = 0
        value = self._value
        with book.archive.open(self.path) as src:
            parent = None  # sheetData: its finished rows are removed, not just cleared
            for event, el in iterparse(src, events=("start", "end")):  # noqa: S314  (see _NS)
                tag = el.tag
                if event == "start":
                    if tag == _SHEET_DATA:
                        parent = el
                    continue
                if tag == _C:
                    ref = el.get("r")
                    if ref:
                        letters = ref.rstrip("0123456789")
                        col = cache.get(letters)
                        if col is None:
                            col = _column_index(letters)
                            cache[letters] = col
                    else:
                        col = next_col
                    next_col = col + 1
                    values[col] = value(el, shared, dates)
                    el.clear()
                elif tag == _ROW:
                    number = int(el.get("r") or expected)
                    while expected < number:  # rows the file leaves out
                        if expected >= min_row:
                            yield ()
                        expected += 1
                    row = [None] * (max(values) + 1 if values else 0)
                    for c, v in values.items():
                        row[c] = v
                    if number >= min_row:
                        yield tuple(row)
                    expected = number + 1
                    values = {}
                    next_col = 0
                    el.clear()
                    if parent is not None:
                        parent.remove(el)

    def _value(self, el: Any, shared: list[str], dates: set[int]) -> Any:
        text = None
        inline = None
        for child in el:
            tag = child.tag
            if tag == _V:
                text = child.text
            elif tag == _F:
                return "=" + (child.text or "")
            elif tag == _IS:
                inline = child
        kind = el.get("t", "n")
        if kind == "inlineStr":
            return "".join(t.text or "" for t in inline.iter(_T)) if inline is not None else ""
        if text is None:
            return None
        if kind == "s":
            return shared[int(text)]
        if kind in ("str", "e"):
            return text
        if kind == "b":
            return text.strip() in ("1", "true")
        if kind == "d":
            try:
                return dt.datetime.fromisoformat(text)
            except ValueError:
                return text
        number: Any = float(text) if ("." in text or "E" in text or "e" in text) else int(text)
        style = el.get("s")
        if style is not None and int(style) in dates:
            from openpyxl.utils.datetime import from_excel

            try:
                return from_excel(number, self.parent.epoch)
            except (ValueError, OverflowError):
                return number
        return number


class StreamWorkbook:
    """An XLSX package read as a stream: ``sheetnames``, ``wb[name]``, ``close()``."""

    def __init__(self, buffer: io.BytesIO) -> None:
        from xml.etree.ElementTree import fromstring, iterparse

        from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900

        self.archive = zipfile.ZipFile(buffer)
        names = set(self.archive.namelist())
        workbook = fromstring(self.archive.read("xl/workbook.xml"))  # noqa: S314
        pr = workbook.find(f"{_NS}workbookPr")
        self.epoch = CALENDAR_MAC_1904 if pr is not None and pr.get("date1904") in (
            "1", "true") else CALENDAR_WINDOWS_1900
        targets: dict[str, str] = {}
        if "xl/_rels/workbook.xml.rels" in names:
            rels = fromstring(self.archive.read("xl/_rels/workbook.xml.rels"))  # noqa: S314
            for rel in rels.iter(_PKG_REL):
                target = rel.get("Target", "")
                target = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                targets[rel.get("Id", "")] = target
        self._sheets: dict[str, str] = {}
        sheets = workbook.find(f"{_NS}sheets")
        for sheet in (sheets if sheets is not None else []):
            path = targets.get(sheet.get(f"{_REL_NS}id", ""), "")
            if path in names:
                self._sheets[sheet.get("name", "")] = path
        self.shared_strings: list[str] = []
        if "xl/sharedStrings.xml" in names:
            with self.archive.open("xl/sharedStrings.xml") as src:
                for _event, el in iterparse(src):  # noqa: S314
                    if el.tag == f"{_NS}si":
                        # the text runs, without the phonetic guide (rPh) of East Asian text
                        parts = [t.text or "" for t in el.iter(_T)]
                        for rph in el.iter(f"{_NS}rPh"):
                            for t in rph.iter(_T):
                                parts.remove(t.text or "")
                        self.shared_strings.append("".join(parts))
                        el.clear()
        self.date_styles: set[int] = set()
        if "xl/styles.xml" in names:
            styles = fromstring(self.archive.read("xl/styles.xml"))  # noqa: S314
            custom = {int(n.get("numFmtId", "0")): n.get("formatCode", "")
                      for n in styles.iter(f"{_NS}numFmt")}
            xfs = styles.find(f"{_NS}cellXfs")
            for i, xf in enumerate(xfs if xfs is not None else []):
                fmt = int(xf.get("numFmtId", "0"))
                code = custom.get(fmt, BUILTIN_FORMATS.get(fmt, ""))
                if (14 <= fmt <= 22 or 27 <= fmt <= 36 or 45 <= fmt <= 47 or 50 <= fmt <= 58
                        or (code and is_date_format(code))):
                    self.date_styles.add(i)

    @property
    def sheetnames(self) -> list[str]:
        return list(self._sheets)

    def __getitem__(self, name: str) -> StreamSheet:
        return StreamSheet(self, name, self._sheets[name])

    def close(self) -> None:
        self.archive.close()


def cell_text(value: Any) -> str:
    """A cell value as trimmed text: integers without ".0", dates as YYYY-MM-DD, very large
    numbers in scientific notation (so that an ID number typed as a number is recognisable:
    see ``is_scientific``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if abs(value) >= 1e15:
            mantissa, exponent = f"{value:.14E}".split("E")  # shown as Excel does: 4.11302E+17
            return f"{mantissa.rstrip('0').rstrip('.')}E{exponent}"
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value).strip()


def is_scientific(text: str) -> bool:
    """True when the text is a number in scientific notation (e.g. an ID number typed as a
    number: Excel keeps 15 digits, the last ones are lost)."""
    return bool(SCIENTIFIC.match(text))


def _is_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=")


def _match(columns: Sequence[Column]) -> dict[str, Column]:
    names: dict[str, Column] = {}
    for column in columns:
        for name in (column.header, *column.aliases):
            names.setdefault(normalise_header(name), column)
    return names


def iter_sheet(ws: Any, columns: Sequence[Column], *, max_rows: int,
               result: SheetRows) -> Iterator[tuple[int, list[str]]]:
    """Stream the data rows of ``ws`` as (excel row, [text per column in ``columns`` order]).

    Fills ``result``'s header fields (missing, extra, present, header_row) before the first
    row and appends formula coordinates as they come; raises XlsxRefused past ``max_rows``."""
    names = _match(columns)
    order = {column.key: i for i, column in enumerate(columns)}
    # position in the sheet row → index in columns
    positions: list[tuple[int, int]] = []
    header_seen = False
    count = 0
    width = len(columns)
    ws.reset_dimensions()  # a wrong <dimension> must not hide rows
    for number, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
        if not header_seen:
            if not any(v is not None and cell_text(v) != "" for v in values):
                continue
            header_seen = True
            result.header_row = number
            found: set[str] = set()
            for position, value in enumerate(values):
                header = cell_text(value)
                if not header:
                    continue
                column = names.get(normalise_header(header))
                if column is None or column.key in found:
                    result.extra.append(header)
                    continue
                found.add(column.key)
                positions.append((position, order[column.key]))
            result.present = [c.key for c in columns if c.key in found]
            result.missing = [c.header for c in columns if c.required and c.key not in found]
            continue
        texts = [""] * width
        blank = True
        for position, index in positions:
            if position >= len(values):
                continue
            value = values[position]
            if value is None:
                continue
            if _is_formula(value):
                result.formulas.append(f"{get_column_letter(position + 1)}{number}")
                texts[index] = str(value)
                blank = False
                continue
            text = cell_text(value)
            if text:
                texts[index] = text
                blank = False
        if blank:
            continue
        count += 1
        if count > max_rows:
            raise XlsxRefused(
                _("工作表“%(sheet)s”的数据超过 %(limit)s 行，请分成几个文件导入。",
                  sheet=ws.title, limit=max_rows))
        yield number, texts
    if not header_seen:
        result.missing = [c.header for c in columns if c.required]


def get_sheet(wb: Any, sheet_name: str) -> Any:
    """The sheet named ``sheet_name`` (compared after normalise_header) or XlsxRefused."""
    wanted = normalise_header(sheet_name)
    for name in wb.sheetnames:
        if normalise_header(name) == wanted:
            return wb[name]
    raise XlsxRefused(
        _("文件中没有名为“%(sheet)s”的工作表（现有：%(names)s）。请使用下载的模板。",
          sheet=sheet_name, names="、".join(wb.sheetnames) or "—"))


def read_sheet(wb: Any, sheet_name: str, columns: Sequence[Column], *, max_rows: int) -> SheetRows:
    """Every data row of the sheet as (excel row, {key: text}); XlsxRefused if the sheet is
    absent or has more than ``max_rows`` data rows. Every column key is in every dict."""
    ws = get_sheet(wb, sheet_name)
    result = SheetRows()
    keys = [c.key for c in columns]
    try:
        for number, texts in iter_sheet(ws, columns, max_rows=max_rows, result=result):
            result.rows.append((number, dict(zip(keys, texts, strict=True))))
    except XlsxRefused:
        raise
    except Exception:  # a malformed sheet XML: refused, never a 500
        raise XlsxRefused(_("工作表“%(sheet)s”内容已损坏，无法读取。", sheet=sheet_name)) from None
    return result


HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")


def template(sheets: Sequence[tuple[str, Sequence[Column]]], instructions: Sequence[str]) -> bytes:
    """An XLSX template: one sheet per (name, columns) with a bold frozen header (required
    columns shaded), text-formatted cells, drop-downs from ``Column.choices`` (lists kept on a
    hidden sheet 选项), a note on headers that have one, and an instruction sheet 说明."""
    wb = Workbook()
    first = wb.active
    choices_ws = None
    choice_col = 0
    for sheet_name, columns in sheets:
        ws = first if first is not None and first.title == "Sheet" else wb.create_sheet()
        first = None
        ws.title = sheet_name
        for index, column in enumerate(columns, start=1):
            letter = get_column_letter(index)
            cell = ws.cell(row=1, column=index, value=column.header)
            cell.font = HEADER_FONT
            cell.fill = REQUIRED_FILL if column.required else HEADER_FILL
            cell.alignment = Alignment(horizontal="center", vertical="center")
            if column.note:
                cell.comment = Comment(column.note, "fieldwork")
            ws.column_dimensions[letter].width = column.width
            ws.column_dimensions[letter].number_format = "@"
            if column.choices:
                if choices_ws is None:
                    choices_ws = wb.create_sheet(CHOICES_SHEET)
                    choices_ws.sheet_state = "hidden"
                choice_col += 1
                choice_letter = get_column_letter(choice_col)
                choices_ws.cell(row=1, column=choice_col, value=column.header)
                for r, choice in enumerate(column.choices, start=2):
                    choices_ws.cell(row=r, column=choice_col, value=choice)
                last = len(column.choices) + 1
                ref = f"{quote_sheetname(CHOICES_SHEET)}!${choice_letter}$2:${choice_letter}${last}"
                validation = DataValidation(type="list", formula1=ref, allow_blank=True,
                                            showErrorMessage=True,
                                            errorTitle=_("输入有误"),
                                            error=_("请从下拉列表中选择。"))
                validation.add(f"{letter}2:{letter}{TEMPLATE_ROWS + 1}")
                ws.add_data_validation(validation)
        ws.freeze_panes = "A2"
    info = wb.create_sheet(INSTRUCTION_SHEET)
    info.column_dimensions["A"].width = 110
    for r, line in enumerate(instructions, start=1):
        cell = info.cell(row=r, column=1, value=line)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        if r == 1:
            cell.font = Font(bold=True, size=13)
    if choices_ws is not None:  # the hidden list sheet last
        wb.move_sheet(choices_ws, offset=len(wb.sheetnames))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()

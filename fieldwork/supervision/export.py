"""The county ledger (县(市、区)城镇困难职工居民信息台账) as streamed XLSX and CSV.

One row per household in the user's scope (access.scope.household_clause), by default those
enrolled or exited, ordered by community code and household id. Rows are built page by page
(keyset pagination on (community code, household id)) with a fixed number of queries per page:
the households, their valid visits per month of the year (one grouped query), their measures in
force and their assignments (one query each). Never one query per row.

The helper and the measures are those in force on the last day of the year (today for the
current year); an exited household shows the last helper it had.

Every export is audited ("ledger.export": format, year, rows, statuses, full_ids). Full ID
numbers only for county officers who ask for them; the event then says how many left.

The 12-month matrix: the number of valid visits (not rejected, not superseded) in each
Asia/Shanghai month of the year; "—" for a month in which the household was not enrolled (the
month ended before enrolment, or began after the exit: the same rule as the compliance "due"
test); blank for months still to come.
"""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from tempfile import SpooledTemporaryFile
from typing import IO, Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    render_template,
    request,
    stream_with_context,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from fieldwork import csvsafe
from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.access.scope import household_clause
from fieldwork.access.validity import valid_visit_clause
from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import CATEGORY_LABELS, CAUSE_LABELS, STATUS_LABELS
from fieldwork.households.models import (
    Assignment,
    Household,
    Measure,
    Member,
    PlanMeasure,
    current_head_clause,
)
from fieldwork.places.models import Place
from fieldwork.privacy.service import reveal_id
from fieldwork.timeutil import current_month, month_first_day, month_last_day, today_local
from fieldwork.visits.models import Visit

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

LEDGER_ROLES = (roles.STREET_REVIEWER, roles.COUNTY_OFFICER, roles.CITY_SUPERVISOR)
# Full identity numbers in a file that leaves the system: the county office keeps the ledger.
FULL_ID_ROLES = (roles.COUNTY_OFFICER,)
DEFAULT_STATUSES = ("enrolled", "exited")
FIRST_YEAR = 2023  # the programme began in December 2023 (宛政办〔2023〕50号)
PAGE_SIZE = 1000
NOT_ENROLLED = "—"

TITLE = _l("县(市、区)城镇困难职工居民信息台账")

# (header, column width in characters)
COLUMNS: list[tuple[Any, float]] = [
    (_l("序号"), 7),
    (_l("县(市、区)"), 10),
    (_l("街道(乡镇)"), 12),
    (_l("社区(村)"), 12),
    (_l("档案编号"), 18),
    (_l("户主姓名"), 9),
    (_l("身份证号"), 21),
    (_l("家庭人口"), 6),
    (_l("困难类别"), 16),
    (_l("致困原因"), 16),
    (_l("人均月收入(元)"), 10),
    (_l("帮扶措施"), 36),
    (_l("帮扶责任人"), 10),
    (_l("帮扶责任人电话"), 14),
    (_l("状态"), 9),
]
MONTH_COLUMN_WIDTH = 5.5
INCOME_COLUMN = 10  # index of 人均月收入 in a row
FROZEN_COLUMNS = 6  # 序号 … 户主姓名 stay in view when scrolling right


def headers() -> list[str]:
    return [str(h) for h, _w in COLUMNS] + [_("%(m)d月", m=m) for m in range(1, 13)]


def column_widths() -> list[float]:
    return [w for _h, w in COLUMNS] + [MONTH_COLUMN_WIDTH] * 12


@dataclass(frozen=True)
class LedgerRequest:
    user: User
    year: int
    statuses: tuple[str, ...] | None  # None: every status
    full_ids: bool

    def where(self) -> sa.ColumnElement[bool]:
        clause = household_clause(self.user)
        if self.statuses is not None:
            clause = sa.and_(clause, Household.status.in_(self.statuses))
        return clause

    @property
    def as_of(self) -> date:
        """The day whose measures and helper the ledger shows: today, or a past year's end."""
        return min(today_local(), date(self.year, 12, 31))


def count_rows(req: LedgerRequest) -> int:
    return db.session.scalar(sa.select(sa.func.count(Household.id)).where(req.where())) or 0


def _place_names(user: User) -> dict[int, str]:
    query = sa.select(Place.id, Place.name)
    if user.place.level != "city":
        # The user's own ancestors too: a street reviewer's rows name their county.
        query = query.where(sa.or_(Place.path.startswith(user.place.path, autoescape=True),
                                   Place.id.in_(user.place.ancestor_ids())))
    return dict(db.session.execute(query).all())


def _visit_counts(ids: list[int], year: int) -> dict[int, dict[int, int]]:
    out: dict[int, dict[int, int]] = defaultdict(dict)
    rows = db.session.execute(
        sa.select(Visit.household_id, Visit.month, sa.func.count())
        .where(Visit.household_id.in_(ids), Visit.month.between(year * 100 + 1, year * 100 + 12),
               valid_visit_clause())
        .group_by(Visit.household_id, Visit.month)
    )
    for hid, month, n in rows:
        out[hid][month] = n
    return out


def _measures(ids: list[int], on: date) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    rows = db.session.execute(
        sa.select(PlanMeasure.household_id, Measure.name)
        .join(Measure, Measure.id == PlanMeasure.measure_id)
        .where(PlanMeasure.household_id.in_(ids), PlanMeasure.start_date <= on,
               sa.or_(PlanMeasure.end_date.is_(None), PlanMeasure.end_date >= on))
        .order_by(PlanMeasure.household_id, PlanMeasure.id)
    )
    for hid, name in rows:
        out[hid].append(name)
    return out


def _helpers(ids: list[int], on: date) -> dict[int, tuple[str, str]]:
    """(name, phone) of the helper in charge on the day; failing that (an exited household),
    the last helper who was."""
    best: dict[int, tuple[tuple, tuple[str, str]]] = {}
    rows = db.session.execute(
        sa.select(Assignment.household_id, Assignment.id, Assignment.start_date,
                  Assignment.end_date, User.display_name, User.username, User.phone)
        .join(User, User.id == Assignment.helper_id)
        .where(Assignment.household_id.in_(ids), Assignment.start_date <= on)
    )
    for hid, aid, start, end, display, username, phone in rows:
        in_force = end is None or end >= on
        rank = (in_force, end or date.max, start, aid)
        if hid not in best or rank > best[hid][0]:
            best[hid] = (rank, (display or username, phone or ""))
    return {hid: v for hid, (_r, v) in best.items()}


def _pages(req: LedgerRequest, columns: list[Any],
           page_size: int) -> Iterator[Sequence[sa.Row[Any]]]:
    """The scope's households in pages of about page_size, ordered by community code then id.

    Keyset pagination on (community, id): one grouped query lists the communities in code order
    with their number of households; a page then takes whole communities by their ids (an
    index look-up, no sort of the whole county per page), and a community larger than a page is
    walked by id. A fixed number of queries per page, whatever the number of rows."""
    where = req.where()
    places = db.session.execute(
        sa.select(Household.place_id, sa.func.count())
        .join(Place, Place.id == Household.place_id).where(where)
        .group_by(Household.place_id, Place.code).order_by(Place.code)).all()
    rank = {pid: i for i, (pid, _n) in enumerate(places)}
    base = sa.select(*columns).where(where)

    def fetch(place_ids: list[int]) -> list[sa.Row[Any]]:
        rows = db.session.execute(base.where(Household.place_id.in_(place_ids))).all()
        return sorted(rows, key=lambda r: (rank[r.place_id], r.id))

    batch: list[int] = []
    size = 0
    for pid, n in places:
        if n > page_size:
            if batch:
                yield fetch(batch)
                batch, size = [], 0
            last = 0
            while True:
                page = db.session.execute(
                    base.where(Household.place_id == pid, Household.id > last)
                    .order_by(Household.id).limit(page_size)).all()
                if not page:
                    break
                yield page
                last = page[-1].id
            continue
        if size + n > page_size and batch:
            yield fetch(batch)
            batch, size = [], 0
        batch.append(pid)
        size += n
    if batch:
        yield fetch(batch)


def _head(column: Any) -> Any:
    """A column of the household's head member (户主: one person, one ID)."""
    return (sa.select(column).where(Member.household_id == Household.id, current_head_clause())
            .order_by(Member.id).limit(1).scalar_subquery().label(f"head_{column.key}"))


def iter_rows(req: LedgerRequest, page_size: int = PAGE_SIZE) -> Iterator[list[Any]]:
    """The ledger's data rows, in order, as lists of cell values (None: empty cell)."""
    names = _place_names(req.user)
    now_month = current_month()
    # (month, first day, last day) of each month of the year, computed once.
    months = [(m, month_first_day(m), month_last_day(m))
              for m in (req.year * 100 + i for i in range(1, 13))]
    as_of = req.as_of
    categories = {k: str(v) for k, v in CATEGORY_LABELS.items()}
    causes = {k: str(v) for k, v in CAUSE_LABELS.items()}
    statuses = {k: str(v) for k, v in STATUS_LABELS.items()}
    columns = [Household.id, Household.file_no, Household.head_name, _head(Member.id_mask),
               Household.members_count, Household.category, Household.causes,
               Household.per_capita_income, Household.status, Household.enrolled_on,
               Household.exited_on, Household.place_id, Household.street_id,
               Household.county_id]
    if req.full_ids:
        columns.append(_head(Member.id_enc))
    n = 0
    for page in _pages(req, columns, page_size):
        ids = [r.id for r in page]
        visits = _visit_counts(ids, req.year)
        measures = _measures(ids, as_of)
        helpers = _helpers(ids, as_of)
        for r in page:
            n += 1
            helper, phone = helpers.get(r.id, ("", ""))
            community = names.get(r.place_id, "") if r.place_id not in (
                r.street_id, r.county_id) else ""
            id_number = r.head_id_mask or ""
            if req.full_ids and r.head_id_enc:
                id_number = reveal_id(r.head_id_enc)
            counts = visits.get(r.id, {})
            enrolled, exited = r.enrolled_on, r.exited_on
            matrix: list[Any] = []
            for m, first, last in months:
                # The matrix rule of the module docstring (twelve times a row: kept inline).
                if enrolled is None or enrolled > last or (exited is not None and exited < first):
                    matrix.append(NOT_ENROLLED)
                elif m > now_month:
                    matrix.append(None)
                else:
                    matrix.append(counts.get(m, 0))
            yield [
                n,
                names.get(r.county_id, ""),
                names.get(r.street_id, "") if r.street_id else "",
                community,
                r.file_no or "",
                r.head_name,
                id_number,
                r.members_count,
                categories.get(r.category, r.category),
                "、".join(causes.get(c, c) for c in (r.causes or [])),
                r.per_capita_income,
                "；".join(measures.get(r.id, [])),
                helper,
                phone,
                statuses.get(r.status, r.status),
                *matrix,
            ]


def title_for(req: LedgerRequest) -> str:
    return _("%(title)s（%(place)s，%(year)d年）", title=str(TITLE), place=req.user.place.name,
             year=req.year)


SHEET_PART = "xl/worksheets/sheet1.xml"
FIRST_DATA_ROW = 3  # row 1: title, row 2: header


def write_xlsx(req: LedgerRequest, rows: Iterable[list[Any]], out: IO[bytes]) -> int:
    """Write the ledger workbook to out; returns the number of data rows.

    openpyxl (write-only mode) builds the workbook: styles, column widths, the frozen header,
    print titles, the title and header rows. The data rows are then streamed into the same
    sheet part by sheet_rows(), as plain SpreadsheetML cells of the kinds openpyxl itself
    writes in write-only mode (numbers, inline strings): openpyxl spends about 5 µs of Python
    per cell, 7 s of CPU for a county of 50,000 households (1.3 million cells), this writer a
    tenth of that. Memory stays flat: rows are consumed one at a time and the package goes to
    out (a spooled temporary file) as it is written."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_("台账"))
    for i, width in enumerate(column_widths(), start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    # The header row (row 2) and the first columns stay in view.
    ws.freeze_panes = f"{get_column_letter(FROZEN_COLUMNS + 1)}{FIRST_DATA_ROW}"
    ws.print_title_rows = f"1:{FIRST_DATA_ROW - 1}"
    title = WriteOnlyCell(ws, value=title_for(req))
    title.font = Font(bold=True, size=14)
    ws.append([title])
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="E3F1EC")
    centred = Alignment(horizontal="center", vertical="center", wrap_text=True)
    header = []
    for text in headers():
        cell = WriteOnlyCell(ws, value=text)
        cell.font, cell.fill, cell.alignment = bold, fill, centred
        header.append(cell)
    ws.append(header)
    # The income column's "0.00" format, registered in the workbook's styles: its index is
    # what the data cells refer to.
    income = WriteOnlyCell(ws, value=0)
    income.number_format = "0.00"
    styles = {INCOME_COLUMN: income.style_id}

    shell = io.BytesIO()
    wb.save(shell)
    count = 0
    with zipfile.ZipFile(shell) as src, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename != SHEET_PART:
                dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
                continue
            head, tail = data.split(b"</sheetData>", 1)
            part = zipfile.ZipInfo(SHEET_PART, date_time=info.date_time)
            part.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(part, "w", force_zip64=True) as sheet:
                sheet.write(head)
                for chunk in sheet_rows(rows, FIRST_DATA_ROW, styles):
                    count += chunk.count(b"</row>")
                    sheet.write(chunk)
                sheet.write(b"</sheetData>" + tail)
    return count


def _number(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return repr(value) if isinstance(value, float) else str(value)


def sheet_rows(rows: Iterable[list[Any]], first_row: int, styles: dict[int, int],
               batch: int = 500) -> Iterator[bytes]:
    """SpreadsheetML <row> elements for rows (None: no cell; bool, int, float, Decimal: a
    number; anything else: an inline string), in UTF-8 chunks of `batch` rows."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.utils import get_column_letter

    letters: list[str] = []
    out: list[str] = []
    r = first_row
    for row in rows:
        while len(letters) < len(row):
            letters.append(get_column_letter(len(letters) + 1))
        cells = []
        for i, value in enumerate(row):
            if value is None:
                continue
            ref = f"{letters[i]}{r}"
            style = f' s="{styles[i]}"' if i in styles else ""
            if isinstance(value, bool):
                cells.append(f'<c r="{ref}"{style} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float | Decimal):
                cells.append(f'<c r="{ref}"{style} t="n"><v>{_number(value)}</v></c>')
            else:
                text = xml_escape(ILLEGAL_CHARACTERS_RE.sub("", str(value)))
                space = ' xml:space="preserve"' if text != text.strip() else ""
                cells.append(f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
        r += 1
        if len(out) >= batch:
            yield "".join(out).encode("utf-8")
            out.clear()
    if out:
        yield "".join(out).encode("utf-8")


def csv_chunks(req: LedgerRequest) -> Iterator[bytes]:
    """The ledger as UTF-8 CSV with a byte-order mark (Excel then reads the Chinese right),
    one chunk per page of rows. Text that a spreadsheet would run as a formula (a head name
    "=HYPERLINK(...)") is neutralised by csvsafe; numbers stay numbers."""
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(headers())
    count = 0
    for row in iter_rows(req):
        writer.writerow(row)
        count += 1
        if count % PAGE_SIZE == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _audit(req: LedgerRequest, fmt: str, rows: int) -> None:
    place = req.user.place
    detail: dict[str, Any] = {
        "format": fmt, "year": req.year, "rows": rows, "full_ids": req.full_ids,
        "statuses": list(req.statuses) if req.statuses else "all",
        "scope_place": place.code,
    }
    if req.full_ids:
        # Full identity numbers left the system: say how many, so a reviewer of the audit log
        # sees the size of the disclosure without opening the file.
        detail["full_id_numbers"] = rows
    audit.record("ledger.export", target_type="place", target_id=place.id,
                 place_id=place.county_id() or place.id,
                 **detail)


def filename(req: LedgerRequest, ext: str) -> tuple[str, str]:
    """(ASCII fallback, Chinese name) of the download."""
    suffix = _("-含身份证号") if req.full_ids else ""
    chinese = _("%(place)s台账-%(year)d", place=req.user.place.name, year=req.year)
    return (f"ledger-{req.user.place.code}-{req.year}.{ext}", f"{chinese}{suffix}.{ext}")


def content_disposition(req: LedgerRequest, ext: str) -> str:
    ascii_name, name = filename(req, ext)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# ---------------------------------------------------------------- views


def _years() -> list[int]:
    this = today_local().year
    return list(range(this, FIRST_YEAR - 1, -1))


def _parse() -> LedgerRequest:
    raw_year = (request.args.get("year") or "").strip()
    if not raw_year:
        year = today_local().year
    elif not raw_year.isdigit() or int(raw_year) not in _years():
        raise FormError.of(_("年份应在 %(a)d 年至 %(b)d 年之间", a=FIRST_YEAR,
                             b=today_local().year), "year", 400)
    else:
        year = int(raw_year)
    status = request.args.get("status", "")
    if status not in ("", "enrolled_exited", "all"):
        raise FormError.of(_("户状态选项不正确"), "status", 400)
    full_ids = request.args.get("full_ids") in ("1", "on", "y")
    if full_ids and current_user.role not in FULL_ID_ROLES:
        abort(403)
    return LedgerRequest(current_user._get_current_object(), year,
                         None if status == "all" else DEFAULT_STATUSES, full_ids)


def _form(error: str | None = None, status: int = 200):
    return render_template(
        "ledger/index.html", years=_years(), error=error, args=request.args,
        can_full_ids=current_user.role in FULL_ID_ROLES, title=str(TITLE),
        columns=headers(),
    ), status


@bp.get("/")
@role_required(*LEDGER_ROLES)
def index():
    return _form()


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/export.xlsx")
@role_required(*LEDGER_ROLES)
def export_xlsx():
    try:
        req = _parse()
    except FormError as exc:
        return _form(exc.message, exc.status)
    # Built before the answer starts, so a failure is an error page and not a truncated file;
    # past 2 MB the workbook spills to disk.
    out: IO[bytes] = SpooledTemporaryFile(max_size=2 * 1024 * 1024)
    rows = write_xlsx(req, iter_rows(req), out)
    _audit(req, "xlsx", rows)
    db.session.commit()
    size = out.tell()
    out.seek(0)

    def chunks() -> Iterator[bytes]:
        try:
            while block := out.read(64 * 1024):
                yield block
        finally:
            out.close()

    response = Response(chunks(), mimetype=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    response.headers["Content-Disposition"] = content_disposition(req, "xlsx")
    response.headers["Content-Length"] = str(size)
    return _no_store(response)


@bp.get("/export.csv")
@role_required(*LEDGER_ROLES)
def export_csv():
    try:
        req = _parse()
    except FormError as exc:
        return _form(exc.message, exc.status)
    # Streamed as it is built: the audit entry (with the row count of the same query) is
    # committed first, so an interrupted download is still on record.
    _audit(req, "csv", count_rows(req))
    db.session.commit()
    response = Response(stream_with_context(csv_chunks(req)), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = content_disposition(req, "csv")
    return _no_store(response)

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
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    make_response,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from fieldwork import csvsafe
from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.access.scope import household_clause
from fieldwork.access.validity import valid_visit_clause
from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import (
    CATEGORIES,
    CATEGORY_LABELS,
    CAUSE_LABELS,
    CHANNEL_LABELS,
    DISABILITY_LABELS,
    EMPLOYMENT_LABELS,
    EXIT_ROUTE_LABELS,
    ILLNESS_LABELS,
    RELATION_LABELS,
    SCHOOLING_LABELS,
    STATUS_LABELS,
    STATUSES,
)
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Measure,
    Member,
    PlanMeasure,
    current_head_clause,
)
from fieldwork.places.models import Place
from fieldwork.privacy.idnumber import IdNumberError, mask_phone
from fieldwork.privacy.service import id_blind_index, reveal_id
from fieldwork.supervision.compliance import due_clause
from fieldwork.timeutil import current_month, month_first_day, month_last_day, today_local
from fieldwork.visits.models import Visit

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

LEDGER_ROLES = (roles.STREET_REVIEWER, roles.COUNTY_OFFICER, roles.CITY_SUPERVISOR)
# Full identity and phone numbers in a file that leaves the system: the county office keeps
# the ledger.
FULL_ID_ROLES = (roles.COUNTY_OFFICER,)
DEFAULT_STATUSES = ("enrolled", "exited")
FIRST_YEAR = 2023  # the programme began in December 2023 (宛政办〔2023〕50号)
PAGE_SIZE = 1000
NOT_ENROLLED = "—"
MONTHLY_UNIT = "元/月"  # the measures whose amounts add up to the monthly assistance column

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
    (_l("家庭住址"), 28),
    (_l("联系电话"), 14),
    (_l("家庭人口"), 6),
    (_l("困难类别"), 16),
    (_l("致困原因"), 16),
    (_l("认定渠道"), 12),
    (_l("人均月收入(元)"), 10),
    (_l("纳入时间"), 11),
    (_l("帮扶措施"), 44),
    (_l("月帮扶金额(元)"), 10),
    (_l("帮扶责任人"), 10),
    (_l("帮扶责任人电话"), 14),
    (_l("状态"), 9),
    (_l("退出时间"), 11),
    (_l("退出方式"), 14),
]
# Names of the columns, for templates (the printed 附件5) that pick some of them.
COLUMN_KEYS = ["n", "county", "street", "community", "file_no", "head_name", "id_number",
               "address", "phone", "members", "category", "causes", "channel", "income",
               "enrolled_on", "measures", "amount", "helper", "helper_phone", "status",
               "exited_on", "exit_route"]
MONTH_COLUMN_WIDTH = 5.5
# Indexes of columns in a row.
NAME_COLUMN = 5
MEMBERS_COLUMN = 9
INCOME_COLUMN = 13
AMOUNT_COLUMN = 16
FIRST_MONTH_COLUMN = len(COLUMNS)
FROZEN_COLUMNS = 6  # 序号 … 户主姓名 stay in view when scrolling right

MEMBER_COLUMNS: list[tuple[Any, float]] = [
    (_l("序号"), 7),
    (_l("社区(村)"), 12),
    (_l("档案编号"), 18),
    (_l("户主姓名"), 9),
    (_l("成员姓名"), 9),
    (_l("与户主关系"), 8),
    (_l("身份证号"), 21),
    (_l("性别"), 5),
    (_l("年龄"), 5),
    (_l("患病情况"), 10),
    (_l("残疾情况"), 14),
    (_l("就学情况"), 10),
    (_l("就业情况"), 14),
]
GENDER_LABELS = {"male": _l("男"), "female": _l("女")}


def headers() -> list[str]:
    return [str(h) for h, _w in COLUMNS] + [_("%(m)d月", m=m) for m in range(1, 13)]


def column_widths() -> list[float]:
    return [w for _h, w in COLUMNS] + [MONTH_COLUMN_WIDTH] * 12


def member_headers() -> list[str]:
    return [str(h) for h, _w in MEMBER_COLUMNS]


VISIT_FILTERS = ("", "due", "visited", "not_visited")


@dataclass(frozen=True)
class LedgerRequest:
    """Which households the ledger lists: the user's scope narrowed by the filters."""

    user: User
    year: int
    statuses: tuple[str, ...] | None  # None: every status
    full_ids: bool
    place: Place | None = None  # a place within the user's scope
    category: str = ""
    search: str = ""  # a head's name, a file number or an ID number
    month: int | None = None  # YYYYMM of `year` that the visit filter looks at
    visit: str = ""  # one of VISIT_FILTERS

    def where(self) -> sa.ColumnElement[bool]:
        clause = household_clause(self.user)
        if self.statuses is not None:
            clause = sa.and_(clause, Household.status.in_(self.statuses))
        if self.place is not None:
            clause = sa.and_(clause, place_clause(self.place))
        if self.category:
            clause = sa.and_(clause, Household.category == self.category)
        if self.search:
            clause = sa.and_(clause, search_clause(self.search))
        if self.month is not None and self.visit:
            due = due_clause(self.month)
            visited = sa.exists(sa.select(Visit.id).where(
                Visit.household_id == Household.id, Visit.month == self.month,
                valid_visit_clause()))
            clause = sa.and_(clause, due, {"due": sa.true(), "visited": visited,
                                           "not_visited": sa.not_(visited)}[self.visit])
        return clause

    @property
    def as_of(self) -> date:
        """The day whose measures and helper the ledger shows: today, or a past year's end."""
        return min(today_local(), date(self.year, 12, 31))

    @property
    def filtered(self) -> bool:
        return bool(self.place or self.category or self.search or self.visit)


def place_clause(place: Place) -> sa.ColumnElement[bool]:
    """Households of a place and the places below it."""
    column = {"city": None, "county": Household.county_id,
              "street": Household.street_id}.get(place.level, Household.place_id)
    return sa.true() if column is None else column == place.id


def search_clause(text: str) -> sa.ColumnElement[bool]:
    """A head's name or a file number (part of either), or a member's full ID number, found
    through the blind index (the numbers themselves are stored encrypted)."""
    try:
        index = id_blind_index(text)
    except IdNumberError:
        return sa.or_(Household.head_name.contains(text, autoescape=True),
                      Household.file_no.contains(text, autoescape=True))
    return Household.id.in_(sa.select(Member.household_id).where(Member.id_index == index))


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


@dataclass(frozen=True)
class MeasureLine:
    name: str
    department: str
    amount: Decimal | None
    unit: str

    def __str__(self) -> str:
        text = f"{self.name}（{self.department}）" if self.department else self.name
        if self.amount is not None:
            text += f"{format(self.amount.normalize(), 'f')}{self.unit}"
        return text

    @property
    def monthly(self) -> Decimal:
        return self.amount if self.amount is not None and self.unit == MONTHLY_UNIT \
            else Decimal(0)


def _measures(ids: list[int], on: date) -> dict[int, list[MeasureLine]]:
    """The measures in force on the day, with the household's own amount (or the catalogue's)
    and the department."""
    out: dict[int, list[MeasureLine]] = defaultdict(list)
    rows = db.session.execute(
        sa.select(PlanMeasure.household_id, Measure.name, Measure.department,
                  sa.func.coalesce(PlanMeasure.amount, Measure.amount), Measure.unit)
        .join(Measure, Measure.id == PlanMeasure.measure_id)
        .where(PlanMeasure.household_id.in_(ids), PlanMeasure.start_date <= on,
               sa.or_(PlanMeasure.end_date.is_(None), PlanMeasure.end_date >= on))
        .order_by(PlanMeasure.household_id, PlanMeasure.id)
    )
    for hid, name, department, amount, unit in rows:
        out[hid].append(MeasureLine(name, department or "",
                                    Decimal(amount) if amount is not None else None, unit or ""))
    return out


def _channels(ids: list[int]) -> dict[int, str]:
    """The channel (辖区/部门/行业) of each household's intake: its approved intake case, or
    failing that its latest one."""
    best: dict[int, tuple[tuple[bool, int], str]] = {}
    rows = db.session.execute(
        sa.select(Case.household_id, Case.id, Case.state, Case.channel)
        .where(Case.household_id.in_(ids), Case.kind == "intake"))
    for hid, cid, state, channel in rows:
        rank = (state == "approved", cid)
        if hid not in best or rank > best[hid][0]:
            best[hid] = (rank, channel)
    return {hid: channel for hid, (_r, channel) in best.items()}


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
    channels = {k: str(v) for k, v in CHANNEL_LABELS.items()}
    routes = {k: str(v) for k, v in EXIT_ROUTE_LABELS.items()}
    columns = [Household.id, Household.file_no, Household.head_name, _head(Member.id_mask),
               Household.address, Household.phone,
               Household.members_count, Household.category, Household.causes,
               Household.per_capita_income, Household.status, Household.enrolled_on,
               Household.exited_on, Household.exit_route, Household.place_id,
               Household.street_id, Household.county_id]
    if req.full_ids:
        columns.append(_head(Member.id_enc))
    n = 0
    for page in _pages(req, columns, page_size):
        ids = [r.id for r in page]
        visits = _visit_counts(ids, req.year)
        measures = _measures(ids, as_of)
        helpers = _helpers(ids, as_of)
        intake = _channels(ids)
        for r in page:
            n += 1
            helper, helper_phone = helpers.get(r.id, ("", ""))
            community = names.get(r.place_id, "") if r.place_id not in (
                r.street_id, r.county_id) else ""
            id_number = r.head_id_mask or ""
            phone = r.phone or ""
            if req.full_ids:
                if r.head_id_enc:
                    id_number = reveal_id(r.head_id_enc)
            elif phone:
                phone = mask_phone(phone)
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
            lines = measures.get(r.id, [])
            monthly = sum((line.monthly for line in lines), Decimal(0))
            channel = intake.get(r.id, "")
            yield [
                n,
                names.get(r.county_id, ""),
                names.get(r.street_id, "") if r.street_id else "",
                community,
                r.file_no or "",
                r.head_name,
                id_number,
                r.address or "",
                phone,
                r.members_count,
                categories.get(r.category, r.category),
                "、".join(causes.get(c, c) for c in (r.causes or [])),
                channels.get(channel, channel),
                r.per_capita_income,
                enrolled.isoformat() if enrolled else "",
                "；".join(str(line) for line in lines),
                monthly if lines else None,
                helper,
                helper_phone,
                statuses.get(r.status, r.status),
                exited.isoformat() if exited else "",
                routes.get(r.exit_route, r.exit_route) if r.exit_route else "",
                *matrix,
            ]


def iter_members(req: LedgerRequest, page_size: int = PAGE_SIZE) -> Iterator[list[Any]]:
    """The 成员 sheet: every current member of the ledger's households, in the ledger's order
    (head first, then by id), one query per page of households. ID numbers are masked."""
    names = _place_names(req.user)
    as_of = req.as_of
    relations = {k: str(v) for k, v in RELATION_LABELS.items()}
    genders = {k: str(v) for k, v in GENDER_LABELS.items()}
    illnesses = {k: str(v) for k, v in ILLNESS_LABELS.items()}
    disabilities = {k: str(v) for k, v in DISABILITY_LABELS.items()}
    schooling = {k: str(v) for k, v in SCHOOLING_LABELS.items()}
    employment = {k: str(v) for k, v in EMPLOYMENT_LABELS.items()}
    columns = [Household.id, Household.file_no, Household.head_name, Household.place_id,
               Household.street_id, Household.county_id]
    n = 0
    for page in _pages(req, columns, page_size):
        by_household: dict[int, list[Any]] = defaultdict(list)
        for m in db.session.execute(
                sa.select(Member.household_id, Member.name, Member.relation, Member.id_mask,
                          Member.gender, Member.birth_date, Member.illness,
                          Member.disability_kind, Member.disability_grade,
                          Member.schooling_stage, Member.employment_status)
                .where(Member.household_id.in_([r.id for r in page]), Member.left_on.is_(None))
                .order_by(Member.household_id, (Member.relation != "self"), Member.id)):
            by_household[m.household_id].append(m)
        for r in page:
            community = names.get(r.place_id, "") if r.place_id not in (
                r.street_id, r.county_id) else ""
            for m in by_household.get(r.id, []):
                n += 1
                disability = ""
                if m.disability_kind:
                    disability = disabilities.get(m.disability_kind, m.disability_kind)
                    if m.disability_grade:
                        disability += _("%(n)d级", n=m.disability_grade)
                yield [
                    n, community, r.file_no or "", r.head_name, m.name,
                    relations.get(m.relation, m.relation), m.id_mask or "",
                    genders.get(m.gender or "", ""), _age(m.birth_date, as_of),
                    illnesses.get(m.illness, m.illness) if m.illness else "",
                    disability,
                    schooling.get(m.schooling_stage, m.schooling_stage)
                    if m.schooling_stage else "",
                    employment.get(m.employment_status, m.employment_status)
                    if m.employment_status else "",
                ]


def _age(birth: date | None, on: date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def title_for(req: LedgerRequest) -> str:
    return _("%(title)s（%(place)s，%(year)d年）", title=str(TITLE), place=req.user.place.name,
             year=req.year)


SHEET_PART = "xl/worksheets/sheet1.xml"
WORKBOOK_PART = "xl/workbook.xml"
MEMBERS_PART = "xl/worksheets/sheet2.xml"
HEADER_ROW = 2
FIRST_DATA_ROW = 3  # row 1: title, row 2: header
AUTOFILTER_PLACEHOLDER = 999999  # the last row of the filter, known once the rows are written


class Totals:
    """The totals row of the XLSX, summed while the rows stream past."""

    def __init__(self) -> None:
        self.households = 0
        self.members = 0
        self.amount = Decimal(0)
        self.months = [0] * 12

    def count(self, rows: Iterable[list[Any]]) -> Iterator[list[Any]]:
        for row in rows:
            self.households += 1
            self.members += row[MEMBERS_COLUMN] or 0
            self.amount += row[AMOUNT_COLUMN] or 0
            for i, v in enumerate(row[FIRST_MONTH_COLUMN:FIRST_MONTH_COLUMN + 12]):
                if isinstance(v, int):
                    self.months[i] += v
            yield row

    def row(self) -> list[Any]:
        out: list[Any] = [None] * (FIRST_MONTH_COLUMN + 12)
        out[0] = _("合计")
        out[NAME_COLUMN] = self.households
        out[MEMBERS_COLUMN] = self.members
        out[AMOUNT_COLUMN] = self.amount
        out[FIRST_MONTH_COLUMN:] = self.months
        return out


def _page_setup(ws: Any, columns: int, first_row: int) -> None:
    """A4 landscape, one page wide, the title and header rows repeated on every page, an
    autofilter on the header row and the header (and first columns) frozen."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.print_title_rows = f"1:{first_row - 1}"
    last = get_column_letter(columns)
    ws.auto_filter.ref = f"A{first_row - 1}:{last}{AUTOFILTER_PLACEHOLDER}"


def _sheet_head(ws: Any, title: str, texts: list[str], widths: list[float]) -> None:
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    cell = WriteOnlyCell(ws, value=title)
    cell.font = Font(bold=True, size=14)
    ws.append([cell])
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="E3F1EC")
    centred = Alignment(horizontal="center", vertical="center", wrap_text=True)
    header = []
    for text in texts:
        cell = WriteOnlyCell(ws, value=text)
        cell.font, cell.fill, cell.alignment = bold, fill, centred
        header.append(cell)
    ws.append(header)


def _style(ws: Any, number_format: str = "General", bold: bool = False) -> int:
    """The index of a cell style registered in the workbook, for the streamed cells."""
    cell = WriteOnlyCell(ws, value=0)
    cell.number_format = number_format
    if bold:
        cell.font = Font(bold=True)
    return cell.style_id


def write_xlsx(req: LedgerRequest, rows: Iterable[list[Any]], out: IO[bytes],
               members: Iterable[list[Any]] = ()) -> int:
    """Write the ledger workbook to out; returns the number of data rows.

    openpyxl (write-only mode) builds the workbook: styles, column widths, the frozen header,
    page setup, print titles, autofilter, the title and header rows of both sheets (台账 and
    成员). The data rows are then streamed into the sheet parts by sheet_rows(), as plain
    SpreadsheetML cells of the kinds openpyxl itself writes in write-only mode (numbers, inline
    strings): openpyxl spends about 5 µs of Python per cell, 7 s of CPU for a county of
    50,000 households (1.3 million cells), this writer a tenth of that. Memory stays flat:
    rows are consumed one at a time and the package goes to out (a spooled temporary file)
    as it is written. The totals row follows the households; the autofilter's last row, known
    only then, is written into the sheet's tail and the workbook's filter name."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_("台账"))
    # Views and page setup before the first row: a write-only sheet writes its head then.
    # The header row (row 2) and the first columns stay in view.
    ws.freeze_panes = f"{get_column_letter(FROZEN_COLUMNS + 1)}{FIRST_DATA_ROW}"
    _page_setup(ws, len(headers()), FIRST_DATA_ROW)
    _sheet_head(ws, title_for(req), headers(), column_widths())
    money = _style(ws, "0.00")
    styles = {INCOME_COLUMN: money, AMOUNT_COLUMN: money}
    total_styles = {i: _style(ws, bold=True) for i in range(FIRST_MONTH_COLUMN + 12)}
    total_styles[NAME_COLUMN] = _style(ws, '0"户"', bold=True)
    total_styles[MEMBERS_COLUMN] = _style(ws, '0"人"', bold=True)
    total_styles[AMOUNT_COLUMN] = _style(ws, "0.00", bold=True)

    wm = wb.create_sheet(title=_("成员"))
    wm.freeze_panes = f"A{FIRST_DATA_ROW}"
    _page_setup(wm, len(MEMBER_COLUMNS), FIRST_DATA_ROW)
    _sheet_head(wm, _("%(title)s 家庭成员", title=title_for(req)), member_headers(),
                [w for _h, w in MEMBER_COLUMNS])

    shell = io.BytesIO()
    wb.save(shell)
    totals = Totals()
    counts: dict[str, int] = {}

    def stream(dst: zipfile.ZipFile, info: zipfile.ZipInfo, data: bytes,
               chunks: Iterable[bytes], after: Callable[[int], bytes] | None = None) -> int:
        head, tail = data.split(b"</sheetData>", 1)
        part = zipfile.ZipInfo(info.filename, date_time=info.date_time)
        part.compress_type = zipfile.ZIP_DEFLATED
        written = 0
        with dst.open(part, "w", force_zip64=True) as sheet:
            sheet.write(head)
            for chunk in chunks:
                written += chunk.count(b"</row>")
                sheet.write(chunk)
            if after is not None:
                sheet.write(after(written))
            sheet.write(b"</sheetData>" + _filter_end(tail, FIRST_DATA_ROW - 1 + written))
        return written

    def totals_row(written: int) -> bytes:
        return b"".join(sheet_rows([totals.row()], FIRST_DATA_ROW + written, total_styles))

    with zipfile.ZipFile(shell) as src, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        workbook_part: tuple[zipfile.ZipInfo, bytes] | None = None
        for info in src.infolist():
            data = src.read(info)
            if info.filename == SHEET_PART:
                counts[SHEET_PART] = stream(dst, info, data, sheet_rows(
                    totals.count(rows), FIRST_DATA_ROW, styles), totals_row)
            elif info.filename == MEMBERS_PART:
                counts[MEMBERS_PART] = stream(dst, info, data,
                                              sheet_rows(members, FIRST_DATA_ROW, {}))
            elif info.filename == WORKBOOK_PART:
                workbook_part = (info, data)  # its filter names need the sheets' sizes
            else:
                dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
        if workbook_part is not None:
            info, data = workbook_part
            dst.writestr(info, _workbook_filters(data, counts),
                         compress_type=zipfile.ZIP_DEFLATED)
    return counts.get(SHEET_PART, 0)


_PLACEHOLDER = f"{AUTOFILTER_PLACEHOLDER}".encode()


def _filter_end(tail: bytes, last_row: int) -> bytes:
    """The sheet's tail with the autofilter ending on the last data row."""
    return tail.replace(b"$" + _PLACEHOLDER, b"$" + str(max(last_row, HEADER_ROW)).encode()) \
        .replace(_PLACEHOLDER, str(max(last_row, HEADER_ROW)).encode())


def _workbook_filters(data: bytes, counts: dict[str, int]) -> bytes:
    """workbook.xml with each sheet's _FilterDatabase name ending on its last data row."""
    text = data.decode("utf-8")
    for sheet_id, part in enumerate((SHEET_PART, MEMBERS_PART)):
        last = str(max(FIRST_DATA_ROW - 1 + counts.get(part, 0), HEADER_ROW))
        pattern = (rf'(<definedName [^>]*localSheetId="{sheet_id}"[^>]*>[^<]*?\$)'
                   rf'{AUTOFILTER_PLACEHOLDER}')
        text = re.sub(pattern, rf"\g<1>{last}", text)
    return text.encode("utf-8")


def _number(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return repr(value) if isinstance(value, float) else str(value)


def sheet_rows(rows: Iterable[list[Any]], first_row: int, styles: dict[int, int],
               batch: int = 500) -> Iterator[bytes]:
    """SpreadsheetML <row> elements for rows (None: no cell; bool, int, float, Decimal: a
    number; anything else: an inline string), in UTF-8 chunks of `batch` rows."""
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
    if req.filtered:
        # What the on-screen filters narrowed the file to; a searched ID number is not
        # written into the log, only that there was a search.
        detail["filters"] = {
            "place": req.place.code if req.place else None, "category": req.category or None,
            "search": bool(req.search), "month": req.month if req.visit else None,
            "visit": req.visit or None,
        }
    if req.full_ids:
        # Full identity and phone numbers left the system: say how many, so a reviewer of
        # the audit log sees the size of the disclosure without opening the file.
        detail["full_id_numbers"] = rows
        detail["full_phone_numbers"] = rows
    audit.record("ledger.export", target_type="place", target_id=place.id,
                 place_id=place.county_id() or place.id,
                 **detail)


def filename(req: LedgerRequest, ext: str) -> tuple[str, str]:
    """(ASCII fallback, Chinese name) of the download."""
    suffix = _("-含身份证号") if req.full_ids else ""
    where = req.place.name if req.place else req.user.place.name
    code = req.place.code if req.place else req.user.place.code
    chinese = _("%(place)s台账-%(year)d", place=where, year=req.year)
    return (f"ledger-{code}-{req.year}.{ext}", f"{chinese}{suffix}.{ext}")


def content_disposition(req: LedgerRequest, ext: str) -> str:
    ascii_name, name = filename(req, ext)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


# ---------------------------------------------------------------- the on-screen ledger

SCREEN_PAGE_SIZE = 50
SEARCH_MAX = 40


@dataclass(frozen=True)
class ScreenRow:
    n: int
    id: int
    community: str
    file_no: str
    head_name: str
    category: str
    status: str
    members_count: int
    helper: str
    visits: int | None  # valid visits in the month; None: not due that month
    enrolled_on: date | None
    exited_on: date | None
    exit_route: str


@dataclass(frozen=True)
class ScreenPage:
    rows: list[ScreenRow]
    total: int
    page: int
    pages: int
    month: int


def screen_month(req: LedgerRequest) -> int:
    """The month the screen shows visits for: the one asked for, else the current month of
    the current year or December of a past one."""
    if req.month is not None:
        return req.month
    now = current_month()
    return now if now // 100 == req.year else req.year * 100 + 12


def screen_page(req: LedgerRequest, page: int) -> ScreenPage:
    """One page of the ledger as a table: a count, the page of households in the ledger's
    order (community code, id), their visits of the month and their helpers: four queries
    whatever the page size."""
    total = count_rows(req)
    pages = max(1, -(-total // SCREEN_PAGE_SIZE))
    page = min(max(page, 1), pages)
    month = screen_month(req)
    first, last = month_first_day(month), month_last_day(month)
    names = _place_names(req.user)
    rows = db.session.execute(
        sa.select(Household.id, Household.file_no, Household.head_name, Household.category,
                  Household.status, Household.members_count, Household.place_id,
                  Household.street_id, Household.county_id, Household.enrolled_on,
                  Household.exited_on, Household.exit_route)
        .join(Place, Place.id == Household.place_id).where(req.where())
        .order_by(Place.code, Household.id)
        .offset((page - 1) * SCREEN_PAGE_SIZE).limit(SCREEN_PAGE_SIZE)).all()
    ids = [r.id for r in rows]
    counts = {hid: n for hid, n in db.session.execute(
        sa.select(Visit.household_id, sa.func.count())
        .where(Visit.household_id.in_(ids), Visit.month == month, valid_visit_clause())
        .group_by(Visit.household_id))} if ids else {}
    helpers = _helpers(ids, min(last, today_local())) if ids else {}
    out = []
    for i, r in enumerate(rows, start=(page - 1) * SCREEN_PAGE_SIZE + 1):
        due = (r.status in DEFAULT_STATUSES and r.enrolled_on is not None
               and r.enrolled_on <= last and (r.exited_on is None or r.exited_on >= first))
        community = names.get(r.place_id, "")
        out.append(ScreenRow(
            n=i, id=r.id, community=community, file_no=r.file_no or "", head_name=r.head_name,
            category=str(CATEGORY_LABELS.get(r.category, r.category)),
            status=str(STATUS_LABELS.get(r.status, r.status)), members_count=r.members_count,
            helper=helpers.get(r.id, ("", ""))[0], visits=counts.get(r.id, 0) if due else None,
            enrolled_on=r.enrolled_on, exited_on=r.exited_on,
            exit_route=str(EXIT_ROUTE_LABELS.get(r.exit_route, r.exit_route))
            if r.exit_route else ""))
    return ScreenPage(out, total, page, pages, month)


def scope_places(user: User) -> list[Place]:
    """The places a user may narrow the ledger to: their own and those below it (counties,
    streets and communities), in code order."""
    query = sa.select(Place).where(Place.level.in_(("county", "street", "community")))
    if user.place.level != "city":
        query = query.where(Place.path.startswith(user.place.path, autoescape=True))
    return list(db.session.scalars(query.order_by(Place.code)))


# ---------------------------------------------------------------- views


def _years() -> list[int]:
    this = today_local().year
    return list(range(this, FIRST_YEAR - 1, -1))


STATUS_CHOICES = ("enrolled_exited", "all", *STATUSES)


def _parse() -> LedgerRequest:
    """The request's filters, checked; a FormError (400) names what is wrong."""
    args = request.args
    raw_year = (args.get("year") or "").strip()
    if not raw_year:
        year = today_local().year
    elif not raw_year.isdigit() or int(raw_year) not in _years():
        raise FormError.of(_("年份应在 %(a)d 年至 %(b)d 年之间", a=FIRST_YEAR,
                             b=today_local().year), "year", 400)
    else:
        year = int(raw_year)
    status = args.get("status", "")
    if status not in ("", *STATUS_CHOICES):
        raise FormError.of(_("户状态选项不正确"), "status", 400)
    statuses: tuple[str, ...] | None = DEFAULT_STATUSES
    if status == "all":
        statuses = None
    elif status in STATUSES:
        statuses = (status,)
    full_ids = args.get("full_ids") in ("1", "on", "y")
    if full_ids and current_user.role not in FULL_ID_ROLES:
        abort(403)
    user = current_user._get_current_object()
    place = None
    raw_place = (args.get("place") or "").strip()
    if raw_place:
        place = db.session.get(Place, int(raw_place)) if raw_place.isdigit() else None
        if place is None or not place.is_within(user.place):
            raise FormError.of(_("所选地区不存在或不在您的管辖范围内"), "place", 400)
        if place.id == user.place.id:
            place = None
    category = (args.get("category") or "").strip()
    if category and category not in CATEGORIES:
        raise FormError.of(_("困难类别选项不正确"), "category", 400)
    search = " ".join((args.get("q") or "").split())
    if len(search) > SEARCH_MAX:
        raise FormError.of(_("搜索内容不能超过 %(n)d 个字", n=SEARCH_MAX), "q", 400)
    month = None
    raw_month = (args.get("month") or "").strip()
    if raw_month:
        if not raw_month.isdigit() or not 1 <= int(raw_month) <= 12:
            raise FormError.of(_("月份应为 1 至 12"), "month", 400)
        month = year * 100 + int(raw_month)
        if month > current_month():
            raise FormError.of(_("%(y)d年%(m)d月还没有到，请选择本月或以前的月份",
                                 y=year, m=int(raw_month)), "month", 400)
    visit = args.get("visit", "")
    if visit not in VISIT_FILTERS:
        raise FormError.of(_("走访情况选项不正确"), "visit", 400)
    req = LedgerRequest(user, year, statuses, full_ids, place=place, category=category,
                        search=search, month=month, visit=visit)
    if visit and month is None:
        req = LedgerRequest(user, year, statuses, full_ids, place=place, category=category,
                            search=search, month=screen_month(req), visit=visit)
    return req


def _filter_args() -> dict[str, str]:
    """The filters of the request, to carry into the export and page links."""
    keep = ("year", "status", "place", "category", "q", "month", "visit")
    return {k: v for k in keep if (v := (request.args.get(k) or "").strip())}


def _page_number() -> int:
    raw = (request.args.get("page") or "1").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 1


def _render(req: LedgerRequest | None, error: str | None = None, status: int = 200
            ) -> Response:
    partial = (request.headers.get("HX-Request") == "true"
               and request.headers.get("HX-History-Restore-Request") != "true")
    data = screen_page(req, _page_number()) if req is not None else None
    month = data.month if data else None
    user = current_user._get_current_object()
    response = make_response(render_template(
        "ledger/_table.html" if partial else "ledger/index.html", partial=partial,
        years=_years(), error=error, args=request.args, filter_args=_filter_args(),
        can_full_ids=current_user.role in FULL_ID_ROLES, title=str(TITLE),
        columns=headers(), member_columns=member_headers(), data=data, req=req,
        month=month, places=scope_places(user), categories=CATEGORY_LABELS,
        statuses=STATUS_LABELS, status_codes=STATUSES,
    ), status)
    response.vary.add("HX-Request")
    return response


@bp.get("/")
@role_required(*LEDGER_ROLES)
def index():
    try:
        req = _parse()
    except FormError as exc:
        return _render(None, exc.message, exc.status)
    return _render(req)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/export.xlsx")
@role_required(*LEDGER_ROLES)
def export_xlsx():
    try:
        req = _parse()
    except FormError as exc:
        return _render(None, exc.message, exc.status)
    # Built before the answer starts, so a failure is an error page and not a truncated file;
    # past 2 MB the workbook spills to disk.
    out: IO[bytes] = SpooledTemporaryFile(max_size=2 * 1024 * 1024)
    rows = write_xlsx(req, iter_rows(req), out, iter_members(req))
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
        return _render(None, exc.message, exc.status)
    # Streamed as it is built: the audit entry (with the row count of the same query) is
    # committed first, so an interrupted download is still on record.
    _audit(req, "csv", count_rows(req))
    db.session.commit()
    response = Response(stream_with_context(csv_chunks(req)), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = content_disposition(req, "csv")
    return _no_store(response)


# ---------------------------------------------------------------- the printed 附件5

ROWS_PER_SHEET = 7  # households on one A4 landscape page of the printed ledger


def _annex_request() -> LedgerRequest:
    req = _parse()
    if req.place is None or req.place.level != "community":
        raise FormError.of(_("请先选择一个社区(村)，再打印该社区的台账"), "place", 400)
    # Paper leaves the office too: masked numbers only, whatever was asked.
    return LedgerRequest(req.user, req.year, req.statuses, False, place=req.place,
                         category=req.category, search=req.search, month=req.month,
                         visit=req.visit)


@bp.get("/annex5")
@role_required(*LEDGER_ROLES)
def print_annex():
    """附件5 县(市、区)城镇困难职工居民信息台账 for one community, A4 landscape, ROWS_PER_SHEET
    households a page, the header repeated on each; audited like an export (format "print")."""
    try:
        req = _annex_request()
    except FormError as exc:
        return _render(None, exc.message, exc.status)
    rows = [dict(zip(COLUMN_KEYS, row, strict=False)) | {"months": row[FIRST_MONTH_COLUMN:]}
            for row in iter_rows(req)]
    _audit(req, "print", len(rows))
    db.session.commit()
    sheets = [rows[i:i + ROWS_PER_SHEET] for i in range(0, len(rows), ROWS_PER_SHEET)] or [[]]
    names = _place_names(req.user)
    place = req.place or req.user.place
    response = make_response(render_template(
        "printing/ledger_annex5.html", sheets=sheets, year=req.year, place=place,
        county=names.get(place.county_id() or 0, ""), street=names.get(place.street_id() or 0, ""),
        households=len(rows), members=sum(r["members"] or 0 for r in rows),
        back=url_for("ledger.index", **_filter_args()), today=today_local(),
        rows_per_sheet=ROWS_PER_SHEET))
    return _no_store(response)

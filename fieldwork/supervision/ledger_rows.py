"""The county ledger's rows (县(市、区)城镇困难职工居民信息台账): which households, which columns,
and their values, for the XLSX and CSV (supervision.ledger_xlsx), the on-screen table and the
printed 附件5 (supervision.export).

One row per household in the user's scope (access.scope.household_clause) narrowed by the
filters of a LedgerRequest, by default those enrolled or exited, ordered by community code and
household id. Rows are built page by page (keyset pagination on (community code, household
id)) with a fixed number of queries per page: the households, their valid visits per month of
the year (one grouped query), their measures in force, their assignments and their intake
cases (one query each). Never one query per row. The 成员 sheet walks the same pages with one
members query each.

The helper and the measures are those in force on the last day of the year (today for the
current year); an exited household shows the last helper it had.

The 12-month matrix: the number of valid visits (not rejected, not superseded) in each
Asia/Shanghai month of the year; "—" for a month in which no visit was due (the month ended
before enrolment, or the household exited on its first day or before: the same rule as the
compliance "due" test); blank for months still to come. Columns, sources and masking:
docs/ledger.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.access.scope import household_clause
from fieldwork.access.validity import valid_visit_clause
from fieldwork.accounts.models import User
from fieldwork.extensions import db
from fieldwork.households.constants import (
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
)
from fieldwork.households.members import age_on
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

DEFAULT_STATUSES = ("enrolled", "exited")
FIRST_YEAR = 2023  # the programme began in December 2023 (宛政办〔2023〕50号)
PAGE_SIZE = 1000
NOT_ENROLLED = "—"
MONTHLY_UNIT = "元/月"  # the measures whose amounts add up to the monthly assistance column

TITLE = _l("县(市、区)城镇困难职工居民信息台账")

# (key, header, column width in characters); the keys name the columns for templates (the
# printed 附件5 picks some of them) and give the indexes the totals row needs.
COLUMNS: list[tuple[str, Any, float]] = [
    ("n", _l("序号"), 7),
    ("county", _l("县(市、区)"), 10),
    ("street", _l("街道(乡镇)"), 12),
    ("community", _l("社区(村)"), 12),
    ("file_no", _l("档案编号"), 18),
    ("head_name", _l("户主姓名"), 9),
    ("id_number", _l("身份证号"), 21),
    ("address", _l("家庭住址"), 28),
    ("phone", _l("联系电话"), 14),
    ("members", _l("家庭人口"), 6),
    ("category", _l("困难类别"), 16),
    ("causes", _l("致困原因"), 16),
    ("channel", _l("认定渠道"), 12),
    ("income", _l("人均月收入(元)"), 10),
    ("enrolled_on", _l("纳入时间"), 11),
    ("measures", _l("帮扶措施"), 44),
    ("amount", _l("月帮扶金额(元)"), 10),
    ("helper", _l("帮扶责任人"), 10),
    ("helper_phone", _l("帮扶责任人电话"), 14),
    ("status", _l("状态"), 9),
    ("exited_on", _l("退出时间"), 11),
    ("exit_route", _l("退出方式"), 14),
]
COLUMN_KEYS = [k for k, _h, _w in COLUMNS]
MONTH_COLUMN_WIDTH = 5.5
# Indexes of columns in a row.
NAME_COLUMN = COLUMN_KEYS.index("head_name")
MEMBERS_COLUMN = COLUMN_KEYS.index("members")
INCOME_COLUMN = COLUMN_KEYS.index("income")
AMOUNT_COLUMN = COLUMN_KEYS.index("amount")
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
    return [str(h) for _k, h, _w in COLUMNS] + [_("%(m)d月", m=m) for m in range(1, 13)]


def column_widths() -> list[float]:
    return [w for _k, _h, w in COLUMNS] + [MONTH_COLUMN_WIDTH] * 12


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


def place_names(user: User) -> dict[int, str]:
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
    names = place_names(req.user)
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
                if enrolled is None or enrolled > last or (exited is not None and exited <= first):
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
    names = place_names(req.user)
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
                    genders.get(m.gender or "", ""), age_on(m.birth_date, as_of),
                    illnesses.get(m.illness, m.illness) if m.illness else "",
                    disability,
                    schooling.get(m.schooling_stage, m.schooling_stage)
                    if m.schooling_stage else "",
                    employment.get(m.employment_status, m.employment_status)
                    if m.employment_status else "",
                ]


def title_for(req: LedgerRequest) -> str:
    return _("%(title)s（%(place)s，%(year)d年）", title=str(TITLE), place=req.user.place.name,
             year=req.year)



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
    names = place_names(req.user)
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
               and r.enrolled_on <= last and (r.exited_on is None or r.exited_on > first))
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

"""Household import from XLSX: check (dry run), import (all or nothing, idempotent), undo.

`check` reads the whole file and returns a Report: every problem per sheet, row and column,
in Chinese, and what would be created, updated or left unchanged. `run` checks first; with
any problem nothing is written; otherwise, in the caller's one transaction, it creates the
new households (enrolled, file number, head and members with encrypted IDs, helper from
纳入日期) with bulk inserts, and updates households already on file in the county (same head
ID, found through the blind index) field by field, each change recorded in the file's history
(HouseholdChange, source "import"). The same file imported again changes nothing (the batch is
still recorded, with 0 created and 0 updated). `undo` removes what a batch created and
reverts what it changed, while nothing depends on it.

For speed (50,000 households, 120,000 members) everything the checks need from the database
is read up front in a few queries (communities and helpers of the county; holders of the
file's ID numbers and file numbers in chunks), never one query per row."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from fieldwork import xlsxin
from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.audit.services import cli_username
from fieldwork.audit.services import record as audit
from fieldwork.dbtypes import utcnow
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households import file_changes, members  # noqa: F401  (register change kinds)
from fieldwork.households.changes import KINDS
from fieldwork.households.constants import (
    CATEGORY_LABELS,
    CAUSE_LABELS,
    CAUSES,
    DISABILITY_LABELS,
    EMPLOYMENT_LABELS,
    ILLNESS_LABELS,
    RELATION_LABELS,
    SCHOOLING_LABELS,
)
from fieldwork.households.imports import columns as cols
from fieldwork.households.imports.models import ImportBatch
from fieldwork.households.intake.enrolment import next_file_no
from fieldwork.households.member_forms import ADD_KIND, EDIT_KIND
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    HouseholdChange,
    Member,
    PlanMeasure,
    PlatformEntry,
    WatchEntry,
)
from fieldwork.households.timeline import Event, add_provider
from fieldwork.places.coords import normalize_crs, to_wgs84, validate_lat_lon
from fieldwork.places.models import Place
from fieldwork.privacy.idnumber import (
    IdNumberError,
    gender_of,
    mask_id_number,
    validate_id_number,
)
from fieldwork.privacy.service import cipher
from fieldwork.records import parse_money, text_problem
from fieldwork.timeutil import today_local
from fieldwork.visits.models import Visit
from fieldwork.visits.services import per_capita

CHUNK = 1000
MAX_LISTED = 1000  # problems kept in a report; the rest only counted
INCOME_MAX = Decimal("1000000")
PHONE_CHARS = set("0123456789+-() ")
NAME_MAX, ADDRESS_MAX, PHONE_MAX, NOTE_MAX, FILE_NO_MAX = 64, 200, 20, 200, 32
CAUSE_SPLIT = re.compile(r"[、,，;；/\s]+")
DATE_FORMS = (re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
              re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
              re.compile(r"^(\d{4})(\d{2})(\d{2})$"))
LOCALE = "zh_Hans_CN"


# ---------------------------------------------------------------- the report

@dataclass(frozen=True)
class Problem:
    sheet: str
    row: int  # Excel row number (0: the whole sheet)
    column: str  # the column's header ("" for the whole row)
    message: str


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    extra: list[tuple[str, str]] = field(default_factory=list)  # (sheet, header) ignored
    households: int = 0  # rows of 家庭
    member_rows: int = 0  # rows of 成员
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    members: int = 0  # members that would be (were) created
    batch_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, sheet: str, row: int, column: str, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(Problem(sheet, row, column, message))

    def summary(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "members": self.members}


# ---------------------------------------------------------------- parsed rows

@dataclass(slots=True)
class HouseholdRow:
    row: int
    file_no: str
    place_id: int | None
    head_name: str
    number: str  # the head's ID number, validated ("" when invalid)
    index: str
    category: str
    causes: list[str]
    address: str
    phone: str
    income: Decimal | None
    enrolled_on: date | None
    helper_id: int | None
    lat: float | None
    lon: float | None
    crs: str | None
    members: list[MemberRow] = field(default_factory=list)
    head_facts: MemberRow | None = None
    target_id: int | None = None  # the household on file it updates


@dataclass(slots=True)
class MemberRow:
    row: int
    head_index: str
    name: str
    number: str
    index: str
    relation: str
    birth_date: date | None
    illness: str
    disability_kind: str
    disability_grade: int | None
    schooling_stage: str
    boarding: bool
    employment_status: str
    monthly_income: Decimal | None
    note: str


def _vocab(labels: dict[str, Any]) -> dict[str, str]:
    """Label (Chinese, as the template lists it, or as the user's language shows it) or code
    → code, compared after normalise_header."""
    out: dict[str, str] = {}
    for code, label in labels.items():
        if code:
            out[xlsxin.normalise_header(code).lower()] = code
        out[xlsxin.normalise_header(str(label))] = code
        with force_locale(LOCALE):
            out[xlsxin.normalise_header(str(label))] = code
    return out


class _Vocabs:
    def __init__(self) -> None:
        self.category = _vocab(CATEGORY_LABELS)
        self.cause = _vocab(CAUSE_LABELS)
        self.relation = _vocab(RELATION_LABELS)
        self.illness = _vocab(ILLNESS_LABELS)
        self.disability = _vocab(DISABILITY_LABELS)
        self.schooling = _vocab(SCHOOLING_LABELS)
        self.employment = _vocab(EMPLOYMENT_LABELS)
        # "无" / "未填" / blank mean the empty code.
        for v in (self.illness, self.disability, self.schooling, self.employment):
            v.setdefault("", "")

    @staticmethod
    def look(vocab: dict[str, str], text: str) -> str | None:
        key = xlsxin.normalise_header(text)
        return vocab.get(key, vocab.get(key.lower()))


def _birth(number: str) -> date:
    """The birth date of an already validated ID number."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def parse_date(text: str) -> date | None:
    for form in DATE_FORMS:
        m = form.match(text)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------- the county's look-ups

@dataclass
class CountyData:
    county: Place
    communities_by_code: dict[str, Place]
    communities_by_name: dict[str, list[Place]]
    helpers: dict[str, User]  # active helpers of the county by username


def county_data(county: Place) -> CountyData:
    communities = list(db.session.scalars(sa.select(Place).where(
        Place.level == "community", Place.path.startswith(county.path, autoescape=True))))
    by_name: dict[str, list[Place]] = {}
    for p in communities:
        by_name.setdefault(xlsxin.normalise_header(p.name), []).append(p)
    helpers = {u.username: u for u in db.session.scalars(
        sa.select(User).join(Place, Place.id == User.place_id)
        .where(User.role == roles.HELPER, User.active.is_(True),
               Place.path.startswith(county.path, autoescape=True)))}
    return CountyData(county, {p.code: p for p in communities}, by_name, helpers)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


# ---------------------------------------------------------------- reading the sheets

class _Reader:
    """Parses the rows of both sheets into HouseholdRow / MemberRow, reporting per cell."""

    def __init__(self, report: Report, data: CountyData, today: date) -> None:
        self.report = report
        self.data = data
        self.today = today
        self.v = _Vocabs()
        self.blind = cipher().blind_index
        # The heads' ID numbers as the 家庭 sheet gave them: the 成员 sheet repeats them on
        # every member row (text -> (number, blind index)); other IDs are not kept.
        self._heads: dict[str, tuple[str, str]] = {}

    def cell(self, sheet: str, row: int, header: str, text: str) -> str | None:
        """The text, or None (reported) when the cell holds a formula."""
        if text.startswith("="):
            self.report.add(sheet, row, header, _("单元格含公式，请直接填写内容（不要使用公式）"))
            return None
        return text

    def id_number(self, sheet: str, row: int, header: str, text: str) -> str:
        number, message = self._check_id(text)
        if message:
            self.report.add(sheet, row, header, message)
        return number

    def _check_id(self, text: str) -> tuple[str, str]:
        if xlsxin.is_scientific(text) or (text.isdigit() and len(text) in (15, 16, 17)
                                          and text.endswith("0")):
            return "", _("身份证号被 Excel 存成了数字（%(text)s），末几位已丢失；请把该列设为文本"
                         "格式后重新填写", text=text)
        try:
            return validate_id_number(text, today=self.today), ""
        except IdNumberError as exc:
            return "", exc.message

    def text(self, sheet: str, row: int, header: str, text: str, limit: int, *,
             required: bool = False) -> str:
        if required and not text:
            self.report.add(sheet, row, header, _("必填项“%(h)s”未填写", h=header))
        elif len(text) > limit:
            self.report.add(sheet, row, header, _("“%(h)s”不能超过 %(n)d 个字", h=header,
                                                    n=limit))
        elif text and (problem := text_problem(text)) is not None:
            self.report.add(sheet, row, header, problem)
        return text[:limit]

    def _past_day(self, rep: Report, sheet: str, row: int, header: str, text: str
                  ) -> date | None:
        """A date cell that cannot lie in the future (纳入日期, 出生日期); None, with the
        problem reported, when it is unreadable or after today."""
        day = parse_date(text)
        if day is None:
            rep.add(sheet, row, header, _("%(h)s“%(v)s”无法识别，格式应为 2024-03-01",
                                          h=header, v=text))
        elif day > self.today:
            rep.add(sheet, row, header, _("%(h)s不能晚于今天", h=header))
            return None
        return day

    def household(self, row: int, values: list[str], columns: list[xlsxin.Column]) -> HouseholdRow:
        sheet, rep = cols.HOUSEHOLD_SHEET, self.report
        h = {c.key: c.header for c in columns}
        raw: dict[str, str] = {}
        for c, text in zip(columns, values, strict=True):
            cell = self.cell(sheet, row, c.header, text)
            raw[c.key] = "" if cell is None else cell
            if cell is None:
                raw[c.key + "!"] = "formula"
        bad = set(k[:-1] for k in raw if k.endswith("!"))

        def need(key: str) -> str:
            if not raw[key] and key not in bad:
                rep.add(sheet, row, h[key], _("必填项“%(h)s”未填写", h=h[key]))
            return raw[key]

        file_no = raw["file_no"]
        if len(file_no) > FILE_NO_MAX:
            rep.add(sheet, row, h["file_no"], _("档案编号不能超过 %(n)d 个字符", n=FILE_NO_MAX))
            file_no = ""
        place_id = None
        community = need("community")
        if community:
            place = self.data.communities_by_code.get(community)
            if place is None:
                found = self.data.communities_by_name.get(xlsxin.normalise_header(community), [])
                if len(found) > 1:
                    rep.add(sheet, row, h["community"], _(
                        "本县有 %(n)d 个名为“%(name)s”的社区，请改填行政区划代码", n=len(found),
                        name=community))
                elif found:
                    place = found[0]
                else:
                    rep.add(sheet, row, h["community"], _(
                        "社区“%(name)s”不存在或不属于%(county)s", name=community,
                        county=self.data.county.name))
            if place is not None:
                place_id = place.id
        head_name = self.text(sheet, row, h["head_name"], raw["head_name"], NAME_MAX,
                              required="head_name" not in bad)
        number = ""
        if need("head_id"):
            number = self.id_number(sheet, row, h["head_id"], raw["head_id"])
        category = ""
        if need("category"):
            category = self.v.look(self.v.category, raw["category"]) or ""
            if not category:
                rep.add(sheet, row, h["category"], _("困难类别“%(v)s”不在类别目录中",
                                                      v=raw["category"]))
        causes: list[str] = []
        if need("causes"):
            for part in CAUSE_SPLIT.split(raw["causes"]):
                if not part:
                    continue
                code = self.v.look(self.v.cause, part)
                if code is None:
                    rep.add(sheet, row, h["causes"], _("致困原因“%(v)s”不在目录中", v=part))
                elif code not in causes:
                    causes.append(code)
            causes = [c for c in CAUSES if c in causes]
        address = self.text(sheet, row, h["address"], raw["address"], ADDRESS_MAX,
                            required="address" not in bad)
        phone = raw["phone"]
        if phone and (len(phone) > PHONE_MAX or not set(phone) <= PHONE_CHARS):
            rep.add(sheet, row, h["phone"], _("联系电话只能包含数字和 + - ( )，不超过 %(n)d 位",
                                               n=PHONE_MAX))
            phone = ""
        income = None
        if raw["income"]:
            income = parse_money(raw["income"].removesuffix("元"))
            if income is None:
                rep.add(sheet, row, h["income"], _("人均月收入“%(v)s”不是数字", v=raw["income"]))
            elif income < 0 or income >= INCOME_MAX:
                rep.add(sheet, row, h["income"],
                        _("人均月收入应为 0 到 999999.99 之间的金额（元）"))
                income = None
        enrolled_on = None
        if need("enrolled_on"):
            enrolled_on = self._past_day(rep, sheet, row, h["enrolled_on"], raw["enrolled_on"])
            if enrolled_on is not None and enrolled_on.year < 2000:
                rep.add(sheet, row, h["enrolled_on"], _("纳入日期不能早于2000年"))
                enrolled_on = None
        helper_id = None
        if raw["helper"]:
            helper = self.data.helpers.get(raw["helper"])
            if helper is None:
                rep.add(sheet, row, h["helper"], _(
                    "帮扶责任人账号“%(v)s”不存在、已停用或不是本县的帮扶责任人", v=raw["helper"]))
            else:
                helper_id = helper.id
        lat = lon = None
        crs = None
        if raw["lat"] or raw["lon"]:
            try:
                if not (raw["lat"] and raw["lon"]):
                    raise ValueError(_("纬度和经度须同时填写"))
                lat, lon = validate_lat_lon(raw["lat"], raw["lon"])
                crs = normalize_crs(raw["crs"] or "wgs84")
                lat, lon = to_wgs84(lat, lon, crs)
            except ValueError as exc:
                column = h["crs"] if "坐标系" in str(exc) else h["lat"]
                rep.add(sheet, row, column, str(exc))
                lat = lon = None
                crs = None
        elif raw["crs"]:
            try:
                normalize_crs(raw["crs"])
            except ValueError as exc:
                rep.add(sheet, row, h["crs"], str(exc))
        index = self.blind(number) if number else ""
        if number:
            self._heads.setdefault(raw["head_id"], (number, index))
        return HouseholdRow(row, file_no, place_id, head_name, number, index, category, causes,
                            address, phone, income, enrolled_on, helper_id, lat, lon, crs)

    def member(self, row: int, values: list[str], columns: list[xlsxin.Column]) -> MemberRow:
        sheet, rep, v = cols.MEMBER_SHEET, self.report, self.v
        h = {c.key: c.header for c in columns}
        raw: dict[str, str] = {}
        bad: set[str] = set()
        for c, text in zip(columns, values, strict=True):
            cell = self.cell(sheet, row, c.header, text)
            raw[c.key] = "" if cell is None else cell
            if cell is None:
                bad.add(c.key)
        head_index = ""
        if raw["head_id"]:
            known = self._heads.get(raw["head_id"])
            if known is not None:
                head_index = known[1]
            else:
                head_number = self.id_number(sheet, row, h["head_id"], raw["head_id"])
                head_index = self.blind(head_number) if head_number else ""
        elif "head_id" not in bad:
            rep.add(sheet, row, h["head_id"], _("必填项“%(h)s”未填写", h=h["head_id"]))
        name = self.text(sheet, row, h["name"], raw["name"], NAME_MAX,
                         required="name" not in bad)
        number = ""
        if raw["id_number"]:
            number = self.id_number(sheet, row, h["id_number"], raw["id_number"])
        relation = ""
        if raw["relation"]:
            relation = v.look(v.relation, raw["relation"]) or ""
            if not relation:
                rep.add(sheet, row, h["relation"], _("与户主关系“%(v)s”不在目录中",
                                                      v=raw["relation"]))
        elif "relation" not in bad:
            rep.add(sheet, row, h["relation"], _("必填项“%(h)s”未填写", h=h["relation"]))
        birth = None
        if number:
            birth = _birth(number)
        elif raw["birth_date"]:
            birth = self._past_day(rep, sheet, row, h["birth_date"], raw["birth_date"])
        elif not raw["id_number"] and "id_number" not in bad:
            rep.add(sheet, row, h["id_number"], _("未填写身份证号时（如尚未登记户口的新生儿），"
                                                   "请填写出生日期"))

        def choice(key: str, vocab: dict[str, str], label: str) -> str:
            text = raw[key]
            if not text or text in ("无", "未填", "否"):
                return ""
            code = v.look(vocab, text)
            if code is None:
                rep.add(sheet, row, h[key], _("%(label)s“%(v)s”不在目录中", label=label, v=text))
                return ""
            return code

        illness = choice("illness", v.illness, h["illness"])
        kind = choice("disability_kind", v.disability, h["disability_kind"])
        grade = None
        if raw["disability_grade"]:
            grade = cols.GRADES.get(raw["disability_grade"])
            if grade is None:
                rep.add(sheet, row, h["disability_grade"], _("残疾等级应为一级到四级"))
            elif not kind:
                rep.add(sheet, row, h["disability_grade"], _("未填写残疾类别时不能填写残疾等级"))
        elif kind and kind != "unspecified":
            rep.add(sheet, row, h["disability_grade"], _("请按残疾人证填写残疾等级"))
        stage = choice("schooling_stage", v.schooling, h["schooling_stage"])
        boarding = False
        if raw["boarding"]:
            if raw["boarding"] in (cols.YES, "Y", "y", "1", "TRUE", "true"):
                boarding = True
            elif raw["boarding"] not in (cols.NO, "N", "n", "0", "FALSE", "false"):
                rep.add(sheet, row, h["boarding"], _("“是否寄宿”请填“是”或“否”"))
            if boarding and not stage:
                rep.add(sheet, row, h["boarding"], _("未在学的成员不能是寄宿生"))
        employment = choice("employment_status", v.employment, h["employment_status"])
        income = None
        if raw["monthly_income"]:
            income = parse_money(raw["monthly_income"].removesuffix("元"))
            if income is None:
                rep.add(sheet, row, h["monthly_income"], _("月收入“%(v)s”不是数字",
                                                            v=raw["monthly_income"]))
            elif income < 0 or income >= INCOME_MAX:
                rep.add(sheet, row, h["monthly_income"],
                        _("月收入应为 0 到 999999.99 之间的金额（元）"))
                income = None
        note = self.text(sheet, row, h["note"], raw["note"], NOTE_MAX)
        return MemberRow(row, head_index, name, number,
                         self.blind(number) if number else "", relation, birth, illness, kind,
                         grade, stage, boarding, employment, income, note)


def _read(wb: Any, sheet_name: str, columns: list[xlsxin.Column], report: Report,
          max_rows: int) -> Iterator[tuple[int, list[str]]] | None:
    """The rows of a sheet, or None (reported) when required headers are missing."""
    ws = xlsxin.get_sheet(wb, sheet_name)
    result = xlsxin.SheetRows()
    rows = xlsxin.iter_sheet(ws, columns, max_rows=max_rows, result=result)
    first = next(rows, None)  # the header is read with the first row
    report.extra.extend((sheet_name, e) for e in result.extra)
    for header in result.missing:
        report.add(sheet_name, result.header_row, header, _("缺少必填列“%(h)s”", h=header))
    if result.missing:
        for _row in rows:  # still counted against the row limit
            pass
        return None

    def all_rows() -> Iterator[tuple[int, list[str]]]:
        if first is not None:
            yield first
            yield from rows

    return all_rows()


# ---------------------------------------------------------------- check

@dataclass
class Plan:
    """What a checked file would do (kept for `run`)."""

    report: Report
    new: list[HouseholdRow]
    updates: list[tuple[HouseholdRow, list[tuple[str, Member | None, dict, dict]]]]


def check(data: bytes, county: Place, *, today: date | None = None) -> Report:
    """The dry run: every problem of the file and what it would do. Writes nothing.
    Raises xlsxin.XlsxRefused when the file itself is refused."""
    return _plan(data, county, today=today or today_local()).report


def _plan(data: bytes, county: Place, *, today: date) -> Plan:
    report = Report()
    wb = xlsxin.open_xlsx(data, **xlsxin.configured_limits())
    try:
        return _plan_workbook(wb, county, report, today)
    except xlsxin.XlsxRefused:
        raise
    except (KeyError, ValueError, TypeError, OSError, EOFError) as exc:
        # a sheet whose XML is broken half-way through
        current_app.logger.warning("import: unreadable sheet: %r", exc)
        raise xlsxin.XlsxRefused(_("文件内容已损坏，无法读取。请在 Excel 中重新保存后再上传。")) \
            from None
    finally:
        wb.close()


def _plan_workbook(wb: Any, county: Place, report: Report, today: date) -> Plan:
    max_rows = current_app.config["IMPORT_MAX_ROWS"]
    data = county_data(county)
    reader = _Reader(report, data, today)
    hh_columns, m_columns = cols.household_columns(), cols.member_columns()
    # Both sheets must exist before anything else is said.
    xlsxin.get_sheet(wb, cols.HOUSEHOLD_SHEET)
    xlsxin.get_sheet(wb, cols.MEMBER_SHEET)
    households: list[HouseholdRow] = []
    rows = _read(wb, cols.HOUSEHOLD_SHEET, hh_columns, report, max_rows)
    if rows is not None:
        for number, values in rows:
            households.append(reader.household(number, values, hh_columns))
    member_rows: list[MemberRow] = []
    rows = _read(wb, cols.MEMBER_SHEET, m_columns, report, max_rows)
    if rows is not None:
        for number, values in rows:
            member_rows.append(reader.member(number, values, m_columns))
    report.households, report.member_rows = len(households), len(member_rows)
    if not households and rows is not None and report.ok:
        report.add(cols.HOUSEHOLD_SHEET, 0, "", _("“家庭”表中没有任何数据"))
    _link(households, member_rows, report)
    _against_database(households, member_rows, data, report)
    if not report.ok:
        return Plan(report, [], [])
    new = [hh for hh in households if hh.target_id is None]
    report.created = len(new)
    report.members = sum(1 + len([m for m in hh.members if m.relation != "self"]) for hh in new)
    updates = _diff([hh for hh in households if hh.target_id is not None], today, report)
    if not report.ok:
        return Plan(report, [], [])
    report.unchanged = len(households) - len(new) - len(updates)
    report.updated = len(updates)
    return Plan(report, new, updates)


M, H = cols.MEMBER_SHEET, cols.HOUSEHOLD_SHEET


def _link(households: list[HouseholdRow], member_rows: list[MemberRow], report: Report) -> None:
    """Duplicates inside the file, and each member row to its household row."""
    heads: dict[str, HouseholdRow] = {}
    seen_ids: dict[str, tuple[str, int]] = {}  # index -> (sheet, row) where it first appears
    file_nos: dict[str, int] = {}
    for hh in households:
        if hh.index:
            if hh.index in heads:
                report.add(H, hh.row, "户主身份证号", _(
                    "户主身份证号与第 %(n)d 行重复（同一户主登记了两次）", n=heads[hh.index].row))
            else:
                heads[hh.index] = hh
                seen_ids[hh.index] = (H, hh.row)
        if hh.file_no:
            if hh.file_no in file_nos:
                report.add(H, hh.row, "档案编号", _("档案编号与第 %(n)d 行重复",
                                                    n=file_nos[hh.file_no]))
            else:
                file_nos[hh.file_no] = hh.row
    for m in member_rows:
        owner = heads.get(m.head_index) if m.head_index else None
        if m.head_index and owner is None:
            report.add(M, m.row, "户主身份证号", _("“家庭”表中没有该户主身份证号的家庭"))
        if m.index:
            first = seen_ids.get(m.index)
            if first is not None and not (first[0] == H and owner is not None and
                                          first[1] == owner.row and m.relation == "self"):
                report.add(M, m.row, "身份证号", _(
                    "身份证号与“%(sheet)s”表第 %(n)d 行重复", sheet=first[0], n=first[1]))
                continue
            if first is None:
                seen_ids[m.index] = (M, m.row)
        if owner is None:
            continue
        if m.relation == "self":
            if m.index and m.index == owner.index and owner.head_facts is None:
                owner.head_facts = m
            else:
                report.add(M, m.row, "与户主关系", _(
                    "一户只能有一位户主：户主已在“家庭”表登记，成员表中的户主行须与其身份证号相同"))
            continue
        owner.members.append(m)


def _holders(indexes: list[str]) -> dict[str, tuple[int, int, str, str]]:
    """Current members holding these blind indexes: index -> (household id, county id,
    relation, place name)."""
    out: dict[str, tuple[int, int, str, str]] = {}
    for chunk in _chunks(indexes):
        for index, hh_id, county_id, relation, place in db.session.execute(
                sa.select(Member.id_index, Member.household_id, Household.county_id,
                          Member.relation, Place.name)
                .join(Household, Household.id == Member.household_id)
                .join(Place, Place.id == Household.place_id)
                .where(Member.id_index.in_(chunk), Member.left_on.is_(None))):
            if index is not None:
                out[index] = (hh_id, county_id, relation, place)
    return out


def _against_database(households: list[HouseholdRow], member_rows: list[MemberRow],
                      data: CountyData, report: Report) -> None:
    county_id = data.county.id
    indexes = [hh.index for hh in households if hh.index]
    indexes += [m.index for m in member_rows if m.index]
    holders = _holders(indexes)
    for hh in households:
        held = holders.get(hh.index) if hh.index else None
        if held is None:
            continue
        hh_id, hh_county, relation, place = held
        if hh_county != county_id:
            report.add(H, hh.row, "户主身份证号", _(
                "该身份证号已是%(place)s一户的在册成员（不在本县），不能重复登记", place=place))
        elif relation != "self":
            report.add(H, hh.row, "户主身份证号", _(
                "该身份证号已是本县%(place)s另一户的家庭成员（不是户主），不能登记为户主",
                place=place))
        else:
            hh.target_id = hh_id
    by_head = {hh.index: hh for hh in households if hh.index}
    for m in member_rows:
        held = holders.get(m.index) if m.index else None
        if held is None:
            continue
        hh_id, hh_county, _relation, place = held
        own = by_head.get(m.head_index)
        if own is not None and own.target_id == hh_id:
            continue  # already a member of the household the row updates
        if hh_county != county_id:
            report.add(M, m.row, "身份证号", _(
                "该身份证号已是%(place)s一户的在册成员（不在本县），不能重复登记", place=place))
        else:
            report.add(M, m.row, "身份证号", _(
                "该身份证号已是本县%(place)s另一户的在册成员，不能重复登记", place=place))
    given = [hh.file_no for hh in households if hh.file_no]
    taken: dict[str, int] = {}
    for chunk in _chunks(given):
        taken.update((no, hid) for no, hid in db.session.execute(
            sa.select(Household.file_no, Household.id).where(Household.file_no.in_(chunk)))
            if no is not None)
    for hh in households:
        if hh.file_no and hh.file_no in taken and taken[hh.file_no] != hh.target_id:
            report.add(H, hh.row, "档案编号", _("档案编号“%(no)s”已被另一户使用", no=hh.file_no))


# ---------------------------------------------------------------- updates of files on record

def _member_after(m: MemberRow, joined: date | None) -> dict[str, Any]:
    """A member_add's `after` (FIELDS), the ID encrypted as members.py keeps it."""
    enc = index = mask = None
    gender = None
    if m.number:
        enc, index, mask = cipher().encrypt(m.number), m.index, mask_id_number(m.number)
        gender = gender_of(m.number)
    return {
        "name": m.name, "relation": m.relation, "id_enc": enc, "id_index": index,
        "id_mask": mask, "gender": gender,
        "birth_date": m.birth_date.isoformat() if m.birth_date else None,
        "joined_on": joined.isoformat() if joined else None, "illness": m.illness,
        "disability_kind": m.disability_kind, "disability_grade": m.disability_grade,
        "schooling_stage": m.schooling_stage, "boarding": m.boarding,
        "employment_status": m.employment_status,
        "monthly_income": str(m.monthly_income) if m.monthly_income is not None else None,
        "note": m.note,
    }


EDITABLE = ("name", "relation", "illness", "disability_kind", "disability_grade",
            "schooling_stage", "boarding", "employment_status", "monthly_income", "note")


def _facts(m: Member) -> dict[str, Any]:
    return {"name": m.name, "relation": m.relation, "illness": m.illness or "",
            "disability_kind": m.disability_kind or "", "disability_grade": m.disability_grade,
            "schooling_stage": m.schooling_stage or "", "boarding": bool(m.boarding),
            "employment_status": m.employment_status or "",
            "monthly_income": str(m.monthly_income) if m.monthly_income is not None else None,
            "note": m.health or ""}


def _row_facts(m: MemberRow) -> dict[str, Any]:
    return {"name": m.name, "relation": m.relation, "illness": m.illness,
            "disability_kind": m.disability_kind, "disability_grade": m.disability_grade,
            "schooling_stage": m.schooling_stage, "boarding": m.boarding,
            "employment_status": m.employment_status,
            "monthly_income": str(m.monthly_income) if m.monthly_income is not None else None,
            "note": m.note}


Diff = list[tuple[str, Member | None, dict, dict]]


def _diff(rows: list[HouseholdRow], today: date,
          report: Report) -> list[tuple[HouseholdRow, Diff]]:
    """For each household already on file, the changes the file makes: (kind, member,
    before, after), only what differs. Loaded in chunks (households and their members)."""
    out: list[tuple[HouseholdRow, Diff]] = []
    by_id = {hh.target_id: hh for hh in rows}
    ids = list(by_id)
    for chunk in _chunks(ids):
        files = {h.id: h for h in db.session.scalars(
            sa.select(Household).where(Household.id.in_(chunk)))}
        members_of: dict[int, list[Member]] = {}
        for m in db.session.scalars(sa.select(Member).where(
                Member.household_id.in_(chunk), Member.left_on.is_(None))
                .order_by(Member.id)):
            members_of.setdefault(m.household_id, []).append(m)
        for hid in chunk:
            row, hh = by_id[hid], files[hid]
            changes = _household_diff(row, hh, members_of.get(hid, []), report)
            if changes:
                out.append((row, changes))
    return out


def _household_diff(row: HouseholdRow, hh: Household, current: list[Member],
                    report: Report) -> Diff:
    d: Diff = []
    if row.file_no and hh.file_no and row.file_no != hh.file_no:
        report.add(H, row.row, "档案编号", _("该户已在册，档案编号为“%(no)s”，与文件中的不一致",
                                            no=hh.file_no))
    place = db.session.get(Place, row.place_id) if row.place_id else None
    if place is not None and (row.address != hh.address or place.id != hh.place_id):
        d.append(("address", None, KINDS["address"].snapshot(hh, None),
                  {"address": row.address, "place_id": place.id, "place": place.name}))
    if row.category and row.category != hh.category:
        d.append(("category", None, KINDS["category"].snapshot(hh, None),
                  {"category": row.category,
                   "groups": [g for g in hh.groups or [] if g != row.category]}))
    if row.causes and row.causes != list(hh.causes or []):
        d.append(("causes", None, KINDS["causes"].snapshot(hh, None), {"causes": row.causes}))
    if (row.phone or "") != (hh.phone or ""):
        d.append(("phone", None, KINDS["phone"].snapshot(hh, None), {"phone": row.phone}))
    if row.income is not None and row.income != hh.per_capita_income:
        d.append(("income", None, KINDS["income"].snapshot(hh, None),
                  {"per_capita_income": f"{row.income:.2f}"}))
    if row.lat is not None and row.lon is not None and (
            hh.ref_lat is None or hh.ref_lon is None or abs(hh.ref_lat - row.lat) > 1e-7
            or abs(hh.ref_lon - row.lon) > 1e-7):
        d.append(("reference", None, KINDS["reference"].snapshot(hh, None),
                  {"lat": row.lat, "lon": row.lon, "source": "manual",
                   "crs": row.crs or "wgs84"}))
    md: Diff = []  # member changes first: they recompute the per-capita income
    by_index = {m.id_index: m for m in current if m.id_index}
    by_name = {(m.name, m.birth_date): m for m in current if not m.id_index}
    head = next((m for m in current if m.relation == "self"), None)
    head_row = row.head_facts
    if head is not None:
        if head_row is not None:
            after = _row_facts(head_row)
        else:
            after = {**_facts(head), "name": row.head_name}
        after["name"] = row.head_name
        before = _facts(head)
        changed = {k: after[k] for k in EDITABLE if after[k] != before[k]}
        if changed:
            md.append((EDIT_KIND, head, {k: before[k] for k in changed}, changed))
    for m in row.members:
        existing = by_index.get(m.index) if m.index else by_name.get((m.name, m.birth_date))
        if existing is None:
            md.append((ADD_KIND, None, {}, _member_after(m, hh.enrolled_on or today_local())))
            report.members += 1
            continue
        before = _facts(existing)
        after = _row_facts(m)
        changed = {k: after[k] for k in EDITABLE if after[k] != before[k]}
        if changed:
            md.append((EDIT_KIND, existing, {k: before[k] for k in changed}, changed))
    return md + d


# ---------------------------------------------------------------- the real run

def run(data: bytes, county: Place, *, user: User | None, filename: str = "",
        today: date | None = None) -> Report:
    """Check, then (when the file has no problem) import, in the caller's transaction
    (flushed, not committed). A report with problems means nothing was written."""
    today = today or today_local()
    plan = _plan(data, county, today=today)
    report = plan.report
    if not report.ok:
        return report
    batch = ImportBatch(county_id=county.id, created_by_id=user.id if user else None,
                        filename=(filename or "")[:200], sha256=hashlib.sha256(data).hexdigest(),
                        state="applied", **report.summary())
    db.session.add(batch)
    db.session.flush()
    _create(plan.new, county, batch, user, today)
    batch.change_ids = _update(plan.updates, batch, user)
    audit("household.import", target_type="import_batch", target_id=batch.id,
          place_id=county.id, user=user, username=None if user else cli_username(),
          filename=batch.filename, sha256=batch.sha256, **report.summary())
    db.session.flush()
    report.batch_id = batch.id
    return report


def _file_numbers(new: list[HouseholdRow], county: Place) -> Iterator[str]:
    """File numbers for the rows, given or made as enrolment makes them (per year)."""
    given = {hh.file_no for hh in new if hh.file_no}
    next_n: dict[int, int] = {}
    for hh in new:
        if hh.file_no:
            yield hh.file_no
            continue
        year = hh.enrolled_on.year if hh.enrolled_on else today_local().year
        prefix = f"{county.code}-{year}-"
        if year not in next_n:
            next_n[year] = int(next_file_no(county, year)[len(prefix):])
        while True:
            candidate = f"{prefix}{next_n[year]:05d}"
            next_n[year] += 1
            if candidate not in given:
                break
        yield candidate


def _create(new: list[HouseholdRow], county: Place, batch: ImportBatch, user: User | None,
            today: date) -> None:
    if not new:
        return
    now = utcnow()
    encrypt = cipher().encrypt
    streets = {p.id: p.street_id() for p in db.session.scalars(
        sa.select(Place).where(Place.id.in_({hh.place_id for hh in new})))}
    numbers = _file_numbers(new, county)
    reason = _("批量导入（批次 %(n)d）时结对帮扶", n=batch.id)
    file_nos: list[str] = []
    # Core executemany (no RETURNING, no ORM bookkeeping): the ids are read back by file
    # number in one query afterwards.
    for chunk in _chunks(new):
        rows = []
        for hh in chunk:
            count = 1 + len(hh.members)
            intake = hh.income * count if hh.income is not None else None
            file_no = next(numbers)
            file_nos.append(file_no)
            located = hh.lat is not None
            rows.append({
                "file_no": file_no, "head_name": hh.head_name, "phone": hh.phone or None,
                "employer": "", "person_type": None, "address": hh.address,
                "place_id": hh.place_id, "county_id": county.id,
                "street_id": streets.get(hh.place_id), "category": hh.category, "groups": [],
                "causes": hh.causes, "status": "enrolled", "members_count": count,
                "intake_income": intake, "per_capita_income": per_capita(intake, count),
                "ref_lat": hh.lat, "ref_lon": hh.lon,
                "ref_source": "manual" if located else None,
                "ref_source_crs": hh.crs if located else None, "ref_confirmed": located,
                "ref_updated_at": now if located else None, "notes": "", "version": 1,
                "created_at": now, "updated_at": now, "enrolled_on": hh.enrolled_on,
                "import_batch_id": batch.id,
            })
        db.session.execute(sa.insert(cast(sa.Table, Household.__table__)), rows)
    ids = {no: hid for no, hid in db.session.execute(
        sa.select(Household.file_no, Household.id).where(Household.import_batch_id == batch.id))}
    for start in range(0, len(new), CHUNK):
        member_rows, assignments = [], []
        for hh, file_no in zip(new[start:start + CHUNK], file_nos[start:start + CHUNK],
                               strict=True):
            hid = ids[file_no]
            head = hh.head_facts or MemberRow(
                hh.row, hh.index, hh.head_name, hh.number, hh.index, "self",
                _birth(hh.number), "", "", None, "", False, "", None, "")
            head_row = _member_dict(hid, head, hh.enrolled_on, encrypt)
            head_row["name"] = hh.head_name
            member_rows.append(head_row)
            member_rows.extend(_member_dict(hid, m, hh.enrolled_on, encrypt)
                               for m in hh.members)
            if hh.helper_id is not None:
                assignments.append({"household_id": hid, "helper_id": hh.helper_id,
                                    "start_date": hh.enrolled_on, "end_date": None,
                                    "reason": reason,
                                    "assigned_by_id": user.id if user else None,
                                    "created_at": now})
        db.session.execute(sa.insert(cast(sa.Table, Member.__table__)), member_rows)
        if assignments:
            db.session.execute(sa.insert(cast(sa.Table, Assignment.__table__)), assignments)


def _member_dict(household_id: int, m: MemberRow, joined: date | None,
                 encrypt: Any) -> dict[str, Any]:
    return {
        "household_id": household_id, "name": m.name, "relation": m.relation,
        "gender": ("male" if int(m.number[16]) % 2 else "female") if m.number else None,
        "birth_date": m.birth_date,
        "id_enc": encrypt(m.number) if m.number else None, "id_index": m.index or None,
        "id_mask": mask_id_number(m.number) if m.number else None, "health": m.note,
        "monthly_income": m.monthly_income, "illness": m.illness,
        "disability_kind": m.disability_kind, "disability_grade": m.disability_grade,
        "schooling_stage": m.schooling_stage, "boarding": m.boarding,
        "employment_status": m.employment_status, "joined_on": joined, "left_on": None,
        "left_reason": "",
    }


def _update(updates: list[tuple[HouseholdRow, Diff]], batch: ImportBatch,
            user: User | None) -> list[int]:
    """Apply each change through its registered kind, recorded in the file's history."""
    reason = _("批量导入（批次 %(n)d）", n=batch.id)
    ids: list[int] = []
    for row, diff in updates:
        hh = db.session.get(Household, row.target_id)
        if hh is None:  # removed since the check, in this same transaction: impossible
            raise FormError.conflict(_("文件中的家庭已被删除，请重新导入"))
        for kind, member, before, after in diff:
            spec = KINDS[kind]
            change = HouseholdChange(
                household=hh, household_id=hh.id, kind=kind,
                member_id=member.id if member is not None else None, before=before,
                after=after, reason=reason, source="import", state="applied",
                requested_by_id=user.id if user else None, decided_at=utcnow())
            db.session.add(change)
            created = spec.apply(hh, member, after)
            if created is not None:
                change.member_id = created.id
            if kind == EDIT_KIND and member is not None and member.relation == "self":
                hh.head_name = member.name
            hh.version += 1
            db.session.flush()
            ids.append(change.id)
    return ids


# ---------------------------------------------------------------- batches and undo

def batches(county: Place, limit: int = 50) -> list[ImportBatch]:
    return list(db.session.scalars(
        sa.select(ImportBatch).where(ImportBatch.county_id == county.id)
        .order_by(ImportBatch.id.desc()).limit(limit)))


def get_batch(county: Place, batch_id: int) -> ImportBatch | None:
    batch = db.session.get(ImportBatch, batch_id)
    return batch if batch is not None and batch.county_id == county.id else None


def _count(query: Any) -> int:
    return int(db.session.scalar(query) or 0)


def _undone_changes(county_id: int) -> list[int]:
    """Changes recorded and reverted by undone batches: nothing depends on those."""
    ids: list[int] = []
    for change_ids in db.session.scalars(sa.select(ImportBatch.change_ids).where(
            ImportBatch.county_id == county_id, ImportBatch.state == "undone")):
        ids.extend(change_ids or [])
    return ids


def blockers(batch: ImportBatch) -> list[str]:
    """What depends on the batch (empty: it may be undone)."""
    out: list[str] = []
    created = sa.select(Household.id).where(Household.import_batch_id == batch.id)
    ignored = _undone_changes(batch.county_id)
    live_change = HouseholdChange.id.not_in(ignored) if ignored else sa.true()
    checks = (
        (Visit, Visit.household_id, _("已有 %(n)d 条走访记录")),
        (Case, Case.household_id, _("已有 %(n)d 个审核或退出案件")),
        (HouseholdChange, HouseholdChange.household_id, _("已有 %(n)d 项档案变更")),
        (PlanMeasure, PlanMeasure.household_id, _("已有 %(n)d 项帮扶措施")),
        (PlatformEntry, PlatformEntry.household_id, _("已录入监测平台 %(n)d 户")),
        (WatchEntry, WatchEntry.household_id, _("已有 %(n)d 条监测记录")),
    )
    for model, column, message in checks:
        where = [column.in_(created)] + ([live_change] if model is HouseholdChange else [])
        n = _count(sa.select(sa.func.count()).select_from(model).where(*where))
        if n:
            out.append(_("本批次新建的家庭%(what)s", what=message % {"n": n}))
    # The import gave each household at most one assignment, still current: any other (or
    # one ended since) means the helper was changed.
    total, households, ended = db.session.execute(sa.select(
        sa.func.count(), sa.func.count(sa.distinct(Assignment.household_id)),
        sa.func.count(Assignment.end_date)).where(Assignment.household_id.in_(created))).one()
    extra = (total or 0) - (households or 0) + (ended or 0)
    if extra:
        out.append(_("本批次新建的家庭已调整过 %(n)d 次帮扶责任人", n=extra))
    if batch.change_ids:
        last = max(batch.change_ids)
        touched = sa.select(HouseholdChange.household_id).where(
            HouseholdChange.id.in_(batch.change_ids))
        later = _count(sa.select(sa.func.count()).select_from(HouseholdChange).where(
            HouseholdChange.household_id.in_(touched), HouseholdChange.id > last,
            live_change))
        if later:
            out.append(_("本批次更新的家庭之后又有 %(n)d 项档案变更（含其他批次导入）", n=later))
    return out


def undo(batch: ImportBatch, user: User | None) -> ImportBatch:
    """Remove the households the batch created, revert the changes it made. FormError when
    the batch was undone already or something depends on it. The caller commits."""
    if batch.state != "applied":
        raise FormError.conflict(_("该批次已撤销"))
    problems = blockers(batch)
    if problems:
        raise FormError.conflict(_("不能撤销：%(what)s。", what="；".join(problems)))
    created = sa.select(Household.id).where(Household.import_batch_id == batch.id)
    n_created = _count(sa.select(sa.func.count()).select_from(Household)
                       .where(Household.import_batch_id == batch.id))
    # Only changes of undone batches (and their reverts) may remain on these: see blockers.
    db.session.execute(sa.delete(HouseholdChange).where(
        HouseholdChange.household_id.in_(created)))
    db.session.execute(sa.delete(Assignment).where(Assignment.household_id.in_(created)))
    db.session.execute(sa.delete(Member).where(Member.household_id.in_(created)))
    db.session.execute(sa.delete(Household).where(Household.import_batch_id == batch.id),
                       execution_options={"synchronize_session": False})
    reason = _("撤销批量导入（批次 %(n)d）", n=batch.id)
    reverts: list[HouseholdChange] = []
    for change in sorted(db.session.scalars(sa.select(HouseholdChange).where(
            HouseholdChange.id.in_(batch.change_ids or []))), key=lambda c: c.id, reverse=True):
        hh = change.household
        member = db.session.get(Member, change.member_id) if change.member_id else None
        if change.kind == ADD_KIND:
            change.member_id = None
            change.state = "rejected"
            change.decision_note = reason
            if member is not None:
                db.session.delete(member)
                db.session.flush()
                db.session.refresh(hh)
                members.refresh_household(hh)
        else:
            revert = HouseholdChange(
                household=hh, household_id=hh.id, kind=change.kind, member_id=change.member_id,
                before=change.after, after=change.before, reason=reason, source="import",
                state="applied", requested_by_id=user.id if user else None,
                decided_at=utcnow())
            db.session.add(revert)
            reverts.append(revert)
            KINDS[change.kind].apply(hh, member, change.before)
            if change.kind == EDIT_KIND and member is not None and member.relation == "self":
                hh.head_name = member.name
        hh.version += 1
    db.session.flush()
    batch.change_ids = [*(batch.change_ids or []), *(r.id for r in reverts)]
    batch.state = "undone"
    batch.undone_at = utcnow()
    batch.undone_by_id = user.id if user else None
    audit("household.import_undo", target_type="import_batch", target_id=batch.id,
          place_id=batch.county_id, user=user, username=None if user else cli_username(),
          households_removed=n_created, changes_reverted=len(batch.change_ids or []))
    db.session.flush()
    return batch


# ---------------------------------------------------------------- timeline

@add_provider
def import_events(hh: Household) -> list[Event]:
    """The file was created by a batch import (no query beyond the batch)."""
    if hh.import_batch_id is None:
        return []
    batch = db.session.get(ImportBatch, hh.import_batch_id)
    at = batch.created_at if batch is not None else hh.created_at
    who = batch.created_by.name if batch is not None and batch.created_by else ""
    return [Event(at, "import", _("批量导入建档（批次 %(n)d）", n=hh.import_batch_id), who)]

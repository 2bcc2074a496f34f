"""Bulk import of staff accounts from the sheet 账号 of an XLSX workbook (fieldwork/xlsxin.py).

Columns: 用户名, 姓名, 角色 (label or code), 所属单位代码 (place code), 手机号, 工作单位.
Every row is checked first (the dry run stops there and lists every problem by row); the
real run checks again and writes nothing unless every row passes, then creates all the
accounts in the caller's one transaction, each with a one-time password returned for the
slips. The actor None is the command line (the whole installation, as an administrator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.access import roles
from fieldwork.accounts import staff
from fieldwork.accounts.models import User
from fieldwork.accounts.services import (
    MAX_NAME,
    USERNAME_RE,
    create_user,
    initial_password,
    normalise_phone,
)
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.places.models import Place
from fieldwork.xlsxin import (
    Column,
    XlsxRefused,
    configured_limits,
    open_xlsx,
    read_sheet,
    template,
)

SHEET = "账号"
MAX_ROWS = 5000


def columns(actor: User | None = None) -> list[Column]:
    role_choices = tuple(staff.chinese_label(roles.ROLE_LABELS[r])
                         for r in staff.assignable_roles(actor))
    return [
        Column("username", "用户名", required=True, width=16,
               note="3–64 位字母、数字或 . _ -，以字母或数字开头；登录时使用"),
        Column("display_name", "姓名", required=True, width=12),
        Column("role", "角色", required=True, choices=role_choices, width=20),
        Column("place_code", "所属单位代码", aliases=("所属地区代码", "行政区划代码", "单位代码"),
               required=True, width=16,
               note="所属社区（村）、街道（乡镇）或县（市、区）的行政区划代码，或其名称（本县内不重名时）"),
        Column("phone", "手机号", aliases=("手机", "联系电话"), width=16),
        Column("organisation", "工作单位", aliases=("单位",), width=24,
               note="帮扶责任人的工作单位：调动时由该单位明确新的帮扶责任人"),
    ]


HEADERS = {c.key: c.header for c in columns()}


@dataclass
class Problem:
    row: int | None
    column: str
    message: str


@dataclass
class Report:
    rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    issued: list[staff.Issued] = field(default_factory=list)
    refused: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.refused


def template_bytes(actor: User | None) -> bytes:
    return template([(SHEET, columns(actor))], [
        _("账号批量导入说明"),
        _("1. 在“账号”工作表中每行填写一个账号；表头不要修改，带底色的列必须填写。"),
        _("2. 角色从下拉列表中选择（也可填写角色代码，如 helper）。县级解困办只能导入本县（市、区）"
          "及以下的账号。"),
        _("3. 所属单位代码填写行政区划代码：帮扶责任人可为县、街道或社区，社区(村)工作人员为社区，"
          "街道(乡镇)审核人为街道，县级解困办和部门/行业审核人为县（市、区）。"),
        _("4. 手机号填写 11 位手机号或带区号的固定电话，可不填。"),
        _("5. 工作单位：帮扶责任人的工作单位。帮扶责任人工作调动的，由原单位明确新的帮扶责任人。"
          "部门/行业审核人须填写所在部门。"),
        _("6. 先点“检查”查看问题；全部通过后点“导入”。有任何一行有问题时，一个账号也不会创建。"),
        _("7. 导入后每个账号的初始密码只显示一次，请当场打印密码条发给本人；首次登录须修改密码。"),
    ])


def _read(data: bytes) -> tuple[list[tuple[int, dict[str, str]]], Report]:
    report = Report()
    try:
        wb = open_xlsx(data, **configured_limits())
        try:
            sheet = read_sheet(wb, SHEET, columns(), max_rows=MAX_ROWS)
        finally:
            wb.close()
    except XlsxRefused as exc:
        raise FormError.of(exc.message, "file") from None
    report.extra = sheet.extra
    for header in sheet.missing:
        report.problems.append(Problem(None, header, _("缺少必填列“%(h)s”", h=header)))
    formula_rows = set()
    for coordinate in sheet.formulas:
        row = int("".join(ch for ch in coordinate if ch.isdigit()))
        formula_rows.add(row)
        report.problems.append(
            Problem(row, coordinate, _("单元格含公式，请直接填写内容（不要使用公式）")))
    rows = [(n, values) for n, values in sheet.rows if n not in formula_rows]
    report.rows = len(sheet.rows)
    if not sheet.rows and not sheet.missing:
        report.problems.append(Problem(None, SHEET, _("工作表“账号”中没有数据行")))
    return rows, report


def check(actor: User | None, data: bytes) -> tuple[Report, list[dict]]:
    """Read and check every row. Returns the report and the parsed rows ready to create."""
    rows, report = _read(data)
    if report.problems and not rows:
        return report, []
    usernames = [v["username"] for _n, v in rows if v["username"]]
    taken = {u.lower() for u in db.session.scalars(sa.select(User.username).where(
        sa.func.lower(User.username).in_([u.lower() for u in usernames] or [""])))}
    codes = {v["place_code"] for _n, v in rows if v["place_code"]}
    places = {p.code: p for p in db.session.scalars(
        sa.select(Place).where(Place.code.in_(codes or [""])))}
    # A place may also be named (和平社区) when the name is unique where the actor works.
    named: dict[str, list[Place]] = {}
    if codes - set(places):
        reach = sa.select(Place).where(Place.name.in_(codes - set(places)))
        if actor is not None and actor.role != roles.ADMIN:
            reach = reach.where(Place.path.startswith(actor.place.path, autoescape=True))
        for p in db.session.scalars(reach):
            named.setdefault(p.name, []).append(p)
    seen: dict[str, int] = {}
    ready: list[dict] = []

    def problem(row: int, key: str, message: str) -> None:
        report.problems.append(Problem(row, HEADERS[key], message))

    for number, v in rows:
        before = len(report.problems)
        username = v["username"]
        if not username:
            problem(number, "username", _("请填写用户名"))
        elif not USERNAME_RE.match(username):
            problem(number, "username", _(
                "用户名需为 3–64 位字母、数字或 . _ -，且以字母或数字开头：%(u)s", u=username[:64]))
        elif username.lower() in seen:
            problem(number, "username", _("用户名 %(u)s 与第 %(row)d 行重复", u=username,
                                          row=seen[username.lower()]))
        elif username.lower() in taken:
            problem(number, "username", _("用户名 %(u)s 已存在", u=username))
        if username:
            seen.setdefault(username.lower(), number)
        name = " ".join(v["display_name"].split())
        if not name:
            problem(number, "display_name", _("请填写姓名"))
        elif len(name) > MAX_NAME:
            problem(number, "display_name", _("姓名不能超过 %(n)d 个字", n=MAX_NAME))
        role = staff.parse_role(v["role"]) if v["role"] else None
        if not v["role"]:
            problem(number, "role", _("请填写角色"))
        elif role is None:
            problem(number, "role", _("未知角色：%(role)s", role=v["role"][:30]))
        place = places.get(v["place_code"]) if v["place_code"] else None
        same_name = named.get(v["place_code"], [])
        if place is None and len(same_name) == 1:
            place = same_name[0]
        if not v["place_code"]:
            problem(number, "place_code", _("请填写所属单位代码"))
        elif place is None and same_name:
            problem(number, "place_code", _(
                "名为 %(name)s 的地区不止一个（%(codes)s），请填写行政区划代码",
                name=v["place_code"][:30], codes="、".join(p.code for p in same_name[:5])))
        elif place is None:
            problem(number, "place_code",
                    _("找不到代码或名称为 %(code)s 的地区", code=v["place_code"][:30]))
        errors: dict[str, str] = {}
        staff.role_place_problem(actor, role, place, errors)
        organisation = " ".join(v["organisation"].split())
        staff.organisation_problem(role, organisation, errors)
        for key, message in errors.items():
            problem(number, {"role": "role", "organisation": "organisation"}.get(
                key, "place_code"), message)
        phone = None
        try:
            phone = normalise_phone(v["phone"])
        except FormError as exc:
            problem(number, "phone", exc.message)
        if len(organisation) > MAX_NAME:
            problem(number, "organisation", _("工作单位不能超过 %(n)d 个字", n=MAX_NAME))
        if len(report.problems) == before and role is not None and place is not None:
            ready.append({"username": username, "display_name": name, "role": role,
                          "place": place, "phone": phone, "organisation": organisation})
    return report, ready


def run(actor: User | None, data: bytes, *, dry_run: bool) -> Report:
    """Check the file; unless dry_run or a problem was found, create every account (all or
    nothing: the caller commits, or rolls back on a problem). FormError when the whole file
    is refused (not an XLSX, no sheet 账号, too large)."""
    report, ready = check(actor, data)
    if dry_run or report.problems:
        return report
    for row in ready:
        password = initial_password(row["username"])
        user = create_user(password=password, must_change_password=True, **row)
        report.issued.append(staff.Issued(user, password))
    audit.record("user.import", target_type="user", user=actor,
                 username=audit.cli_username() if actor is None else None,
                 place_id=None if actor is None else actor.place_id,
                 created=[i.user.id for i in report.issued])
    return report

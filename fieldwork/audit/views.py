"""The audit log page for county officers and the city: search, newest first, read only.

There is deliberately no route that edits or deletes an event (tests/security/test_audit.py
proves it), and fieldwork/audit/guard.py makes the ORM refuse to do it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast

import sqlalchemy as sa
from flask import Blueprint, Flask, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.accounts.models import User
from fieldwork.audit.guard import init_audit_guard
from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db
from fieldwork.places.models import Place
from fieldwork.timeutil import CST

bp = Blueprint("audit", __name__, url_prefix="/audit")
# Registering the blueprint switches the append-only guard on (create_app may also call
# init_audit_guard itself; it is idempotent).
bp.record_once(lambda state: init_audit_guard(cast(Flask, state.app)))

VIEWERS = (roles.COUNTY_OFFICER, roles.CITY_SUPERVISOR, roles.ADMIN)
PAGE_SIZE = 50
MAX_QUERY = 64

ACTION_LABELS = {
    "login.success": _l("登录成功"),
    "login.failure": _l("登录失败"),
    "login.refused_inactive": _l("停用账号尝试登录"),
    "logout": _l("退出登录"),
    "user.create": _l("创建账号"),
    "user.deactivate": _l("停用账号"),
    "user.reactivate": _l("重新启用账号"),
    "user.update": _l("修改账号信息"),
    "user.password_reset": _l("重置密码"),
    "user.import": _l("批量导入账号"),
    "user.password_change": _l("修改密码"),
    "id.reveal": _l("查看完整身份证号"),
    "ledger.export": _l("导出台账"),
    "discovery.check": _l("核对重复登记"),
    "household.reference": _l("确认参考位置"),
    "assignment.change": _l("调整帮扶责任人"),
    "case.open": _l("发起审核"),
    "case.decision": _l("审核决定"),
    "case.resubmit": _l("重新提交审核"),
    "case.objection": _l("登记公示异议"),
    "case.objection_resolved": _l("处理公示异议"),
    "case.exit": _l("公示期满退出生效"),
    "discovery.opened": _l("受理新发现上报"),
    "discovery.same_household": _l("新发现上报与已有住户合并"),
    "household.enrol": _l("纳入帮扶"),
    "household.import": _l("批量导入困难家庭"),
    "household.import_undo": _l("撤销批量导入"),
    "visit.review": _l("审核存疑走访"),
    "plan.change": _l("调整帮扶计划"),
    "measure.change": _l("调整帮扶措施目录"),
    "policy.change": _l("修改政策参数"),
    "dibao_standard.set": _l("录入城镇低保标准"),
    "platform.entered": _l("登记录入监测平台"),
    "backup.create": _l("备份数据"),
    "backup.restore": _l("恢复数据"),
    "keys.rotate": _l("轮换加密密钥"),
    "watch.start": _l("列入监测名单"),
    "watch.check": _l("填写监测记录"),
    "watch.restart": _l("由监测重新启动审核"),
    "case.residence": _l("登记户籍和居住情况"),
    "case.income": _l("登记申请时家庭收入"),
    "case.info_check": _l("登记信息核对结果"),
    "case.screening": _l("登记部门(行业)认定结果"),
    "case.document_add": _l("上传申请材料"),
    "case.document_view": _l("查看申请材料"),
}
TARGET_LABELS = {
    "user": _l("账号"),
    "household": _l("住户"),
    "member": _l("家庭成员"),
    "visit": _l("走访"),
    "case": _l("审核案件"),
    "place": _l("地区"),
    "photo": _l("照片"),
    "discovery": _l("新发现上报"),
    "measure": _l("帮扶措施"),
    "case_document": _l("申请材料"),
}


def action_label(code: str) -> str:
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else code


def scope_clause(user: User) -> ColumnElement[bool]:
    """Events the user may read: all for the city; for a county, events about its places,
    place-less events (logins) of its own staff, and the user's own."""
    if user.place.level == "city":
        return sa.true()
    places = sa.select(Place.id).where(Place.path.startswith(user.place.path, autoescape=True))
    staff = sa.select(User.id).where(User.place_id.in_(places))
    staff_names = sa.select(User.username).where(User.place_id.in_(places))
    return sa.or_(
        AuditEvent.place_id.in_(places),
        AuditEvent.user_id == user.id,
        sa.and_(
            AuditEvent.place_id.is_(None),
            sa.or_(AuditEvent.user_id.in_(staff),
                   sa.and_(AuditEvent.user_id.is_(None), AuditEvent.username.in_(staff_names))),
        ),
    )


@dataclass
class Search:
    user: str = ""
    action: str = ""
    target: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1

    def as_args(self, **over) -> dict[str, str]:
        args = {"user": self.user, "action": self.action, "target": self.target,
                "from": self.date_from.isoformat() if self.date_from else "",
                "to": self.date_to.isoformat() if self.date_to else "",
                "page": str(self.page)}
        args.update({k: str(v) for k, v in over.items()})
        return {k: v for k, v in args.items() if v and not (k == "page" and v == "1")}


def _parse_date(name: str, label: str, errors: dict[str, str]) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("“%(label)s”应为日期，如 2026-01-31", label=label)
        return None


def parse_search() -> tuple[Search, dict[str, str]]:
    errors: dict[str, str] = {}
    search = Search(
        user=(request.args.get("user") or "").strip()[:MAX_QUERY],
        action=(request.args.get("action") or "").strip()[:MAX_QUERY],
        target=(request.args.get("target") or "").strip()[:MAX_QUERY],
        date_from=_parse_date("from", _("开始日期"), errors),
        date_to=_parse_date("to", _("结束日期"), errors),
    )
    page = request.args.get("page") or "1"
    search.page = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    if search.date_from and search.date_to and search.date_from > search.date_to:
        errors["to"] = _("结束日期不能早于开始日期")
    return search, errors


def _day_start_utc(day: date) -> datetime:
    """Midnight of a Nanyang calendar day, as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=CST)


def search_clause(search: Search) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if search.user:
        clauses.append(AuditEvent.username.contains(search.user, autoescape=True))
    if search.action:
        clauses.append(sa.or_(AuditEvent.action == search.action,
                              AuditEvent.action.startswith(search.action.rstrip(".") + ".",
                                                           autoescape=True)))
    if search.target:
        kind, sep, ident = search.target.partition(":")
        if sep:
            clauses.append(sa.and_(AuditEvent.target_type == kind.strip(),
                                   AuditEvent.target_id == ident.strip()))
        else:
            clauses.append(sa.or_(AuditEvent.target_id == search.target,
                                  AuditEvent.target_type == search.target))
    if search.date_from:
        clauses.append(AuditEvent.at >= _day_start_utc(search.date_from))
    if search.date_to:
        clauses.append(AuditEvent.at < _day_start_utc(search.date_to + timedelta(days=1)))
    return clauses


def find_events(user: User, search: Search) -> tuple[list[AuditEvent], bool]:
    """One page of events, newest first, and whether another page follows."""
    query = (
        sa.select(AuditEvent)
        .where(scope_clause(user), *search_clause(search))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .offset((search.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    rows = list(db.session.scalars(query))
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


@bp.get("/")
@role_required(*VIEWERS)
def index():
    search, errors = parse_search()
    events: list[AuditEvent] = []
    has_next = False
    if not errors:
        events, has_next = find_events(current_user, search)
    place_ids = {e.place_id for e in events if e.place_id is not None}
    places = dict(db.session.execute(
        sa.select(Place.id, Place.name).where(Place.id.in_(place_ids))).all()) if place_ids else {}
    template = "audit/_results.html" if request.headers.get("HX-Request") else "audit/index.html"
    page = render_template(
        template, events=events, search=search, errors=errors, has_next=has_next,
        places=places, action_label=action_label, target_labels=TARGET_LABELS,
        actions=sorted(ACTION_LABELS), action_labels=ACTION_LABELS,
        whole_city=current_user.place.level == "city",
    )
    return page, 400 if errors else 200, {"Vary": "HX-Request", "Cache-Control": "no-store"}

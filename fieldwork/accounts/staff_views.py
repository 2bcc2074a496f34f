"""Staff accounts in the browser (/manage/staff): list, create, edit, deactivate, reactivate,
reset password, bulk import from the 账号 sheet. County officers act within their county,
administrators everywhere (accounts/staff.py, access/scope.py: staff_clause); other roles get
404. Views parse and render; the rules live in accounts/staff.py and staff_import.py.

A one-time password is shown only in the answer to the POST that made it (a slip page marked
`Cache-Control: no-store`): never in a URL, the session, a flash or the audit log. A repeat of
the same form (@once) goes to the account's page, which has no password.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.access.scope import get_staff_or_404
from fieldwork.accounts import staff, staff_import
from fieldwork.accounts.models import User
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.formflow import refused, submit
from fieldwork.forms_once import done, once

bp = Blueprint("staff", __name__, url_prefix="/manage/staff")
MANAGERS = staff.MANAGERS


def RACE() -> FormError:  # noqa: N802 - reads as the refusal's name
    return FormError.conflict(
        _("保存时发现用户名已被他人同时占用，没有创建任何账号，请检查后重新提交"), "username")


def _actor() -> User:
    return current_user._get_current_object()


def _form_page(user: User | None = None, errors: dict[str, str] | None = None,
               values: Any = None, status: int = 200) -> Any:
    actor = _actor()
    if values is None and user is not None:
        values = {"username": user.username, "display_name": user.display_name,
                  "phone": user.phone or "", "role": user.role, "place_id": str(user.place_id),
                  "organisation": user.organisation}
    return render_template(
        "accounts/staff_form.html", account=user, errors=errors or {}, values=values or {},
        roles_available=[(r, roles.ROLE_LABELS[r]) for r in staff.assignable_roles(actor)],
        places=staff.place_choices(actor), level_labels=staff.LEVEL_LABELS), status


def slips(issued: list[staff.Issued], title: str) -> Response:
    """The page that shows one-time passwords, once: never cached, never stored."""
    response = make_response(render_template(
        "accounts/staff_slips.html", issued=issued, title=title,
        login_url=url_for("accounts.login", _external=True)))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _issue(action: Callable[[], list[staff.Issued]], failed: Callable[[FormError], Any],
           result_url: Callable[[list[staff.Issued]], str], title: str) -> Any:
    """formflow.submit for the actions that give passwords: one transaction, then the slips
    in the POST's own answer instead of a redirect."""
    try:
        issued = action()
    except FormError as exc:
        return refused(exc, failed)
    except IntegrityError:  # the same username saved by someone else a moment ago
        return refused(RACE(), failed)
    done(result_url(issued))
    db.session.commit()
    return slips(issued, title)


@bp.get("/")
@role_required(*MANAGERS)
def index():
    actor = _actor()
    f = staff.parse_filter(request.args)
    users, total = staff.list_staff(actor, f)
    return render_template(
        "accounts/staff_list.html", users=users, total=total, f=f,
        limit=staff.LIST_LIMIT, places=staff.place_choices(actor),
        roles_all=[(r, roles.ROLE_LABELS[r]) for r in staff.assignable_roles(actor)])


@bp.route("/new", methods=["GET", "POST"])
@role_required(*MANAGERS)
@once
def create():
    if request.method == "GET":
        return _form_page()
    return _issue(lambda: [staff.create_staff(_actor(), request.form)],
                  failed=lambda exc: _form_page(errors=exc.errors, values=request.form),
                  result_url=lambda issued: url_for("staff.edit", user_id=issued[0].user.id),
                  title=_("新账号的初始密码"))


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@role_required(*MANAGERS)
def edit(user_id: int):
    user = get_staff_or_404(_actor(), user_id)
    if request.method == "GET":
        return _form_page(user)
    return submit(lambda: staff.update_staff(_actor(), user, request.form),
                  failed=lambda exc: _form_page(user, errors=exc.errors, values=request.form),
                  to=url_for("staff.edit", user_id=user.id),
                  message=_("账号信息已保存"))


@bp.post("/<int:user_id>/deactivate")
@role_required(*MANAGERS)
def deactivate(user_id: int):
    user = get_staff_or_404(_actor(), user_id)
    return submit(lambda: staff.deactivate_staff(_actor(), user),
                  failed=lambda exc: _form_page(user, errors=exc.errors),
                  to=url_for("staff.edit", user_id=user.id),
                  message=_("账号已停用：其所有登录已失效，手机下次同步时将被拒绝"))


@bp.post("/<int:user_id>/reactivate")
@role_required(*MANAGERS)
def reactivate(user_id: int):
    user = get_staff_or_404(_actor(), user_id)
    return submit(lambda: staff.reactivate_staff(_actor(), user),
                  failed=lambda exc: _form_page(user, errors=exc.errors),
                  to=url_for("staff.edit", user_id=user.id),
                  message=_("账号已重新启用"))


@bp.post("/<int:user_id>/password")
@role_required(*MANAGERS)
@once
def reset_password(user_id: int):
    user = get_staff_or_404(_actor(), user_id)
    return _issue(lambda: [staff.reset_password(_actor(), user)],
                  failed=lambda exc: _form_page(user, errors=exc.errors),
                  result_url=lambda issued: url_for("staff.edit", user_id=user.id),
                  title=_("重置后的初始密码"))


# ---------------------------------------------------------------- import

@bp.route("/import", methods=["GET", "POST"])
@role_required(*MANAGERS)
@once
def import_accounts():
    if request.method == "GET":
        return render_template("accounts/staff_import.html", report=None)
    upload = request.files.get("file")
    data = upload.read() if upload is not None else b""
    dry_run = request.form.get("mode") != "apply"
    try:
        report = staff_import.run(_actor(), data, dry_run=dry_run)
    except IntegrityError:
        db.session.rollback()
        exc = RACE()
        return render_template("accounts/staff_import.html", report=None,
                               refused=exc.message), exc.status
    except FormError as exc:
        db.session.rollback()
        return render_template("accounts/staff_import.html", report=None,
                               refused=exc.message), exc.status
    if dry_run or report.problems:
        db.session.rollback()
        status = 422 if report.problems or report.refused else 200
        return render_template("accounts/staff_import.html", report=report,
                               dry_run=dry_run), status
    done(url_for("staff.index"))
    db.session.commit()
    return slips(report.issued, _("批量导入账号的初始密码"))


@bp.get("/import/template.xlsx")
@role_required(*MANAGERS)
def import_template():
    response = make_response(staff_import.template_bytes(_actor()))
    response.headers["Content-Type"] = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = (
        "attachment; filename*=UTF-8''%E8%B4%A6%E5%8F%B7%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx")
    return response

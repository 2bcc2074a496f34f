"""Office pages for a household's members (/households/<id>/members/...): add, correct,
record a member leaving. Every change goes through `households.members` (a change of the
file, with its history); adding or removing waits for the street unless the user's office
confirms it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from fieldwork.access.decorators import role_required
from fieldwork.access.scope import get_household_or_404, get_member_or_404
from fieldwork.formflow import submit
from fieldwork.forms_once import once
from fieldwork.households import member_forms, members
from fieldwork.households.models import Household, HouseholdChange, Member
from fieldwork.timeutil import today_local

bp = Blueprint("members", __name__, url_prefix="/households")


def _member(household: Household, member_id: int) -> Member:
    member = get_member_or_404(current_user, member_id)
    if member.household_id != household.id:
        abort(404)
    return member


def _page(template: str, household: Household, member: Member | None,
          errors: dict[str, str], values: Any) -> str:
    return render_template(template, household=household, member=member, errors=errors,
                           values=values, today=today_local())


def _saved(change: HouseholdChange) -> tuple[str, str]:
    if change.state == "pending":
        return _("已提交，待街道(乡镇)审核人确认后生效"), "info"
    return _("家庭成员信息已更新"), "success"


def _to_file(household: Household) -> str:
    return url_for("households.detail", household_id=household.id, _anchor="members")


@bp.route("/<int:household_id>/members/new", methods=["GET", "POST"])
@role_required(*members.OFFICE_ROLES)
@once
def add(household_id: int):
    household = get_household_or_404(current_user, household_id)
    template = "households/member_form.html"
    if request.method == "GET":
        return _page(template, household, None, {}, {"relation": "child"})
    return submit(lambda: members.add_member(household, current_user, request.form),
                  failed=lambda exc: _page(template, household, None, exc.errors, request.form),
                  to=_to_file(household), message=_saved)


@bp.route("/<int:household_id>/members/<int:member_id>/edit", methods=["GET", "POST"])
@role_required(*members.OFFICE_ROLES)
@once
def edit(household_id: int, member_id: int):
    household = get_household_or_404(current_user, household_id)
    member = _member(household, member_id)
    template = "households/member_form.html"
    if request.method == "GET":
        return _page(template, household, member, {}, member_forms.form_values(member))
    return submit(lambda: members.edit_member(member, current_user, request.form),
                  failed=lambda exc: _page(template, household, member, exc.errors,
                                           request.form),
                  to=_to_file(household), message=_saved)


@bp.route("/<int:household_id>/members/<int:member_id>/leave", methods=["GET", "POST"])
@role_required(*members.OFFICE_ROLES)
@once
def leave(household_id: int, member_id: int):
    household = get_household_or_404(current_user, household_id)
    member = _member(household, member_id)
    template = "households/member_leave.html"
    if request.method == "GET":
        return _page(template, household, member, {}, {})
    return submit(lambda: members.record_leave(member, current_user, request.form),
                  failed=lambda exc: _page(template, household, member, exc.errors,
                                           request.form),
                  to=_to_file(household), message=_saved)

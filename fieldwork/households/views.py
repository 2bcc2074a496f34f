"""Household pages: the helper's list and the household file."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from fieldwork.access import roles
from fieldwork.access.scope import get_household_or_404
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.formflow import submit
from fieldwork.forms_once import once
from fieldwork.households import changes, file_changes, members, services, timeline
from fieldwork.households.intake import watch
from fieldwork.households.management import platform
from fieldwork.households.models import Household, HouseholdChange
from fieldwork.photos.models import Photo
from fieldwork.places.services import policy_for_county
from fieldwork.timeutil import add_months, current_month, today_local
from fieldwork.visits.models import Visit

bp = Blueprint("households", __name__, url_prefix="/households")

# Who changes a file from its page (the city supervisor reads the history only).
EDITORS = (roles.COMMUNITY_WORKER, roles.STREET_REVIEWER, roles.COUNTY_OFFICER)
# Who has a queue of changes to confirm.
CONFIRMERS = (roles.STREET_REVIEWER, roles.COUNTY_OFFICER)


def field_shell() -> tuple[str, int, dict[str, str]]:
    """A field page: the shell, drawn on the phone from the synced data (static/js/field-app.js).
    It carries nothing of the user: the page's data comes from the sync pull."""
    return render_template("offline.html", offline_shell=True), 200, {"Cache-Control": "no-cache"}


@bp.get("/mine")
@login_required
def mine():
    if current_user.role != roles.HELPER:
        abort(404)
    return field_shell()


@bp.get("/mine/tasks")
@login_required
def tasks():
    """帮扶人任务清单 on the phone (static/js/pages/tasks.js); printed: printing.helper_tasks."""
    if current_user.role != roles.HELPER:
        abort(404)
    return field_shell()


@bp.get("/<int:household_id>")
@login_required
def detail(household_id: int):
    household = get_household_or_404(current_user, household_id)
    if current_user.role == roles.HELPER:
        return field_shell()
    today = today_local()
    visits = list(db.session.scalars(
        sa.select(Visit).where(Visit.household_id == household.id)
        .order_by(Visit.visited_at.desc()).limit(6)
    ))
    thumbs: dict[str | None, list[Photo]] = {}
    if visits:
        for p in db.session.scalars(
            sa.select(Photo).where(Photo.visit_id.in_([v.id for v in visits]),
                                   Photo.stored_at.is_not(None))
            .order_by(Photo.created_at, Photo.id)
        ):
            thumbs.setdefault(p.visit_id, []).append(p)
    month = current_month()
    policy = policy_for_county(household.county_id)
    required = policy.visits_per_month
    counts = services.visit_counts([household.id], [month, add_months(month, -1)])
    state = services.month_state(counts, household.id, month, required, household.enrolled_on)
    history = changes.history(household)
    rows, left = members.roster(household, today)
    return render_template(
        "households/detail.html", household=household, visits=visits, thumbs=thumbs,
        measures=[pm for pm in household.plan if pm.in_force(today)],
        assignment=household.current_assignment(today), state=state,
        can_confirm=current_user.role == roles.COUNTY_OFFICER,
        income_target=Decimal(str(policy.income_target)),
        platform_entry=platform.entry_for(household),
        watch=watch.file_section(current_user, household),
        can_change=current_user.role in EDITORS, change_forms=file_changes.FORMS,
        history=history, describe=changes.describe, kind_label=changes.kind_label,
        may_decide={c.id: changes.may_confirm(current_user, c) for c in history
                    if c.state == "pending"},
        events=timeline.build(household),
        roster=rows, left_members=left, head=members.head_of(household),
        pending_members=members.pending_members(household),
        can_edit_members=current_user.role in members.OFFICE_ROLES,
    )


@bp.post("/<int:household_id>/reference")
@login_required
def confirm_reference(household_id: int):
    """A county officer confirms the reference point proposed from a visit: a change of the
    file like any other, so it shows in the history."""
    household = get_household_or_404(current_user, household_id)
    if current_user.role != roles.COUNTY_OFFICER:
        raise FormError.forbidden(_("参考位置须由县级解困办确认"))
    to = url_for("households.detail", household_id=household.id)
    return submit(lambda: file_changes.confirm_visit_reference(household, current_user),
                  failed=lambda exc: _refused_page(exc, to), to=to,
                  message=_("参考位置已确认"))


def _refused_page(exc: FormError, to: str) -> Any:
    return render_template("error.html", status=exc.status, message=exc.message)


# ---------------------------------------------------------------- changes of the file


def _editor_or_403() -> None:
    if current_user.role not in EDITORS:
        raise FormError.forbidden(_("您的角色只能查看家庭档案，不能变更"))


def _change_page(household: Household, kind: str, values: Any, errors: dict[str, str]
                 | None = None) -> str:
    return render_template(
        "households/change.html", household=household, kind=kind,
        forms=file_changes.FORMS, values=values, errors=errors or {},
        communities=changes.county_communities(household) if kind == "address" else [],
        level=file_changes.FORMS[kind].kind.confirm_level, groups=file_changes.PRIORITY_GROUPS)


@bp.get("/<int:household_id>/change/<kind>")
@login_required
def change_form(household_id: int, kind: str):
    """变更档案信息: one kind's form, filled with the file as it is."""
    household = get_household_or_404(current_user, household_id)
    _editor_or_403()
    if kind not in file_changes.FORMS:
        abort(404)
    return _change_page(household, kind, file_changes.current_values(household))


@bp.post("/<int:household_id>/change/<kind>")
@login_required
@once
def change(household_id: int, kind: str):
    household = get_household_or_404(current_user, household_id)
    _editor_or_403()
    if kind not in file_changes.FORMS:
        abort(404)
    form = request.form

    def values() -> dict[str, Any]:
        out: dict[str, Any] = {k: form.get(k, "") for k in form}
        out["groups"], out["causes"] = form.getlist("groups"), form.getlist("causes")
        return out

    def message(c: HouseholdChange) -> str:
        if c.state == "applied":
            return _("已变更：%(kind)s", kind=changes.kind_label(c.kind))
        return _("变更已提交，等待%(office)s确认",
                 office=changes.LEVEL_OFFICES.get(c.confirm_level or "", ""))

    return submit(lambda: file_changes.change_from_form(household, current_user, kind, form),
                  failed=lambda exc: _change_page(household, kind, values(), exc.errors),
                  to=url_for("households.detail", household_id=household.id,
                             _anchor="changes"),
                  message=message)


@bp.get("/changes")
@login_required
def change_queue():
    """Changes waiting for this office's confirmation, oldest first."""
    if current_user.role not in CONFIRMERS:
        raise FormError.forbidden(_("只有街道(乡镇)审核人和县级解困办确认档案变更"))
    return render_template("households/change_queue.html", waiting=changes.queue(current_user),
                           describe=changes.describe, kind_label=changes.kind_label)


@bp.post("/<int:household_id>/changes/<int:change_id>")
@login_required
def decide_change(household_id: int, change_id: int):
    """Confirm or refuse one pending change (the office the policy makes responsible)."""
    household = get_household_or_404(current_user, household_id)
    item = changes.get_change(household, change_id)
    if item is None:
        abort(404)
    # Not this office's change, or already decided: the message, not the form again.
    changes.check_decision(item, current_user)
    back = request.form.get("next") == "queue"
    to = url_for("households.change_queue") if back else \
        url_for("households.detail", household_id=household.id, _anchor="changes")

    def failed(exc: FormError) -> Any:
        return render_template("households/change_queue.html",
                               waiting=changes.queue(current_user), errors={item.id: exc.errors},
                               describe=changes.describe, kind_label=changes.kind_label)

    return submit(lambda: changes.decide(item, current_user, request.form), failed=failed,
                  to=to, message=lambda c: _("已确认变更") if c.state == "applied"
                  else _("已退回变更申请"))

"""Deliberate, audited display of full ID numbers.

Who may: county officers (综合审核确认, building the file) and street reviewers (复核 checks the
documents), each within their own scope. Helpers, community workers, department reviewers,
the city supervisor and the administrator never: they work with the mask. The reasoning is
in docs/security.md. Every display needs a short reason and writes an ``id.reveal`` audit
event (who, which record, why, when, from where) in the same transaction; the number itself
is never written to the log.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from fieldwork.access import roles
from fieldwork.access.decorators import role_required
from fieldwork.access.scope import get_household_or_404, get_member_or_404
from fieldwork.audit import services as audit
from fieldwork.extensions import db, limiter
from fieldwork.households.models import Household
from fieldwork.privacy.crypto import DecryptionError
from fieldwork.privacy.service import reveal_id

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

REVEALERS = (roles.COUNTY_OFFICER, roles.STREET_REVIEWER)
MIN_REASON = 4
MAX_REASON = 200
# Enough for a day of real casework, too few to harvest a county's numbers.
REVEAL_LIMIT = "60/hour"


def _reveal_key() -> str:
    user_id = getattr(current_user, "id", None)
    return f"id-reveal:{user_id}" if user_id is not None else f"id-reveal:{request.remote_addr}"


def _no_store(body: str, status: int) -> tuple[str, int, dict[str, str]]:
    return body, status, {"Cache-Control": "no-store", "Vary": "HX-Request"}


def _reveal(*, kind: str, target_id: int, household: Household, enc: str | None,
            mask: str | None, name: str) -> Any:
    template = "privacy/_reveal.html" if request.headers.get("HX-Request") else \
        "privacy/reveal.html"
    context: dict[str, Any] = {"kind": kind, "target_id": target_id, "household": household,
                               "mask": mask, "name": name, "number": None, "error": None,
                               "reason": ""}
    if not enc:
        context["error"] = _("该记录没有登记身份证号")
        return _no_store(render_template(template, **context), 404)
    if request.method == "GET":
        return _no_store(render_template(template, **context), 200)

    reason = " ".join((request.form.get("reason") or "").split())
    context["reason"] = reason[:MAX_REASON]
    if len(reason) < MIN_REASON:
        context["error"] = _("请填写查看事由（至少 %(n)d 个字），如“核对低保申请材料”",
                             n=MIN_REASON)
        return _no_store(render_template(template, **context), 422)
    if len(reason) > MAX_REASON:
        context["error"] = _("查看事由不能超过 %(n)d 个字", n=MAX_REASON)
        return _no_store(render_template(template, **context), 422)
    try:
        number = reveal_id(enc)
    except DecryptionError:
        current_app.logger.error("cannot decrypt the ID number of %s %s", kind, target_id)
        context["error"] = _("无法解密该身份证号：加密密钥配置有误，请联系系统管理员")
        return _no_store(render_template(template, **context), 500)
    audit.record("id.reveal", target_type=kind, target_id=target_id,
                 place_id=household.county_id, household_id=household.id, reason=reason)
    db.session.commit()
    context["number"] = number
    return _no_store(render_template(template, **context), 200)


@bp.route("/households/<int:household_id>/reveal", methods=["GET", "POST"])
@role_required(*REVEALERS)
@limiter.limit(REVEAL_LIMIT, key_func=_reveal_key, methods=["POST"])
def reveal_household(household_id: int) -> ResponseReturnValue:
    """The head of household's full ID number: the head is a member (one person, one ID),
    so this is the head member's reveal, audited as such."""
    household = get_household_or_404(current_user, household_id)
    head = household.head
    if head is None:
        return _reveal(kind="household", target_id=household.id, household=household,
                       enc=None, mask=None, name=household.head_name)
    return _reveal(kind="member", target_id=head.id, household=household, enc=head.id_enc,
                   mask=head.id_mask, name=head.name)


@bp.route("/members/<int:member_id>/reveal", methods=["GET", "POST"])
@role_required(*REVEALERS)
@limiter.limit(REVEAL_LIMIT, key_func=_reveal_key, methods=["POST"])
def reveal_member(member_id: int) -> ResponseReturnValue:
    """A household member's full ID number."""
    member = get_member_or_404(current_user, member_id)
    household = member.household
    return _reveal(kind="member", target_id=member.id, household=household, enc=member.id_enc,
                   mask=member.id_mask, name=member.name)

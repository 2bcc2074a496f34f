"""One way to answer a submitted form: the service call is one transaction, and a refusal
(`FormError`) or a success is turned into a response here, not in every view.

A view parses the request, then hands `submit` the service call, the page to show again when
the form is refused, where to go when it succeeds and what to tell the user:

    return submit(lambda: plans.add_to_plan(household, current_user, request.form),
                  failed=lambda exc: _plan_page(household, errors=exc.errors,
                                                values=request.form),
                  to=url_for("manage.plan", household_id=household.id),
                  message=lambda pm: _("已将“%(name)s”加入帮扶计划", name=pm.measure.name))

Refused: everything the call wrote is rolled back, then
- 403 / 404: the error page (the step is not the user's; there is no form to fix);
- under /api/: the protocol's JSON error with the field messages (errors.api_error);
- otherwise `failed(exc)`, answered with the refusal's status (422, 409) -- for an htmx
  request that is the partial the view renders for it (`Vary: HX-Request`).
Accepted: `done(to)` for a form wrapped in `@once`, one commit, the flash, and a redirect (for
htmx: `HX-Redirect`, so the browser loads the page and shows the flash).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, flash, make_response, redirect, request
from flask.typing import ResponseReturnValue

from fieldwork.errors import CODES, FormError, api_error, is_api_request
from fieldwork.extensions import db
from fieldwork.forms_once import done

T = TypeVar("T")
# The refusals that are not about the form's content: answered with the error page.
NOT_THE_USERS = (403, 404)


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def refused(exc: FormError, failed: Callable[[FormError], Any]) -> ResponseReturnValue:
    """The answer to a refused form, after rolling back what the refused call wrote."""
    db.session.rollback()
    if exc.status in NOT_THE_USERS:
        abort(exc.status)
    if is_api_request():
        return api_error(exc.status, CODES.get(exc.status, "invalid"), exc.message, exc.errors)
    response = make_response(failed(exc))
    response.status_code = exc.status
    if is_htmx():
        response.vary.add("HX-Request")
    return response


def submit(action: Callable[[], T], *, failed: Callable[[FormError], Any],
           to: str | Callable[[T], str],
           message: str | Callable[[T], str | tuple[str, str] | None] | None = None,
           category: str = "success") -> ResponseReturnValue:
    """Run `action` (a service call that adds and flushes) as the request's one transaction
    and answer the form: see the module's docstring. `message` may also give the flash's
    category with the text, as (text, category)."""
    try:
        result = action()
    except FormError as exc:
        return refused(exc, failed)
    target = to(result) if callable(to) else to
    done(target)
    db.session.commit()
    text = message(result) if callable(message) else message
    if isinstance(text, tuple):
        text, category = text
    if text:
        flash(text, category)
    if is_htmx():
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)

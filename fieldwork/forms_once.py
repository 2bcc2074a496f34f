"""One-time submission tokens: a server-rendered form that creates something is saved once,
however many times it is sent (a double tap, a retry after a slow answer, the back button).

Every such form carries a hidden `form_token` (`{{ once_field() }}` from templates/_macros.html),
new at each rendering. The view is wrapped in `@once`, innermost (after the role check):

- the first POST with a token claims it -- a `form_submissions` row keyed by (user, token) --
  in the request's own transaction, so the claim is committed with the record it made or
  rolled back with a refused form (which then renders a fresh token and may be sent again);
- before committing, the view calls `done(url)` with the page of what it made, stored in the
  same transaction; a redirect without `done()` is stored right after the view's commit;
- a repeat POST with a claimed token runs nothing: it is sent (303) to that page with a note.
  Two copies sent at the same moment meet at the unique key: PostgreSQL holds the second
  insert until the first transaction ends, SQLite runs writing requests one at a time, so the
  second always sees the first's outcome.

A POST without a token (an old page, a script) is handled as before, without the guarantee;
a token that is not one of ours is refused with 400. This mirrors the sync API, where the
phone's record id makes a repeated push safe (SYNC-PROTOCOL.md).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

import sqlalchemy as sa
from flask import flash, g, make_response, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from fieldwork.dbtypes import UTCDateTime, utcnow
from fieldwork.extensions import Model, db

FIELD = "form_token"
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# A repeat comes within seconds; a month is ample, and keeps the table small.
KEEP = timedelta(days=30)


class FormSubmission(Model):
    """A form sent with a one-time token, and where its result lives."""

    __tablename__ = "form_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    token: Mapped[str] = mapped_column(sa.String(64))
    path: Mapped[str] = mapped_column(sa.String(300))  # the URL the form was sent to
    result_url: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    __table_args__ = (sa.UniqueConstraint("user_id", "token"),)


def new_token() -> str:
    """A fresh token for one rendering of a form (the template global `new_form_token`)."""
    return secrets.token_urlsafe(18)


def _claimed(user_id: int, token: str) -> FormSubmission | None:
    return db.session.scalar(sa.select(FormSubmission).where(
        FormSubmission.user_id == user_id, FormSubmission.token == token))


def _page(status: int, message: str):
    return make_response(render_template("error.html", status=status, message=message), status)


def _stale():
    return _page(400, _("表单已失效，请刷新页面后重新填写"))


def _repeat(previous: FormSubmission):
    """The answer to a form sent again: its first result, nothing run twice."""
    if previous.path != request.path[:300]:
        return _stale()
    if previous.result_url:
        flash(_("该表单已提交过，没有重复保存；以下是第一次提交的结果"), "info")
        return redirect(previous.result_url, 303)
    return _page(409, _("该表单已提交过，没有重复保存，请刷新页面查看结果"))


def done(url: str) -> None:
    """Record where the view's result lives, in the transaction that saves it."""
    claim: FormSubmission | None = g.get("form_once_claim")
    if claim is not None:
        claim.result_url = url[:500]


def once(view: Callable[..., Any]) -> Callable[..., Any]:
    """Make a POST view that creates something safe to repeat (see the module's docstring)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        raw = request.form.get(FIELD) if request.method == "POST" else None
        if not raw or not current_user.is_authenticated:
            return view(*args, **kwargs)
        if not TOKEN.fullmatch(raw):
            return _stale()
        user_id = current_user.id
        claim = None
        for _attempt in range(2):
            previous = _claimed(user_id, raw)
            if previous is not None:
                return _repeat(previous)
            claim = FormSubmission(user_id=user_id, token=raw, path=request.path[:300],
                                   created_at=utcnow())
            try:
                with db.session.begin_nested():
                    db.session.add(claim)
                    db.session.flush()
                break
            except IntegrityError:
                # The same form is being saved by a request that started first: it has
                # ended now (PostgreSQL held this insert until then), so its outcome can be
                # read -- or it was refused and rolled back, and this one may try.
                db.session.rollback()
                claim = None
        if claim is None:
            return _page(409, _("该表单已提交过，没有重复保存，请刷新页面查看结果"))
        db.session.execute(sa.delete(FormSubmission).where(
            FormSubmission.user_id == user_id, FormSubmission.created_at < utcnow() - KEEP))
        g.form_once_claim = claim
        committed: list[bool] = []

        def note_commit(_session: Session) -> None:
            committed.append(True)

        session = db.session()
        event.listen(session, "after_commit", note_commit)
        try:
            response = make_response(view(*args, **kwargs))
        finally:
            event.remove(session, "after_commit", note_commit)
            g.pop("form_once_claim", None)
        if committed and 300 <= response.status_code < 400 and response.location:
            # The view saved and redirected without done(): keep where it went.
            db.session.execute(sa.update(FormSubmission).where(
                FormSubmission.user_id == user_id, FormSubmission.token == raw,
                FormSubmission.result_url.is_(None)).values(result_url=response.location[:500]))
            db.session.commit()
        return response

    return wrapper

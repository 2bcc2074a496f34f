"""The audit log is append-only: the ORM refuses to change or delete an audit event.

Two listeners on every SQLAlchemy Session:

* ``before_flush`` refuses a flush that would UPDATE or DELETE an :class:`AuditEvent`
  (an attribute changed on a loaded event, or ``session.delete(event)``);
* ``do_orm_execute`` refuses ORM bulk statements aimed at the entity
  (``sa.update(AuditEvent)``, ``sa.delete(AuditEvent)``).

A plain Core ``audit_events`` table statement (``table.delete()``) is not an ORM statement and
passes: it is the deliberate escape hatch of ``flask demo --reset`` and of a restore with
``--force``. A database-level guard (a trigger raising on UPDATE/DELETE) would close that
too; it needs a migration, see docs/security.md.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from fieldwork.audit.models import AuditEvent


class AuditTamperError(RuntimeError):
    """Someone tried to modify or delete an audit event."""


def _refuse_changes(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, AuditEvent):
            raise AuditTamperError("audit events cannot be deleted (append-only log)")
    for obj in session.dirty:
        if isinstance(obj, AuditEvent) and session.is_modified(obj, include_collections=False):
            raise AuditTamperError("audit events cannot be modified (append-only log)")


def _refuse_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and issubclass(mapper.class_, AuditEvent):
        raise AuditTamperError("audit events cannot be modified or deleted (append-only log)")


def install() -> None:
    """Attach the listeners to every Session (idempotent; process-wide)."""
    if not event.contains(Session, "before_flush", _refuse_changes):
        event.listen(Session, "before_flush", _refuse_changes)
    if not event.contains(Session, "do_orm_execute", _refuse_bulk):
        event.listen(Session, "do_orm_execute", _refuse_bulk)


def init_audit_guard(app: Flask) -> None:
    """Install the guard for this app; the marker lets a test prove it is wired in."""
    install()
    app.extensions["fieldwork_audit_guard"] = True


def installed() -> bool:
    return event.contains(Session, "before_flush", _refuse_changes) and event.contains(
        Session, "do_orm_execute", _refuse_bulk
    )

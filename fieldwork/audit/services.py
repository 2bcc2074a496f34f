"""Writing audit events. Callers commit with their own change, so the record and its audit
entry land together or not at all."""

from __future__ import annotations

import getpass
import os
from typing import Any

from flask import has_request_context, request
from flask_login import current_user

from fieldwork.audit.models import AuditEvent
from fieldwork.extensions import db


def record(
    action: str,
    *,
    target_type: str = "",
    target_id: Any = "",
    place_id: int | None = None,
    user: Any = None,
    username: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add an audit event to the session (no commit)."""
    actor = user
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    event = AuditEvent(
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        place_id=place_id,
        user_id=getattr(actor, "id", None),
        username=username if username is not None else getattr(actor, "username", ""),
        detail=detail,
    )
    if has_request_context():
        event.ip = (request.remote_addr or "")[:64]
        event.user_agent = (request.user_agent.string or "")[:200]
    db.session.add(event)
    return event


def cli_username() -> str:
    """Who ran a command-line action (backup, restore, key rotation), for its audit event."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        who = str(os.getuid())
    return f"cli:{who}"[:64]

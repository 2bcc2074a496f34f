"""Append-only audit events: who did or saw what, when, from where."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldwork.dbtypes import JSONType, UTCDateTime, utcnow
from fieldwork.extensions import Model


class AuditEvent(Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    username: Mapped[str] = mapped_column(sa.String(64), default="")
    action: Mapped[str] = mapped_column(sa.String(40), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(24), default="")
    target_id: Mapped[str] = mapped_column(sa.String(64), default="")
    # County of the target, so a county officer's audit search stays in scope.
    place_id: Mapped[int | None] = mapped_column(sa.ForeignKey("places.id"), index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")

    __table_args__ = (
        # One seek for "did this user log out of this login?", asked on every signed-in
        # request (accounts/services.py: login_ended), however long the log grows.
        sa.Index("ix_audit_events_user_action_target", "user_id", "action", "target_id"),
    )

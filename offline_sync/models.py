"""Installations of the app that sync with the server."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldwork.dbtypes import JSONType, UTCDateTime, utcnow
from fieldwork.extensions import Model


class Device(Model):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")

    __table_args__ = (sa.UniqueConstraint("device_id", "user_id", name="uq_devices_device_user"),)


class SyncCursor(Model):
    """What a phone was given at its last pull: the ids it holds and when, so the next pull
    can send only what changed and list what left the user's scope."""

    __tablename__ = "sync_cursors"

    token: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    month: Mapped[int]
    household_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)

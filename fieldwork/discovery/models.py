"""Proactive discovery (主动发现) and other leads about households in hardship."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldwork.accounts.models import User
from fieldwork.dbtypes import JSONType, UTCDateTime, utcnow
from fieldwork.extensions import Model
from fieldwork.places.models import Place

SOURCES = ("community", "employer", "data_comparison", "application")


class DiscoveryReport(Model):
    __tablename__ = "discovery_reports"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(16), default="community")
    reporter_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    place_id: Mapped[int] = mapped_column(sa.ForeignKey("places.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(200))
    head_name: Mapped[str] = mapped_column(sa.String(64), default="")
    id_enc: Mapped[str | None] = mapped_column(sa.Text)
    id_index: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    id_mask: Mapped[str | None] = mapped_column(sa.String(24))
    contact_phone: Mapped[str | None] = mapped_column(sa.String(20))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    content_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    # Likely duplicates found at intake: [{"household_id":..., "why": [...]}]
    duplicate_candidates: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"))
    status: Mapped[str] = mapped_column(sa.String(16), default="new")
    photos_declared: Mapped[int] = mapped_column(default=0)
    photos_stored: Mapped[int] = mapped_column(default=0)

    reporter: Mapped[User] = relationship(lazy="joined")
    place: Mapped[Place] = relationship(lazy="joined")

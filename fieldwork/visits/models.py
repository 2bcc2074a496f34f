"""Monthly home visits (入户走访) recorded by helpers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldwork.accounts.models import User
from fieldwork.dbtypes import JSONType, UTCDateTime, utcnow
from fieldwork.extensions import Model
from fieldwork.households.models import Household


class Visit(Model):
    __tablename__ = "visits"

    # Made by the phone (UUID v4): sending the same record twice is safe.
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"))
    helper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # YYYYMM of visited_at in Asia/Shanghai: the compliance month.
    month: Mapped[int]
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # GPS check-in (WGS-84) and the server's geodesic distance to the reference point.
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    accuracy_m: Mapped[float | None]
    location_captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    location_source: Mapped[str | None] = mapped_column(sa.String(16))
    distance_m: Mapped[float | None]
    form_version: Mapped[int] = mapped_column(default=1)
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    household_income: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    per_capita_income: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    flag_count: Mapped[int] = mapped_column(default=0)
    # none | accepted | rejected (doubtful-visit review); rejected visits do not count.
    review_status: Mapped[str] = mapped_column(sa.String(10), default="none")
    # Counts review decisions: a decision names the one it saw, so a stale page is refused.
    review_version: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    # May name a record the server rejected (and so never stored): no foreign key.
    supersedes_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    superseded: Mapped[bool] = mapped_column(default=False)
    # Hash of the record as sent, to tell a safe repeat from a conflicting reuse of the id.
    content_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    photos_declared: Mapped[int] = mapped_column(default=0)
    photos_stored: Mapped[int] = mapped_column(default=0)

    household: Mapped[Household] = relationship(lazy="joined")
    helper: Mapped[User] = relationship(foreign_keys=[helper_id], lazy="joined")

    __table_args__ = (
        # Covers compliance counts (valid visits per household and month, see
        # fieldwork/access/validity.py) without reading
        # the wide rows.
        sa.Index("ix_visits_household_month", "household_id", "month", "review_status",
                 "superseded", "flag_count"),
        sa.Index("ix_visits_month_household", "month", "household_id"),
        sa.CheckConstraint(
            sa.text("review_status in ('none', 'accepted', 'rejected')"), name="review_status"
        ),
    )

    @property
    def complete(self) -> bool:
        return self.photos_stored >= self.photos_declared

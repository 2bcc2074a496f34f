"""The place tree (city > county-level unit > street > community) and per-county policy."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldwork.dbtypes import UTCDateTime, utcnow
from fieldwork.extensions import Model

LEVELS = ("city", "county", "street", "community")


class Place(Model):
    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Administrative code (GB/T 2260 and its street/community extensions). Units without an
    # official code (官庄工区) carry an internal one and official_code=False.
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    official_code: Mapped[bool] = mapped_column(default=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    level: Mapped[str] = mapped_column(sa.String(12))
    kind: Mapped[str | None] = mapped_column(sa.String(30))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("places.id"), index=True)
    # Materialised path of ids ("/1/4/27/"): scope checks are one prefix comparison.
    path: Mapped[str] = mapped_column(sa.String(120), index=True, default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]

    parent: Mapped[Place | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Place]] = relationship(
        back_populates="parent", order_by="Place.code"
    )

    __table_args__ = (sa.CheckConstraint(sa.text(f"level in {LEVELS}"), name="level"),)

    def __repr__(self) -> str:
        return f"<Place {self.code} {self.name}>"

    @property
    def depth(self) -> int:
        return LEVELS.index(self.level)

    def is_within(self, other: Place) -> bool:
        """True when self is other or lies below it in the tree."""
        return self.path.startswith(other.path)

    def ancestor_ids(self) -> list[int]:
        return [int(p) for p in self.path.strip("/").split("/") if p]

    def county_id(self) -> int | None:
        ids = self.ancestor_ids()
        return ids[1] if len(ids) > 1 else None

    def street_id(self) -> int | None:
        ids = self.ancestor_ids()
        return ids[2] if len(ids) > 2 else None


class PolicySettings(Model):
    """A county's policy parameters (the text's numbers are data, not constants)."""

    __tablename__ = "policy_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(sa.ForeignKey("places.id"), unique=True)
    # The programme's outcome indicator (per-capita monthly income ≥ 630 元, policy line 87):
    # shown on the file and in reports, never an eligibility line. The county's 城镇低保标准
    # is a dated history of its own (DibaoStandard).
    income_target: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal("630"))
    visits_per_month: Mapped[int] = mapped_column(default=1)
    geofence_m: Mapped[int] = mapped_column(default=300)
    exit_months: Mapped[int] = mapped_column(default=6)
    publicity_days: Mapped[int] = mapped_column(default=7)
    poor_accuracy_m: Mapped[int] = mapped_column(default=100)
    late_entry_hours: Mapped[int] = mapped_column(default=48)
    clock_skew_minutes: Mapped[int] = mapped_column(default=30)
    max_photo_px: Mapped[int] = mapped_column(default=1600)
    # The county 解困办's phone printed on the 明白卡 and the publicity list (issue 14).
    office_phone: Mapped[str] = mapped_column(sa.String(32), default="")
    # Whether a stable exit (平稳退出) is publicised like an enrolment before it takes effect.
    exit_publicity: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    place: Mapped[Place] = relationship()


class DibaoStandard(Model):
    """A county's 城镇低保标准 (元/人·月) from a date on. The standard in force on a day is the
    row with the latest effective_from on or before it; none before the first row."""

    __tablename__ = "dibao_standards"

    id: Mapped[int] = mapped_column(primary_key=True)
    place_id: Mapped[int] = mapped_column(sa.ForeignKey("places.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    effective_from: Mapped[date]
    set_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    place: Mapped[Place] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("place_id", "effective_from", name="uq_dibao_standards_place_from"),
        sa.CheckConstraint("amount > 0", name="dibao_standard_amount"),
    )


DEFAULT_POLICY = {
    "income_target": Decimal("630"),
    "visits_per_month": 1,
    "geofence_m": 300,
    "exit_months": 6,
    "publicity_days": 7,
    "poor_accuracy_m": 100,
    "late_entry_hours": 48,
    "clock_skew_minutes": 30,
    "max_photo_px": 1600,
    "office_phone": "",
    "exit_publicity": True,
}

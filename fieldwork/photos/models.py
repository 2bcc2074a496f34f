"""Photos declared by visits and discovery reports; bytes live in the photo store."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from fieldwork.dbtypes import UTCDateTime, utcnow
from fieldwork.extensions import Model

CAPTIONS = ("household", "document", "living", "other")


class Photo(Model):
    __tablename__ = "photos"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    visit_id: Mapped[str | None] = mapped_column(sa.ForeignKey("visits.id"), index=True)
    discovery_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("discovery_reports.id"), index=True
    )
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"), index=True)
    uploader_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # What the phone declared in the record.
    declared_sha256: Mapped[str] = mapped_column(sa.String(64))
    declared_bytes: Mapped[int | None]
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    caption: Mapped[str] = mapped_column(sa.String(200), default="")
    # Filled when the bytes arrive.
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    upload_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    stored_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    phash: Mapped[str | None] = mapped_column(sa.String(16))
    # The 64-bit perceptual hash cut into five bands (13+13+13+13+12 bits): two hashes within
    # 4 bits share a band (pigeonhole), so near-duplicates are found by index, not by a scan.
    ph0: Mapped[int | None] = mapped_column(index=True)
    ph1: Mapped[int | None] = mapped_column(index=True)
    ph2: Mapped[int | None] = mapped_column(index=True)
    ph3: Mapped[int | None] = mapped_column(index=True)
    ph4: Mapped[int | None] = mapped_column(index=True)
    width: Mapped[int | None]
    height: Mapped[int | None]
    size: Mapped[int | None]
    exif_taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def stored(self) -> bool:
        return self.stored_at is not None

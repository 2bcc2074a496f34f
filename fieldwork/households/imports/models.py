"""One household import (批量导入) of a county: what it created and updated, and whether it
was undone. Households it created carry `Household.import_batch_id`; the fields it changed on
households already on file are HouseholdChange rows (source "import") naming the batch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldwork.accounts.models import User
from fieldwork.dbtypes import JSONType, UTCDateTime, utcnow
from fieldwork.extensions import Model

BATCH_STATES = ("applied", "undone")


class ImportBatch(Model):
    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_id: Mapped[int] = mapped_column(sa.ForeignKey("places.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    state: Mapped[str] = mapped_column(sa.String(12), default="applied")
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    members: Mapped[int] = mapped_column(default=0)  # members created (new and existing files)
    # The HouseholdChange rows the batch recorded on households already on file (for undo).
    change_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    undone_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="joined")
    undone_by: Mapped[User | None] = relationship(foreign_keys=[undone_by_id])

    __table_args__ = (
        sa.CheckConstraint(sa.text(f"state in {BATCH_STATES}"), name="state"),
    )

    def summary(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated,
                "unchanged": self.unchanged, "members": self.members}

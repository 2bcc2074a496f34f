"""Place tree queries and per-county policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from fieldwork.extensions import db
from fieldwork.places.models import DEFAULT_POLICY, Place, PolicySettings


@dataclass(frozen=True)
class Policy:
    """A county's effective policy parameters (defaults where it has set none)."""

    income_target: float
    visits_per_month: int
    geofence_m: int
    exit_months: int
    publicity_days: int
    poor_accuracy_m: int
    late_entry_hours: int
    clock_skew_minutes: int
    max_photo_px: int
    office_phone: str = ""  # the county 解困办's phone (明白卡, publicity list)
    exit_publicity: bool = True  # a stable exit is publicised before it takes effect


def policy_for_county(county_id: int | None) -> Policy:
    row = None
    if county_id is not None:
        row = db.session.scalar(
            sa.select(PolicySettings).where(PolicySettings.place_id == county_id)
        )
    values: dict[str, Any] = {
        k: getattr(row, k) if row is not None else v for k, v in DEFAULT_POLICY.items()}
    values["income_target"] = float(values["income_target"])
    return Policy(**values)


def county_of(place: Place) -> Place | None:
    cid = place.county_id() if place.level != "county" else place.id
    return db.session.get(Place, cid) if cid else None


def breadcrumbs(place: Place) -> list[Place]:
    ids = place.ancestor_ids()
    found = {p.id: p for p in db.session.scalars(sa.select(Place).where(Place.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def children(place: Place) -> list[Place]:
    return list(db.session.scalars(
        sa.select(Place).where(Place.parent_id == place.id).order_by(Place.code)
    ))

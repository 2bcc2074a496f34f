"""The measures catalogue (分类施策).

The seeded catalogue is city-wide (Measure.county_id is None). A county officer adds county
measures, edits them, and deactivates them (never deletes: plans keep pointing at them). A
county cannot change a city-wide row, which every county shares; to adjust one for itself
("本区调整") it gets a county copy *with the same name*, and a county measure named like a
city-wide one replaces it in that county's catalogue. Deactivating a city-wide measure for the
county is the same thing with the copy inactive. Plans that already use the city-wide row keep
it (history); new plan entries take the county copy. The replacement is matched by name
because the Measure table has no link column; the matching lives in `visible_clause` alone,
so a `replaces_id` column can take its place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.constants import DIMENSIONS
from fieldwork.households.models import Measure
from fieldwork.places.models import Place
from fieldwork.records import parse_money

DATA = Path(__file__).resolve().parents[2] / "data" / "measures.json"
MAX_AMOUNT = Decimal("10000000")
EARLIEST = date(2000, 1, 1)
LIMITS = {"name": 120, "department": 64, "unit": 32, "note": 300}




# ---------------------------------------------------------------- catalogue

def seed_catalogue() -> int:
    """Load the city-wide catalogue from measures.json when there is none yet (idempotent).
    Returns how many measures were added. The caller commits."""
    if db.session.scalar(sa.select(sa.func.count(Measure.id)).where(Measure.county_id.is_(None))):
        return 0
    rows = json.loads(DATA.read_text(encoding="utf-8"))["measures"]
    for m in rows:
        db.session.add(Measure(
            county_id=None, area=m["area"], department=m["department"], name=m["name"],
            amount=Decimal(str(m["amount"])) if m["amount"] is not None else None,
            unit=m["unit"]))
    return len(rows)


def visible_clause(county_id: int | None) -> ColumnElement[bool]:
    """Measures in a county's catalogue: its own, and the city-wide ones it has not replaced
    by a county measure of the same name. Without a county: the city-wide catalogue."""
    if county_id is None:
        return Measure.county_id.is_(None)
    local_names = sa.select(Measure.name).where(Measure.county_id == county_id)
    return sa.or_(
        Measure.county_id == county_id,
        sa.and_(Measure.county_id.is_(None), Measure.name.not_in(local_names)),
    )


@dataclass
class CatalogueEntry:
    measure: Measure
    replaces: Measure | None = None  # the city-wide measure a county copy replaces

    @property
    def is_local(self) -> bool:
        return self.measure.county_id is not None


def catalogue(county_id: int | None, *, active_only: bool = False) -> list[CatalogueEntry]:
    """The catalogue as a county sees it, by area then name (two queries)."""
    query = sa.select(Measure).where(visible_clause(county_id))
    if active_only:
        query = query.where(Measure.active.is_(True))
    measures = list(db.session.scalars(query))
    city_by_name: dict[str, Measure] = {}
    if county_id is not None:
        local = [m.name for m in measures if m.county_id is not None]
        if local:
            city_by_name = {m.name: m for m in db.session.scalars(
                sa.select(Measure).where(Measure.county_id.is_(None), Measure.name.in_(local)))}
    order = {d: i for i, d in enumerate(DIMENSIONS)}
    measures.sort(key=lambda m: (order.get(m.area, 99), not m.active, m.name))
    return [CatalogueEntry(m, city_by_name.get(m.name) if m.county_id is not None else None)
            for m in measures]


def get_visible_measure(county_id: int, measure_id: Any) -> Measure | None:
    """A measure of the county's catalogue (own or city-wide not replaced), or None."""
    try:
        mid = int(measure_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        sa.select(Measure).where(Measure.id == mid, visible_clause(county_id)))


def _text(form: dict[str, Any], name: str, label: str, errors: dict[str, str], *,
          required: bool = False) -> str:
    value = str(form.get(name, "") or "").strip()
    if required and not value:
        errors[name] = _("请填写“%(label)s”", label=label)
    elif len(value) > LIMITS[name]:
        errors[name] = _("“%(label)s”不能超过 %(n)d 个字", label=label, n=LIMITS[name])
    return value


def parse_amount(raw: Any, errors: dict[str, str], key: str = "amount") -> Decimal | None:
    """An optional amount: blank → None; otherwise 0 ≤ amount ≤ 10,000,000 with 2 decimals."""
    text = str(raw or "").strip()
    if not text:
        return None
    amount = parse_money(text)
    if amount is None:
        errors[key] = _("金额应为数字，如 500 或 500.50")
    elif amount < 0:
        errors[key] = _("金额不能为负数")
    elif amount > MAX_AMOUNT:
        errors[key] = _("金额过大，请核对")
    else:
        return amount
    return None


def parse_measure_form(form: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values = {
        "name": _text(form, "name", _("措施名称"), errors, required=True),
        "department": _text(form, "department", _("责任部门"), errors),
        "unit": _text(form, "unit", _("单位"), errors),
        "note": _text(form, "note", _("说明"), errors),
        "amount": parse_amount(form.get("amount"), errors),
    }
    area = str(form.get("area", "") or "")
    if area not in DIMENSIONS:
        errors["area"] = _("请选择所属领域")
    values["area"] = area
    if errors:
        raise FormError(errors)
    return values


def _check_name(county_id: int, name: str, errors: dict[str, str], *,
                keep: Measure | None = None) -> None:
    """Names are unique within a county's catalogue; a city-wide name is taken only through
    “本区调整” (which keeps the name), so a county measure never shadows one by accident."""
    if keep is not None and keep.name == name:
        return
    clash = db.session.scalar(sa.select(Measure.id).where(
        Measure.name == name,
        sa.or_(Measure.county_id == county_id, Measure.county_id.is_(None))))
    if clash is None:
        return
    city = db.session.scalar(sa.select(Measure.id).where(
        Measure.name == name, Measure.county_id.is_(None)))
    errors["name"] = (_("全市目录已有同名措施，请在该措施上选择“本区调整”") if city
                      else _("本区目录已有同名措施"))


def _snapshot(m: Measure) -> dict[str, Any]:
    return {"area": m.area, "department": m.department, "name": m.name,
            "amount": str(m.amount) if m.amount is not None else None, "unit": m.unit,
            "note": m.note, "active": m.active}


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before[k], after[k]] for k in after if before.get(k) != after[k]}


def add_measure(county: Place, user: User, form: dict[str, Any]) -> Measure:
    values = parse_measure_form(form)
    errors: dict[str, str] = {}
    _check_name(county.id, values["name"], errors)
    if errors:
        raise FormError(errors)
    measure = Measure(county_id=county.id, active=True, **values)
    db.session.add(measure)
    db.session.flush()
    audit.record("measure.change", target_type="measure", target_id=measure.id,
                 place_id=county.id, user=user, op="add", values=_snapshot(measure))
    return measure


def edit_measure(measure: Measure, county: Place, user: User,
                 form: dict[str, Any]) -> Measure:
    """Edit a county measure in place; for a city-wide one, make the county's copy (本区调整),
    keeping the city-wide name so the copy replaces it in this county only."""
    values = parse_measure_form(form)
    if measure.county_id is None:
        values["name"] = measure.name
        copy = Measure(county_id=county.id, active=True, **values)
        db.session.add(copy)
        db.session.flush()
        audit.record("measure.change", target_type="measure", target_id=copy.id,
                     place_id=county.id, user=user, op="override", replaces=measure.id,
                     changes=_diff(_snapshot(measure), _snapshot(copy)))
        return copy
    if measure.county_id != county.id:
        raise PermissionError("another county's measure")
    errors: dict[str, str] = {}
    _check_name(county.id, values["name"], errors, keep=measure)
    if errors:
        raise FormError(errors)
    before = _snapshot(measure)
    for key, value in values.items():
        setattr(measure, key, value)
    changes = _diff(before, _snapshot(measure))
    if changes:
        audit.record("measure.change", target_type="measure", target_id=measure.id,
                     place_id=county.id, user=user, op="edit", changes=changes)
    return measure


def set_active(measure: Measure, county: Place, user: User, active: bool) -> Measure:
    """Deactivate (or reactivate) a measure for the county. A city-wide measure is
    deactivated for this county by an inactive county copy of the same name."""
    if measure.county_id is None:
        if active:
            return measure  # city-wide measures are active unless the city says otherwise
        copy = Measure(county_id=county.id, area=measure.area, department=measure.department,
                       name=measure.name, amount=measure.amount, unit=measure.unit,
                       note=measure.note, active=False)
        db.session.add(copy)
        db.session.flush()
        audit.record("measure.change", target_type="measure", target_id=copy.id,
                     place_id=county.id, user=user, op="deactivate", replaces=measure.id)
        return copy
    if measure.county_id != county.id:
        raise PermissionError("another county's measure")
    if measure.active != active:
        measure.active = active
        audit.record("measure.change", target_type="measure", target_id=measure.id,
                     place_id=county.id, user=user, op="activate" if active else "deactivate",
                     name=measure.name)
    return measure

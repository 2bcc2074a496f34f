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
from flask_babel import lazy_gettext as _l
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
# How the policy states an amount (Measure.amount_kind). "rule" is only kept from the
# catalogue (倾斜救助, 职业培训补贴): a county adjusts its figures, not its form.
AMOUNT_KINDS = ("none", "fixed", "minimum", "cap", "range", "rule")
FORM_AMOUNT_KINDS = AMOUNT_KINDS[:5]
AMOUNT_KIND_LABELS = {
    "none": _l("政策未定额（按规定或当年资金）"), "fixed": _l("定额"),
    "minimum": _l("不低于（下限）"), "cap": _l("最高不超过（上限）"), "range": _l("区间"),
    "rule": _l("按计算规则"),
}


# ---------------------------------------------------------------- catalogue

def _catalogue_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(DATA.read_text(encoding="utf-8"))["measures"]
    return rows


def _dec(value: Any) -> Decimal | None:
    return Decimal(str(value)) if value is not None else None


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    """Measure column values of a measures.json row."""
    return {"area": row["area"], "department": row["department"], "name": row["name"],
            "amount_kind": row["amount_kind"], "amount": _dec(row["amount"]),
            "amount_max": _dec(row["amount_max"]), "rule": row["rule"], "unit": row["unit"],
            "policy_line": row["policy_line"], "source": row["source"], "note": row["note"]}


def seed_catalogue() -> int:
    """Load the city-wide catalogue from measures.json when there is none yet (idempotent).
    Returns how many measures were added. The caller commits."""
    if db.session.scalar(sa.select(sa.func.count(Measure.id)).where(Measure.county_id.is_(None))):
        return 0
    rows = _catalogue_rows()
    for row in rows:
        db.session.add(Measure(county_id=None, active=True, **_fields(row)))
    return len(rows)


def upgrade_catalogue() -> tuple[int, int]:
    """Bring a stored city-wide catalogue to measures.json: a row named as an entry's `was`
    (the pre-issue-14 name) or `name` is updated in place, so plan entries keep pointing at
    it; entries with no stored row are added. County copies (本区调整) that carried an old
    city-wide name are renamed with it, so they keep replacing it. Returns (updated, added);
    idempotent. The caller commits."""
    stored = {m.name: m for m in db.session.scalars(
        sa.select(Measure).where(Measure.county_id.is_(None)))}
    updated = added = 0
    for row in _catalogue_rows():
        measure = stored.get(row["name"]) or stored.get(row.get("was") or "")
        fields = _fields(row)
        if measure is None:
            db.session.add(Measure(county_id=None, active=True, **fields))
            added += 1
            continue
        if measure.name != row["name"]:
            db.session.execute(sa.update(Measure).where(
                Measure.county_id.is_not(None), Measure.name == measure.name)
                .values(name=row["name"]))
        if any(getattr(measure, k) != v for k, v in fields.items()):
            for key, value in fields.items():
                setattr(measure, key, value)
            updated += 1
    return updated, added


# ---------------------------------------------------------------- amounts

def _num(value: Decimal | float | int) -> str:
    """12000 → "12000", 0.5 → "0.5", 625.50 → "625.5"."""
    return format(Decimal(str(value)).normalize(), "f")


def rule_text(rule: dict[str, Any] | None) -> str:
    """A structured amount rule in the policy's words."""
    rule = rule or {}
    if rule.get("kind") == "over_threshold":
        return _("年度政策范围内自付费用超过 %(threshold)s 元的部分按 %(rate)s%% 救助，"
                 "年度最高 %(cap)s 元",
                 threshold=_num(rule["threshold"]), rate=_num(Decimal(str(rule["rate"])) * 100),
                 cap=_num(rule["cap"]))
    if rule.get("kind") == "share_of_standard":
        return _("按%(basis)s的 %(rate)s%% 执行", basis=rule.get("basis", ""),
                 rate=_num(Decimal(str(rule["rate"])) * 100))
    return _("按政策标准")


def amount_kind(measure: Measure) -> str:
    """The measure's amount form; a row with an amount but no form (made before the forms
    existed) counts as fixed."""
    kind = measure.amount_kind or "none"
    return "fixed" if kind == "none" and measure.amount is not None else kind


def standard_text(measure: Measure) -> str:
    """The catalogue standard of a measure: "500 元/生·年", "不低于 400 元/生·年",
    "上限 200000 元", "300–500 元/月", a rule's text, or "按政策标准"."""
    unit = f" {measure.unit}" if measure.unit else ""
    kind, amount, top = amount_kind(measure), measure.amount, measure.amount_max
    if kind == "rule":
        return rule_text(measure.rule)
    if amount is None:
        return _("按政策标准")
    if kind == "minimum":
        return _("不低于 %(amount)s%(unit)s", amount=_num(amount), unit=unit)
    if kind == "cap":
        return _("上限 %(amount)s%(unit)s", amount=_num(amount), unit=unit)
    if kind == "range" and top is not None:
        return f"{_num(amount)}–{_num(top)}{unit}"
    return f"{_num(amount)}{unit}"


def amount_text(measure: Measure, amount: Decimal | None = None) -> str:
    """How an amount is shown (plan pages, 明白卡, ledger): the granted amount with the
    measure's unit when there is one, else the catalogue standard (`standard_text`)."""
    if amount is not None:
        unit = f" {measure.unit}" if measure.unit else ""
        return f"{_num(amount)}{unit}"
    return standard_text(measure)


def default_amount(measure: Measure) -> Decimal | None:
    """The amount a plan entry takes when none is typed: the fixed amount or the minimum;
    nothing for a cap, a range or a rule (the amount depends on the case)."""
    return measure.amount if amount_kind(measure) in ("fixed", "minimum") else None


def amount_cap(measure: Measure) -> Decimal | None:
    """The most a plan entry may grant under the measure, if the policy sets one."""
    kind = amount_kind(measure)
    if kind == "cap":
        return measure.amount
    if kind == "range":
        return measure.amount_max
    if kind == "rule" and (measure.rule or {}).get("cap") is not None:
        return Decimal(str((measure.rule or {})["cap"]))
    return None


def check_amount(measure: Measure, amount: Decimal | None) -> str | None:
    """Why a plan amount does not fit the measure's standard, or None when it does."""
    if amount is None:
        return None
    unit = measure.unit or _("元")
    floor = measure.amount if amount_kind(measure) in ("minimum", "range") else None
    if floor is not None and amount < floor:
        return _("该措施标准为%(standard)s，金额不能低于 %(floor)s %(unit)s",
                 standard=standard_text(measure), floor=_num(floor), unit=unit)
    top = amount_cap(measure)
    if top is not None and amount > top:
        return _("该措施标准为%(standard)s，金额不能超过 %(top)s %(unit)s",
                 standard=standard_text(measure), top=_num(top), unit=unit)
    return None


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


def _parse_amounts(form: dict[str, Any], base: Measure | None,
                   errors: dict[str, str]) -> dict[str, Any]:
    """amount_kind, amount, amount_max and rule from the form. A kind left out (an old
    form) follows the figure: an amount makes it fixed. A rule is kept from `base` only."""
    amount = parse_amount(form.get("amount"), errors)
    top = parse_amount(form.get("amount_max"), errors, "amount_max")
    kind = str(form.get("amount_kind", "") or "").strip() or ("fixed" if amount else "none")
    rule = base.rule if base is not None and base.amount_kind == "rule" else None
    allowed = FORM_AMOUNT_KINDS + (("rule",) if rule else ())
    if kind not in allowed:
        errors["amount_kind"] = _("请选择金额标准的形式")
    elif kind == "none" and amount is not None:
        errors["amount"] = _("选择“政策未定额”时请不要填写标准金额")
    elif kind in ("fixed", "minimum", "cap", "range") and amount is None \
            and "amount" not in errors:
        errors["amount"] = _("请填写标准金额（政策未定额的请选择“政策未定额”）")
    elif kind == "range" and top is None and "amount_max" not in errors:
        errors["amount_max"] = _("区间标准请填写最高金额")
    elif kind == "range" and amount is not None and top is not None and top <= amount:
        errors["amount_max"] = _("最高金额应大于最低金额")
    if kind == "none":
        amount = None
    return {"amount_kind": kind, "amount": amount,
            "amount_max": top if kind == "range" else None,
            "rule": rule if kind == "rule" else None}


def parse_measure_form(form: dict[str, Any], base: Measure | None = None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values = {
        "name": _text(form, "name", _("措施名称"), errors, required=True),
        "department": _text(form, "department", _("责任部门"), errors),
        "unit": _text(form, "unit", _("单位"), errors),
        "note": _text(form, "note", _("说明"), errors),
    }
    values.update(_parse_amounts(form, base, errors))
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
            "amount_kind": m.amount_kind,
            "amount": str(m.amount) if m.amount is not None else None,
            "amount_max": str(m.amount_max) if m.amount_max is not None else None,
            "rule": m.rule, "unit": m.unit, "note": m.note, "active": m.active}


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
    values = parse_measure_form(form, measure)
    if measure.county_id is None:
        values["name"] = measure.name
        copy = Measure(county_id=county.id, active=True, policy_line=measure.policy_line,
                       source=measure.source, **values)
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
                       name=measure.name, amount_kind=measure.amount_kind,
                       amount=measure.amount, amount_max=measure.amount_max,
                       rule=measure.rule, unit=measure.unit, note=measure.note,
                       policy_line=measure.policy_line, source=measure.source, active=False)
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

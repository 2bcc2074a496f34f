"""Editing a county's policy settings (income target, visit frequency, thresholds) with bounds.

The county's 城镇低保标准 is not one of them: it is a dated history (places.standards), set on
the same page with the date each value takes effect.

The numbers of 宛政办〔2023〕50号 are parameters of one city in one year: a county officer keeps
them current here. Every change is audited with its old and new values; the sync pull notices
`PolicySettings.updated_at` and sends phones a full refresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.places.models import DEFAULT_POLICY, Place, PolicySettings
from fieldwork.records import parse_money
from fieldwork.timeutil import now_utc


@dataclass(frozen=True)
class Setting:
    name: str
    label: Any  # lazy string
    unit: Any
    minimum: Decimal | int
    maximum: Decimal | int
    hint: Any = ""
    money: bool = False


# Bounds: wide enough for any county's real choice, narrow enough to catch a slip of the
# finger. exit_months starts at 6 because the plan requires 两有四保障 to hold "半年以上"
# before exit (a county may be stricter, not laxer); visits_per_month starts at 1 because
# the plan requires at least one visit a month.
SETTINGS: tuple[Setting, ...] = (
    Setting("income_target", _l("人均月收入目标（解困指标）"), _l("元/人·月"), Decimal("100"),
            Decimal("5000"),
            _l("实施方案的帮扶目标（人均月收入 630 元以上），用于住户档案和统计，不是低保标准"),
            money=True),
    Setting("visits_per_month", _l("每月入户走访次数"), _l("次"), 1, 10,
            _l("实施方案要求每月至少 1 次")),
    Setting("geofence_m", _l("走访定位允许距离"), _l("米"), 50, 5000,
            _l("定位离住户参考位置超过此距离（加定位误差）时标记“离住户较远”")),
    Setting("exit_months", _l("平稳退出前稳定月数"), _l("个月"), 6, 36,
            _l("“两有四保障”需持续稳固半年以上，不能少于 6 个月")),
    Setting("publicity_days", _l("公示天数"), _l("天"), 3, 30),
    Setting("poor_accuracy_m", _l("定位精度要求"), _l("米"), 10, 2000,
            _l("定位误差大于此值时标记“定位精度差”")),
    Setting("late_entry_hours", _l("补录时限"), _l("小时"), 1, 720,
            _l("走访后超过此时间才提交的记录标记“补录”")),
    Setting("clock_skew_minutes", _l("手机时间误差上限"), _l("分钟"), 1, 1440,
            _l("手机时间与服务器相差超过此值时标记“手机时间异常”")),
    Setting("max_photo_px", _l("照片最长边"), _l("像素"), 800, 4096,
            _l("手机上传前把照片缩小到此尺寸以内")),
)
NUMBER_NAMES = tuple(s.name for s in SETTINGS)
# Two settings that are not numbers: the county 解困办's phone (printed on the 明白卡 and the
# publicity list; "" = not set) and whether a stable exit is publicised (docs/exit.md).
OFFICE_PHONE, EXIT_PUBLICITY = "office_phone", "exit_publicity"
SETTING_NAMES = (*NUMBER_NAMES, OFFICE_PHONE, EXIT_PUBLICITY)
MAX_OFFICE_PHONE = 32
PHONE_CHARS = set("0123456789-－ ()（）转")




def settings_row(county: Place) -> PolicySettings | None:
    return db.session.scalar(sa.select(PolicySettings).where(PolicySettings.place_id == county.id))


def current_values(county: Place) -> dict[str, Any]:
    """The county's settings as stored (defaults where it has no row)."""
    row = settings_row(county)
    return {name: getattr(row, name) if row is not None else DEFAULT_POLICY[name]
            for name in SETTING_NAMES}


def all_counties() -> list[tuple[Place, dict[str, Any], PolicySettings | None]]:
    """Every county with its settings, for the city's read-only table (two queries)."""
    counties = list(db.session.scalars(
        sa.select(Place).where(Place.level == "county").order_by(Place.code)))
    rows = {r.place_id: r for r in db.session.scalars(sa.select(PolicySettings))}
    out = []
    for county in counties:
        row = rows.get(county.id)
        values = {n: getattr(row, n) if row is not None else DEFAULT_POLICY[n]
                  for n in SETTING_NAMES}
        out.append((county, values, row))
    return out


def parse(form: dict[str, Any]) -> dict[str, Any]:
    """Check every setting in a submitted form; raises FormError with one message per bad
    field, or returns {name: value}."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = str(form.get(s.name, "") or "").strip()
        label = str(s.label)
        if not raw:
            errors[s.name] = _("请填写“%(label)s”", label=label)
            continue
        value: Decimal | int | None
        if s.money:
            value = parse_money(raw)
            if value is None:
                errors[s.name] = _("“%(label)s”应为金额，如 630 或 630.50", label=label)
                continue
        else:
            try:
                value = int(raw)
            except ValueError:
                errors[s.name] = _("“%(label)s”应为整数", label=label)
                continue
        if value < s.minimum or value > s.maximum:
            errors[s.name] = _("“%(label)s”应在 %(lo)s 到 %(hi)s %(unit)s之间", label=label,
                               lo=s.minimum, hi=s.maximum, unit=str(s.unit))
            continue
        values[s.name] = value
    # The two others are changed only by a form that has them (the page sends
    # exit_publicity=0 before its checkbox), so an older form leaves them as they are.
    if OFFICE_PHONE in form:
        phone = str(form.get(OFFICE_PHONE, "") or "").strip()
        if len(phone) > MAX_OFFICE_PHONE:
            errors[OFFICE_PHONE] = _("解困办电话不能超过 %(n)d 个字符", n=MAX_OFFICE_PHONE)
        elif phone and (not set(phone) <= PHONE_CHARS or not any(c.isdigit() for c in phone)):
            errors[OFFICE_PHONE] = _("解困办电话只能包含数字、短横线、括号和“转”，如 0377-63123456")
        else:
            values[OFFICE_PHONE] = phone
    if EXIT_PUBLICITY in form:
        ticks = form.getlist(EXIT_PUBLICITY) if hasattr(form, "getlist") else [
            form.get(EXIT_PUBLICITY)]
        values[EXIT_PUBLICITY] = any(str(t).lower() in ("1", "true", "on") for t in ticks)
    if errors:
        raise FormError(errors)
    return values


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def update(county: Place, user: User, form: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Apply a submitted form to the county's settings. Returns {name: (old, new)} of what
    changed (empty when nothing did, and then nothing is written). The caller commits."""
    if county.level != "county":
        raise ValueError("policy settings belong to a county")
    values = parse(form)
    row = settings_row(county)
    old = current_values(county)
    changes = {}
    for name, new in values.items():
        before = old[name]
        if (Decimal(str(before)) != new) if isinstance(new, Decimal) else before != new:
            changes[name] = (before, new)
    if not changes:
        return {}
    if row is None:
        row = PolicySettings(place_id=county.id, **{n: DEFAULT_POLICY[n] for n in SETTING_NAMES})
        db.session.add(row)
    for name, (_before, new) in changes.items():
        setattr(row, name, new)
    row.updated_by_id = user.id
    row.updated_at = now_utc()
    audit.record("policy.change", target_type="place", target_id=county.id, place_id=county.id,
                 user=user,
                 changes={n: [_plain(a), _plain(b)] for n, (a, b) in changes.items()})
    return changes

"""The facts each exit route needs (docs/exit.md "Routes and their facts"): which date, which
text, the destination of a move, the stable route's judgement and evidence; parsed from a form
with one Chinese message per bad field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.errors import FormError
from fieldwork.households.constants import EXIT_ROUTES
from fieldwork.households.management import exit as evidence
from fieldwork.households.management.plans import parse_date
from fieldwork.households.models import Household, Member
from fieldwork.records import parse_note
from fieldwork.timeutil import today_local

MAX_TEXT = 1000
MAX_FIELD = 200


@dataclass(frozen=True)
class RouteSpec:
    date_label: Any  # the route's own date (None: the stable route has none)
    reason_label: Any
    reason_required: bool
    takes_effect_on_date: bool  # death and moving: the exit dates from the event
    destination: bool = False


ROUTES: dict[str, RouteSpec] = {
    "stable": RouteSpec(None, _l("致困因素消除情况"), True, False),
    "death": RouteSpec(_l("死亡日期"), _l("死亡人员及证明材料"), True, True),
    "moved": RouteSpec(_l("迁出日期"), _l("迁出或户籍变更情况及证明"), True, True,
                       destination=True),
    "ineligible": RouteSpec(_l("复核日期"), _l("复核发现的变化"), True, False),
    "withdrawn": RouteSpec(_l("书面申请日期"), _l("申请理由"), False, False),
    "fraud": RouteSpec(_l("查实日期"), _l("查实的隐瞒或虚报情况"), True, False),
}


# ---------------------------------------------------------------- the route's facts

def parse_route(household: Household, form: Any, route: str | None = None
                ) -> tuple[str, dict[str, Any], evidence.Evidence | None]:
    """The route and its facts from a form (route given: a resubmission keeps its route).
    Returns (route, facts, the stable route's evidence); raises FormError."""
    errors: dict[str, str] = {}
    route = route or str(form.get("route", "") or "")
    if route not in EXIT_ROUTES:
        raise FormError.of(_("请选择退出类型"), "route")
    spec = ROUTES[route]
    facts: dict[str, Any] = {"route": route}
    facts["reason"] = parse_note(
        form.get("reason"), "reason", errors, label=str(spec.reason_label),
        max_length=MAX_TEXT,
        required=_("请填写“%(label)s”", label=str(spec.reason_label))
        if spec.reason_required else None)
    facts["opinion"] = parse_note(form.get("opinion"), "opinion", errors, label=_("提出意见"),
                                  max_length=MAX_TEXT)
    if spec.date_label is not None:
        label = str(spec.date_label)
        day = parse_date(form.get("event_on"), label, "event_on", errors, required=True)
        if day is not None:
            if day > today_local():
                errors["event_on"] = _("“%(label)s”不能晚于今天", label=label)
            elif (spec.takes_effect_on_date and household.enrolled_on is not None
                  and day < household.enrolled_on):
                errors["event_on"] = _("“%(label)s”不能早于该户纳入日期 %(d)s", label=label,
                                       d=household.enrolled_on.isoformat())
            else:
                facts["event_on"] = day.isoformat()
    if spec.destination:
        facts["destination"] = parse_note(
            form.get("destination"), "destination", errors, label=_("迁往地"),
            max_length=MAX_FIELD, required=_("请填写迁往地（迁入地的省市县或详细地址）"))
    if route == "stable" and str(form.get("causes_resolved", "") or "") != "1":
        errors["causes_resolved"] = _(
            "平稳退出须确认致困因素已稳定消除（实施方案：“两有四保障”持续稳固半年以上）")
    if route == "death":
        # The file's own record of a member who died is the evidence (households.members).
        died = [m for m in household.members if m.left_reason == "died"]
        facts["recorded_deaths"] = [{"member": m.id, "relation": m.relation,
                                     "left_on": m.left_on.isoformat() if m.left_on else None}
                                    for m in died]
    if errors:
        raise FormError(errors)
    ev = evidence.check_eligible(household) if route == "stable" else None
    if route == "stable":
        facts["causes_resolved"] = True
    return route, facts, ev



def deceased_members(household: Household) -> list[Member]:
    return [m for m in household.members if m.left_reason == "died"]

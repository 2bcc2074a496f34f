"""The household's timeline: one dated list of what happened to its file.

Built from PROVIDERS, functions that each return the events of one feature for a household
with a fixed number of queries (never one per event). Another feature adds its events by
writing such a function and adding one line to PROVIDERS (or calling `add_provider`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import orm

from fieldwork.access.validity import valid_visit_clause
from fieldwork.extensions import db
from fieldwork.households import changes
from fieldwork.households.constants import CHANNEL_LABELS, DECISION_LABELS, DIMENSION_SHORT
from fieldwork.households.intake.steps import COUNTY_CONFIRM, SOURCE_LABELS, STEP_LABELS
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Objection,
    PlanMeasure,
    PlatformEntry,
    WatchCheck,
    WatchEntry,
)
from fieldwork.households.services import open_problems
from fieldwork.timeutil import CST, local
from fieldwork.visits.models import Visit

EXIT_STEP_LABELS = {"exit_proposal": _l("退出申请"), "exit_review": _l("退出审核")}


@dataclass(frozen=True)
class Event:
    """One dated thing on the timeline. `at` is aware (UTC or local); `whole_day` when only
    the date is known (plan and helper dates, enrolment, exit)."""

    at: datetime
    kind: str  # intake | decision | publicity | objection | enrolment | change | plan |
    #            helper | visit | exit | ... (a provider's own word)
    title: str
    detail: str = ""
    state: str = ""  # e.g. a change's pending|applied|rejected
    whole_day: bool = False
    link: str = ""  # an endpoint-free path, for the page to link when the user may follow

    @property
    def day(self) -> date:
        return local(self.at).date()


Provider = Callable[[Household], list[Event]]


def _day(d: date) -> datetime:
    # A date-only event sorts at the start of its (China Standard Time) day.
    return datetime.combine(d, time.min, tzinfo=CST)


def _label(labels: dict, code: str | None) -> str:
    return str(labels.get(code, code or ""))


# ---------------------------------------------------------------- providers


def intake_events(hh: Household) -> list[Event]:
    """Cases (intake and exit), each decision with step and opinion, publicity, objections
    (three queries)."""
    cases = list(db.session.scalars(
        sa.select(Case).where(Case.household_id == hh.id)
        .options(orm.selectinload(Case.decisions)).order_by(Case.opened_at, Case.id)))
    out: list[Event] = []
    for case in cases:
        if case.kind == "exit":
            out.append(Event(case.opened_at, "exit", _("提出退出申请")))
        else:
            out.append(Event(case.opened_at, "intake", _("立案（%(channel)s · %(source)s）",
                             channel=_label(CHANNEL_LABELS, case.channel),
                             source=_label(SOURCE_LABELS, case.source)),
                             case.organisation))
        for d in case.decisions:
            step = _label(EXIT_STEP_LABELS, d.step) if d.step in EXIT_STEP_LABELS \
                else _label(STEP_LABELS, d.step)
            out.append(Event(d.decided_at, "decision", _("%(step)s：%(decision)s", step=step,
                             decision=_label(DECISION_LABELS, d.decision)),
                             f"{d.reviewer.name} · {d.opinion}" if d.opinion
                             else d.reviewer.name))
            if d.step == COUNTY_CONFIRM and d.decision == "approve" and case.kind != "exit":
                out.append(Event(d.decided_at, "publicity", _("开始公示")))
        if case.publicity_ends_on is not None:
            out.append(Event(_day(case.publicity_ends_on), "publicity", _("公示期满"),
                             whole_day=True))
    case_ids = [c.id for c in cases]
    if case_ids:
        for o in db.session.scalars(
                sa.select(Objection).where(Objection.case_id.in_(case_ids))):
            out.append(Event(o.recorded_at, "objection", _("公示期间收到异议"), o.text))
            if o.resolved_at is not None:
                out.append(Event(o.resolved_at, "objection",
                                 _("异议成立") if o.upheld else _("异议不成立"), o.resolution))
    return out


def lifecycle_events(hh: Household) -> list[Event]:
    """Enrolment and exit, from the file itself (no query)."""
    out = []
    if hh.enrolled_on is not None:
        out.append(Event(_day(hh.enrolled_on), "enrolment",
                         _("纳入帮扶，建档（%(no)s）", no=hh.file_no or "—"), whole_day=True))
    if hh.exited_on is not None:
        out.append(Event(_day(hh.exited_on), "exit", _("退出帮扶"), whole_day=True))
    return out


def change_events(hh: Household) -> list[Event]:
    """Changes of the file, applied, pending or refused (one query)."""
    out = []
    for c in changes.history(hh):
        who = c.requested_by.name if c.requested_by is not None else _("系统")
        detail = _("%(before)s → %(after)s；%(who)s：%(reason)s",
                   before=changes.describe(c, "before"), after=changes.describe(c, "after"),
                   who=who, reason=c.reason)
        out.append(Event(c.requested_at, "change", _("变更：%(kind)s", kind=changes.kind_label(
            c.kind)), detail, state=c.state))
        if c.state == "rejected" and c.decided_at is not None:
            out.append(Event(c.decided_at, "change", _("变更未通过：%(kind)s",
                             kind=changes.kind_label(c.kind)), c.decision_note, "rejected"))
    return out


def plan_events(hh: Household) -> list[Event]:
    """Measures entering and leaving the plan (one query)."""
    out = []
    for pm in db.session.scalars(sa.select(PlanMeasure).where(PlanMeasure.household_id == hh.id)
                                 .order_by(PlanMeasure.start_date, PlanMeasure.id)):
        name = pm.measure.name
        out.append(Event(_day(pm.start_date), "plan", _("帮扶措施开始：%(m)s", m=name),
                         pm.note, whole_day=True))
        if pm.end_date is not None:
            out.append(Event(_day(pm.end_date), "plan", _("帮扶措施结束：%(m)s", m=name),
                             whole_day=True))
    return out


def helper_events(hh: Household) -> list[Event]:
    """Helper responsibility starting and ending (one query)."""
    out = []
    for a in db.session.scalars(sa.select(Assignment).where(Assignment.household_id == hh.id)
                                .order_by(Assignment.start_date, Assignment.id)):
        out.append(Event(_day(a.start_date), "helper", _("帮扶责任人：%(n)s", n=a.helper.name),
                         a.reason, whole_day=True))
        if a.end_date is not None:
            out.append(Event(_day(a.end_date), "helper",
                             _("%(n)s 不再负责该户", n=a.helper.name), whole_day=True))
    return out


def visit_problem_events(hh: Household) -> list[Event]:
    """Valid visits that found a dimension at risk or in difficulty (one query)."""
    out = []
    for v in db.session.scalars(sa.select(Visit).where(Visit.household_id == hh.id,
                                                       valid_visit_clause())):
        problems = open_problems(v)
        if problems:
            out.append(Event(v.visited_at, "visit", _("走访发现困难：%(d)s", d="、".join(
                str(DIMENSION_SHORT[d]) for d in problems)), v.helper.name,
                link=f"/visits/{v.id}"))
    return out


def watch_events(hh: Household) -> list[Event]:
    """The watch list (加强监测, policy line 147): put on it, each check, taken off it (two
    queries)."""
    out = []
    for w in db.session.scalars(sa.select(WatchEntry).where(WatchEntry.household_id == hh.id)):
        out.append(Event(w.started_at, "watch", _("列入监测名单"), _(
            "%(reason)s；复查日期 %(day)s", reason=w.reason, day=w.recheck_on.isoformat())))
        if w.ended_at is not None:
            out.append(Event(w.ended_at, "watch", _("移出监测名单"), w.end_reason))
    for c in db.session.scalars(sa.select(WatchCheck).where(WatchCheck.household_id == hh.id)):
        out.append(Event(_day(c.checked_on), "watch", _("监测记录"), c.changes, whole_day=True))
    return out


def platform_events(hh: Household) -> list[Event]:
    """Entry into the provincial monitoring platform (policy line 67; one query)."""
    entry = db.session.scalar(sa.select(PlatformEntry).where(PlatformEntry.household_id == hh.id))
    if entry is None:
        return []
    return [Event(_day(entry.entered_on), "platform", _("录入低收入人口动态监测信息平台"),
                  entry.entered_by.name, whole_day=True)]


PROVIDERS: list[Provider] = [
    intake_events,
    lifecycle_events,
    change_events,
    plan_events,
    helper_events,
    visit_problem_events,
    watch_events,
    platform_events,
]


def add_provider(provider: Provider) -> Provider:
    """Add a feature's events to every timeline (usable as a decorator)."""
    if provider not in PROVIDERS:
        PROVIDERS.append(provider)
    return provider


def build(hh: Household) -> list[Event]:
    """Every provider's events, oldest first (ties keep the providers' order)."""
    events = [e for provider in PROVIDERS for e in provider(hh)]
    return sorted(events, key=lambda e: e.at)


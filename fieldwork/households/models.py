"""The registry: households, members, helper assignments, measures, plans and reviews."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fieldwork.accounts.models import User
from fieldwork.dbtypes import JSONType, UTCDateTime, utcnow
from fieldwork.extensions import Model
from fieldwork.households.constants import CATEGORIES, PERSON_TYPES, STATUSES
from fieldwork.places.models import Place
from fieldwork.timeutil import today_local


class Household(Model):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Assigned at enrolment (一户一档); unique within the city.
    file_no: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    # The head (户主) is a member (relation "self", one person, one ID: `head`); this is
    # the display name lists, search, exports and the phones' pull read without loading
    # members, kept in step by households.members.
    head_name: Mapped[str] = mapped_column(sa.String(64))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    # The unit the head works or worked for, and whether 职工 or 居民 (PERSON_TYPES).
    employer: Mapped[str] = mapped_column(sa.String(100), default="",
                                          server_default=sa.text("''"))
    person_type: Mapped[str | None] = mapped_column(sa.String(12))
    address: Mapped[str] = mapped_column(sa.String(200))
    place_id: Mapped[int] = mapped_column(sa.ForeignKey("places.id"), index=True)
    # Denormalised from the place tree so county/street roll-ups need no recursive join.
    county_id: Mapped[int] = mapped_column(sa.ForeignKey("places.id"), index=True)
    street_id: Mapped[int | None] = mapped_column(sa.ForeignKey("places.id"), index=True)
    category: Mapped[str] = mapped_column(sa.String(24))
    # Further priority groups the household also belongs to, besides `category` (codes of
    # PRIORITY_GROUPS; never the main category itself; empty for "other").
    groups: Mapped[list[str]] = mapped_column(JSONType, default=list,
                                              server_default=sa.text("'[]'"))
    causes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="reported", index=True)
    # The number of current members (households.members keeps it; never typed).
    members_count: Mapped[int] = mapped_column(default=1)
    # The household's monthly income as recorded at intake: the per-capita income until a
    # visit in the file gives a newer one (visits.services.accepted_income).
    intake_income: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    # The latest accepted income over the current members (visits.services.per_capita).
    per_capita_income: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    # Reference location, always stored in WGS-84; source_crs says what it came in as.
    ref_lat: Mapped[float | None]
    ref_lon: Mapped[float | None]
    ref_source: Mapped[str | None] = mapped_column(sa.String(16))
    ref_source_crs: Mapped[str | None] = mapped_column(sa.String(8))
    ref_confirmed: Mapped[bool] = mapped_column(default=False)
    ref_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Proposed from the first visit with a good fix, until a county officer confirms it.
    proposed_lat: Mapped[float | None]
    proposed_lon: Mapped[float | None]
    proposed_visit_id: Mapped[str | None] = mapped_column(sa.String(36))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    # Bumped on every change a phone should see (sync cursor).
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    enrolled_on: Mapped[date | None]
    exited_on: Mapped[date | None]
    exit_route: Mapped[str | None] = mapped_column(sa.String(16))  # EXIT_ROUTES, set on exit
    # The import batch (households.imports) that created the file, if one did.
    import_batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("import_batches.id"),
                                                        index=True)

    place: Mapped[Place] = relationship(foreign_keys=[place_id], lazy="joined")
    members: Mapped[list[Member]] = relationship(
        back_populates="household", cascade="all, delete-orphan", order_by="Member.id"
    )
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="household", cascade="all, delete-orphan", order_by="Assignment.start_date"
    )
    plan: Mapped[list[PlanMeasure]] = relationship(
        back_populates="household", cascade="all, delete-orphan", order_by="PlanMeasure.id"
    )

    __table_args__ = (
        sa.CheckConstraint(sa.text(f"category in {CATEGORIES}"), name="category"),
        sa.CheckConstraint(sa.text(f"status in {STATUSES}"), name="status"),
        sa.CheckConstraint(sa.text(f"person_type is null or person_type in {PERSON_TYPES}"),
                           name="person_type"),
        sa.Index("ix_households_county_status", "county_id", "status"),
    )

    def set_place(self, place: Place) -> None:
        self.place = place
        self.place_id = place.id
        self.county_id = place.county_id() or place.id
        self.street_id = place.street_id()

    @property
    def head(self) -> Member | None:
        """The current member with relation self (户主), whose ID is the household's."""
        return next((m for m in self.members if m.left_on is None and m.relation == "self"),
                    None)

    @property
    def has_reference(self) -> bool:
        return self.ref_lat is not None and self.ref_lon is not None

    def current_assignment(self, on: date | None = None) -> Assignment | None:

        day = on or today_local()
        for a in reversed(self.assignments):
            if a.start_date <= day and (a.end_date is None or a.end_date >= day):
                return a
        return None


class Member(Model):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    relation: Mapped[str] = mapped_column(sa.String(16), default="other")
    gender: Mapped[str | None] = mapped_column(sa.String(8))
    birth_date: Mapped[date | None]
    id_enc: Mapped[str | None] = mapped_column(sa.Text)
    id_index: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    id_mask: Mapped[str | None] = mapped_column(sa.String(24))
    # Sensitive, shown only to those in scope. A free note on the member (病情, 证件...);
    # the facts measures target are the coded columns below.
    health: Mapped[str] = mapped_column(sa.String(200), default="")
    monthly_income: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    # Structured facts the measures are targeted by (分类施策); codes in constants.py.
    illness: Mapped[str] = mapped_column(sa.String(12), default="")  # ILLNESSES
    disability_kind: Mapped[str] = mapped_column(sa.String(16), default="")  # DISABILITY_KINDS
    disability_grade: Mapped[int | None]  # 1..4 (一级..四级) when disabled
    schooling_stage: Mapped[str] = mapped_column(sa.String(16), default="")  # SCHOOLING_STAGES
    boarding: Mapped[bool] = mapped_column(default=False)  # 寄宿生 (compulsory-education aid)
    employment_status: Mapped[str] = mapped_column(sa.String(16), default="")  # EMPLOYMENT
    # Membership over time: a member who died or moved out is kept with the date and reason.
    joined_on: Mapped[date | None]
    left_on: Mapped[date | None]
    left_reason: Mapped[str] = mapped_column(sa.String(16), default="")  # LEAVE_REASONS

    household: Mapped[Household] = relationship(back_populates="members")

    @property
    def current(self) -> bool:
        return self.left_on is None


def current_head_clause() -> sa.ColumnElement[bool]:
    """Members who head their household now: relation self, not left."""
    return sa.and_(Member.relation == "self", Member.left_on.is_(None))


class Assignment(Model):
    """Who was the household's helper, from when to when (结对帮扶 history)."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"))
    helper_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    start_date: Mapped[date]
    # Last day of responsibility (inclusive); None while current.
    end_date: Mapped[date | None]
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    household: Mapped[Household] = relationship(back_populates="assignments")
    helper: Mapped[User] = relationship(foreign_keys=[helper_id], lazy="joined")

    __table_args__ = (
        sa.Index("ix_assignments_household_start", "household_id", "start_date"),
        sa.CheckConstraint("end_date is null or end_date >= start_date", name="dates"),
    )


class Measure(Model):
    """The county's catalogue of assistance measures (分类施策)."""

    __tablename__ = "measures"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_id: Mapped[int | None] = mapped_column(sa.ForeignKey("places.id"), index=True)
    area: Mapped[str] = mapped_column(sa.String(16))  # one of the six dimensions
    department: Mapped[str] = mapped_column(sa.String(64), default="")
    name: Mapped[str] = mapped_column(sa.String(120))
    amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    unit: Mapped[str] = mapped_column(sa.String(32), default="")
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # How the policy states the amount (MEASURE_AMOUNT_KINDS in management.measures):
    # "none" (no figure: 按规定/按当年资金), "fixed" (amount), "minimum" (不低于 amount),
    # "cap" (最高/不超过 amount), "range" (amount–amount_max) or "rule" (the `rule` fields,
    # e.g. 倾斜救助 {"threshold": 12000, "rate": 0.6, "cap": 10000}).
    amount_kind: Mapped[str] = mapped_column(sa.String(12), default="none")
    amount_max: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Where the policy text (宛政办〔2023〕50号, docs/measures.md) lists the measure, and its words.
    policy_line: Mapped[int | None]
    source: Mapped[str] = mapped_column(sa.String(300), default="")


class PlanMeasure(Model):
    """A measure in a household's plan (一户一计划、一户一措施)."""

    __tablename__ = "plan_measures"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    measure_id: Mapped[int] = mapped_column(sa.ForeignKey("measures.id"))
    amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    note: Mapped[str] = mapped_column(sa.String(300), default="")

    household: Mapped[Household] = relationship(back_populates="plan")
    measure: Mapped[Measure] = relationship(lazy="joined")

    def in_force(self, on: date) -> bool:
        return self.start_date <= on and (self.end_date is None or self.end_date >= on)


class Case(Model):
    """One pass of a household through a review chain: intake (三渠道) or exit (平稳退出)."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12), default="intake")  # intake | exit
    channel: Mapped[str] = mapped_column(sa.String(16), default="territorial")
    stage: Mapped[str] = mapped_column(sa.String(24))  # the step now waiting for a decision
    state: Mapped[str] = mapped_column(sa.String(12), default="open")  # open|approved|rejected
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stage_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publicity_ends_on: Mapped[date | None]
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(sa.String(16), default="application")
    discovery_id: Mapped[str | None] = mapped_column(sa.ForeignKey("discovery_reports.id"))
    # The department or sector body that screened the case (departmental / sector channels).
    organisation: Mapped[str] = mapped_column(sa.String(64), default="")
    draft_plan: Mapped[str] = mapped_column(sa.Text, default="")
    # Exit cases (kind "exit"): the route (EXIT_ROUTES), the day the exit takes effect (the
    # day of death or of moving away; the decision's day for the others) and the reasons.
    exit_route: Mapped[str | None] = mapped_column(sa.String(16))
    exit_on: Mapped[date | None]
    exit_reason: Mapped[str] = mapped_column(sa.Text, default="")

    household: Mapped[Household] = relationship()
    decisions: Mapped[list[ReviewDecision]] = relationship(
        back_populates="case", order_by="ReviewDecision.decided_at"
    )

    __table_args__ = (sa.Index("ix_cases_stage_state", "stage", "state"),)


class Objection(Model):
    """An objection raised during the publicity period (公示), and how it was resolved."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    raised_by: Mapped[str] = mapped_column(sa.String(64), default="")
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolution: Mapped[str] = mapped_column(sa.Text, default="")
    upheld: Mapped[bool | None]
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReviewDecision(Model):
    """Who decided what, when, with which opinion: the 审核审批表 and the visit review."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    visit_id: Mapped[str | None] = mapped_column(sa.ForeignKey("visits.id"), index=True)
    step: Mapped[str] = mapped_column(sa.String(24))
    decision: Mapped[str] = mapped_column(sa.String(12))
    opinion: Mapped[str] = mapped_column(sa.Text, default="")
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case | None] = relationship(back_populates="decisions")
    reviewer: Mapped[User] = relationship(lazy="joined")


class HouseholdChange(Model):
    """One change to a household's file after it was opened (动态管理): what, the value
    before and after, who asked, why, and -- for changes the policy makes an office
    responsible for -- who confirmed or refused it. Nothing in the file changes without one."""

    __tablename__ = "household_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(24))  # a registered kind (households.changes)
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"), index=True)
    before: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    source: Mapped[str] = mapped_column(sa.String(12), default="office")  # CHANGE_SOURCES
    visit_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    state: Mapped[str] = mapped_column(sa.String(12), default="applied")  # pending|applied|rejected
    # The office that must confirm ("street" or "county"); None: took effect at once.
    confirm_level: Mapped[str | None] = mapped_column(sa.String(12))
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(sa.Text, default="")

    household: Mapped[Household] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    __table_args__ = (
        sa.CheckConstraint("state in ('pending', 'applied', 'rejected')", name="state"),
        sa.Index("ix_household_changes_state_household", "state", "household_id"),
    )
class PlatformEntry(Model):
    """When an enrolled household was entered into the province's 低收入人口动态监测信息平台
    (policy line 67), and by which county officer. One row per household; its absence is
    "not yet entered"."""

    __tablename__ = "platform_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), unique=True)
    entered_on: Mapped[date]
    entered_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reference: Mapped[str] = mapped_column(sa.String(64), default="")
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    entered_by: Mapped[User] = relationship(lazy="joined")
class WatchEntry(Model):
    """A household not enrolled, watched for changes (政策 第147行 加强监测): why, since when,
    when to look again, and how the watch ended (review restarted). Kept after it ends."""

    __tablename__ = "watch_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    # The case that ended not enrolled, when there was one.
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    recheck_on: Mapped[date]
    started_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    end_reason: Mapped[str] = mapped_column(sa.Text, default="")
    # The intake case that "重新启动审核" opened.
    restart_case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))

    household: Mapped[Household] = relationship()
    started_by: Mapped[User] = relationship(foreign_keys=[started_by_id], lazy="joined")
    checks: Mapped[list[WatchCheck]] = relationship(
        back_populates="entry", order_by="WatchCheck.checked_on.desc(), WatchCheck.id.desc()"
    )

    __table_args__ = (
        # One open watch per household, even when two reviewers act at once.
        sa.Index("ux_watch_entries_open", "household_id", unique=True,
                 sqlite_where=sa.text("ended_at IS NULL"),
                 postgresql_where=sa.text("ended_at IS NULL")),
        sa.Index("ix_watch_entries_recheck", "ended_at", "recheck_on"),
    )


class WatchCheck(Model):
    """A monitoring check (监测记录) of a watched household by the community or street: not
    the helper's monthly visit."""

    __tablename__ = "watch_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("watch_entries.id"), index=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    checked_on: Mapped[date]
    changes: Mapped[str] = mapped_column(sa.Text, default="")
    note: Mapped[str] = mapped_column(sa.Text, default="")
    next_recheck_on: Mapped[date]
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    entry: Mapped[WatchEntry] = relationship(back_populates="checks")
    recorded_by: Mapped[User] = relationship(lazy="joined")
# ---------------------------------------------------------------- evidence at intake
# What a case rests on (issue 13, point 3; policy lines 37, 55, 59-67): registration and
# residence, income by source, the information checks, the department or sector screening
# result and the application materials. Services: households/intake/evidence.py, documents.py.

INFO_CHECK_KINDS = ("hukou", "social_insurance", "business", "tax", "marriage", "property",
                    "vehicle", "housing_fund", "finance")
INFO_CHECK_OUTCOMES = ("match", "mismatch", "pending")
SCREENING_RESULTS = ("eligible", "ineligible")
DOCUMENT_KINDS = ("image", "pdf")


class CaseResidence(Model):
    """户籍 and residence as the applicant declares them at intake (one per case)."""

    __tablename__ = "case_residences"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), unique=True)
    # 南阳市城镇户籍: the condition to apply (policy line 37).
    urban_hukou: Mapped[bool]
    hukou_address: Mapped[str] = mapped_column(sa.String(200))
    lives_at_hukou: Mapped[bool]
    # Filled only when the household does not live at its registered address.
    residence_address: Mapped[str] = mapped_column(sa.String(200), default="")
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    recorded_by: Mapped[User] = relationship(lazy="joined")


class CaseIncome(Model):
    """Household income at intake by source, yuan per month (one per case)."""

    __tablename__ = "case_incomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), unique=True)
    wages: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal(0))
    pensions: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal(0))
    business: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal(0))
    transfers: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal(0))
    other: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal(0))
    other_note: Mapped[str] = mapped_column(sa.String(100), default="")
    # The household size the per-capita figure was divided by, when it was recorded.
    members_count: Mapped[int]
    total: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    per_capita: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2))
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    recorded_by: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("wages >= 0 and pensions >= 0 and business >= 0 and transfers >= 0"
                           " and other >= 0", name="amounts"),
        sa.CheckConstraint("members_count >= 1", name="members"),
    )


class InfoCheck(Model):
    """The outcome of one information check (信息核对, policy line 55); a re-check adds a row."""

    __tablename__ = "info_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    outcome: Mapped[str] = mapped_column(sa.String(12))
    checked_on: Mapped[date]
    checked_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    checked_by: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(sa.text(f"kind in {INFO_CHECK_KINDS}"), name="kind"),
        sa.CheckConstraint(sa.text(f"outcome in {INFO_CHECK_OUTCOMES}"), name="outcome"),
    )


class CaseScreening(Model):
    """A department's or sector body's screening result (认定结果, policy lines 63-65), kept
    apart from the review opinions (one per case)."""

    __tablename__ = "case_screenings"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), unique=True)
    result: Mapped[str] = mapped_column(sa.String(12))
    decided_on: Mapped[date]
    organisation: Mapped[str] = mapped_column(sa.String(64))
    document_no: Mapped[str] = mapped_column(sa.String(64), default="")
    note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    recorded_by: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(sa.text(f"result in {SCREENING_RESULTS}"), name="result"),
    )


class CaseDocument(Model):
    """An application material (申请材料) attached to a case: a scan or photo, re-encoded by
    the photo pipeline, or a PDF; the bytes live in the photo store (documents/…)."""

    __tablename__ = "case_documents"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    doc_type: Mapped[str] = mapped_column(sa.String(24))
    kind: Mapped[str] = mapped_column(sa.String(8))
    filename: Mapped[str] = mapped_column(sa.String(120), default="")
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    size: Mapped[int]
    upload_sha256: Mapped[str] = mapped_column(sa.String(64))
    stored_sha256: Mapped[str] = mapped_column(sa.String(64))
    width: Mapped[int | None]
    height: Mapped[int | None]
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    uploaded_by: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(sa.text(f"kind in {DOCUMENT_KINDS}"), name="kind"),
    )

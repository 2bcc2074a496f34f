"""The one rule of who may see what.

Every list, detail page, export and sync call asks this module which places and households a
user may see. Out-of-scope records answer 404, never a hint that they exist.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import abort
from sqlalchemy.sql.elements import ColumnElement

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.extensions import db
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Measure,
    Member,
    Objection,
    PlanMeasure,
)
from fieldwork.photos.models import Photo
from fieldwork.places.models import Place
from fieldwork.timeutil import today_local
from fieldwork.visits.models import Visit


def current_assignment_clause(on: date | None = None) -> ColumnElement[bool]:
    """Assignments in force on a day (inclusive end date)."""
    day = on or today_local()
    return sa.and_(
        Assignment.start_date <= day,
        sa.or_(Assignment.end_date.is_(None), Assignment.end_date >= day),
    )


def place_clause(user: User) -> ColumnElement[bool]:
    """Places the user may see: their home place and everything below it."""
    if user.role == roles.HELPER:
        # A helper's world is their households; they see the places those lie in.
        return Place.id.in_(
            sa.select(Household.place_id).where(household_clause(user))
        )
    if user.place.level == "city":
        return sa.true()
    return Place.path.startswith(user.place.path, autoescape=True)


def household_clause(user: User, on: date | None = None) -> ColumnElement[bool]:
    """Households the user may see, as a WHERE clause on Household."""
    if not user.is_active:
        return sa.false()
    if user.role == roles.HELPER:
        return Household.id.in_(
            sa.select(Assignment.household_id).where(
                Assignment.helper_id == user.id, current_assignment_clause(on)
            )
        )
    if user.role == roles.DEPARTMENT_REVIEWER:
        # A department or sector body sees the cases it screened, not the whole county.
        return sa.and_(
            Household.county_id == user.place_id,
            Household.id.in_(sa.select(Case.household_id).where(department_case_clause(user))),
        )
    level = user.place.level
    if level == "city":
        return sa.true()
    if level == "county":
        return Household.county_id == user.place_id
    if level == "street":
        return Household.street_id == user.place_id
    return Household.place_id == user.place_id


def department_case_clause(user: User) -> ColumnElement[bool]:
    """Cases a department or sector body screens: entered by the user or of its body."""
    return sa.or_(Case.opened_by_id == user.id,
                  sa.and_(Case.organisation != "", Case.organisation == user.organisation))


def visible_households(user: User) -> sa.Select[Household]:
    return sa.select(Household).where(household_clause(user))


def can_see_household(user: User, household: Household) -> bool:
    return bool(
        db.session.scalar(
            sa.select(sa.literal(True)).where(
                Household.id == household.id, household_clause(user)
            )
        )
    )


def get_household_or_404(user: User, household_id: int) -> Household:
    return db.first_or_404(
        sa.select(Household).where(Household.id == household_id, household_clause(user)))


def can_see_place(user: User, place: Place) -> bool:
    if user.role == roles.HELPER:
        return bool(db.session.scalar(sa.select(sa.literal(True)).where(
            Place.id == place.id, place_clause(user))))
    return place.is_within(user.place)


def get_place_or_404(user: User, place_id: int) -> Place:
    place = db.session.get(Place, place_id)
    if place is None or not can_see_place(user, place):
        abort(404)
    return place


def visit_clause(user: User) -> ColumnElement[bool]:
    """Visits the user may see: those of visible households, and a helper's own."""
    visible = Visit.household_id.in_(sa.select(Household.id).where(household_clause(user)))
    if user.role == roles.HELPER:
        return sa.or_(Visit.helper_id == user.id, visible)
    return visible


def get_visit_or_404(user: User, visit_id: str) -> Visit:
    return db.first_or_404(sa.select(Visit).where(Visit.id == visit_id, visit_clause(user)))


def photo_clause(user: User) -> ColumnElement[bool]:
    """Photos the user may see: of households or visits in scope, and their own uploads."""
    clauses = [
        Photo.uploader_id == user.id,
        Photo.household_id.in_(sa.select(Household.id).where(household_clause(user))),
        Photo.visit_id.in_(sa.select(Visit.id).where(visit_clause(user))),
    ]
    if user.role == roles.DEPARTMENT_REVIEWER:
        # A department or sector body does not read discovery reports (their place is the
        # whole county): only the photos of a report that became a case it screens.
        clauses.append(Photo.discovery_id.in_(
            sa.select(Case.discovery_id).join(Household, Household.id == Case.household_id)
            .where(Case.discovery_id.is_not(None), Household.county_id == user.place_id,
                   department_case_clause(user))))
    elif user.role != roles.HELPER:
        # A discovery report's photos, before any case exists, for whoever reviews reports
        # in that place.
        clauses.append(Photo.discovery_id.in_(
            sa.select(DiscoveryReport.id).join(Place, Place.id == DiscoveryReport.place_id)
            .where(place_clause(user))))
    return sa.or_(*clauses)


# ---------------------------------------------------------------- loaders by id
# A view loads its object through one of these: in scope, or 404 (never a hint that it exists).


def get_county_or_404(user: User, county_id: int) -> Place:
    """A county within the user's place (the city supervisor's ?county= choice), else 404."""
    county = db.session.get(Place, county_id)
    if county is None or county.level != "county" or not can_see_place(user, county):
        abort(404)
    return county


def get_member_or_404(user: User, member_id: int) -> Member:
    """A member of a household in the user's scope, else 404."""
    return db.first_or_404(
        sa.select(Member).join(Household, Household.id == Member.household_id)
        .where(Member.id == member_id, household_clause(user)))


def get_photo_or_404(user: User, photo_id: str) -> Photo:
    """A photo the user may see (photo_clause), else 404."""
    return db.first_or_404(sa.select(Photo).where(Photo.id == photo_id, photo_clause(user)))


def get_case_or_404(user: User, case_id: int, kind: str | None = None) -> Case:
    """A case of a household in the user's scope (of the given kind, if named), else 404."""
    query = (sa.select(Case).join(Household, Case.household_id == Household.id)
             .where(Case.id == case_id, household_clause(user)))
    if kind is not None:
        query = query.where(Case.kind == kind)
    return db.first_or_404(query)


def get_report_or_404(user: User, report_id: str) -> DiscoveryReport:
    """A discovery report from a place in the user's scope (helpers see none), else 404."""
    report = db.session.get(DiscoveryReport, report_id) if len(report_id) <= 36 else None
    if (report is None or user.role not in roles.REPORT_VIEWERS
            or not can_see_place(user, report.place)):
        abort(404)
    return report


def get_objection_or_404(case: Case, objection_id: int) -> Objection:
    """An objection to this case (already loaded through get_case_or_404), else 404."""
    objection = db.session.get(Objection, objection_id)
    if objection is None or objection.case_id != case.id:
        abort(404)
    return objection


def get_plan_measure_or_404(household: Household, entry_id: int) -> PlanMeasure:
    """An entry of this household's plan (household loaded through get_household_or_404)."""
    entry = db.session.get(PlanMeasure, entry_id)
    if entry is None or entry.household_id != household.id:
        abort(404)
    return entry


def get_measure_or_404(measure_id: int, county: Place | None) -> Measure:
    """A catalogue measure the county may use: city-wide, or the county's own, else 404."""
    measure = db.session.get(Measure, measure_id)
    if measure is None:
        abort(404)
    if measure.county_id is not None and (county is None or measure.county_id != county.id):
        abort(404)
    return measure


# ---------------------------------------------------------------- staff accounts

def staff_clause(user: User) -> ColumnElement[bool]:
    """Accounts the user administers: an administrator, every account; a county officer,
    the accounts whose home place lies within the county (never an administrator's)."""
    if user.role == roles.ADMIN:
        return sa.true()
    if user.role != roles.COUNTY_OFFICER:
        return sa.false()
    return sa.and_(User.role != roles.ADMIN, User.place_id.in_(
        sa.select(Place.id).where(Place.path.startswith(user.place.path, autoescape=True))))


def get_staff_or_404(user: User, user_id: int) -> User:
    """An account the user administers (staff_clause), else 404."""
    return db.first_or_404(sa.select(User).where(User.id == user_id, staff_clause(user)))

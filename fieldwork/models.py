"""Imports every model so that the metadata (and Alembic) sees all tables."""

from fieldwork.accounts.models import User
from fieldwork.audit.models import AuditEvent
from fieldwork.discovery.models import DiscoveryReport
from fieldwork.forms_once import FormSubmission
from fieldwork.households.imports.models import ImportBatch
from fieldwork.households.models import (
    Assignment,
    Case,
    Household,
    Measure,
    Member,
    Objection,
    PlanMeasure,
    PlatformEntry,
    ReviewDecision,
)
from fieldwork.photos.models import Photo
from fieldwork.places.models import DibaoStandard, Place, PolicySettings
from fieldwork.visits.models import Visit
from offline_sync.models import Device, SyncCursor

__all__ = [
    "Assignment",
    "AuditEvent",
    "Case",
    "Device",
    "DibaoStandard",
    "DiscoveryReport",
    "ImportBatch",
    "FormSubmission",
    "Household",
    "Measure",
    "Member",
    "Objection",
    "Photo",
    "Place",
    "PlanMeasure",
    "PlatformEntry",
    "PolicySettings",
    "ReviewDecision",
    "SyncCursor",
    "User",
    "Visit",
]

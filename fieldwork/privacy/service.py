"""The app's field cipher: ID numbers encrypted at rest, with a blind index for look-ups."""

from __future__ import annotations

from typing import NamedTuple

from flask import current_app

from fieldwork.privacy.crypto import FieldCipher, derive_index_key
from fieldwork.privacy.idnumber import mask_id_number, validate_id_number


class ProtectedId(NamedTuple):
    enc: str
    index: str  # type: ignore[assignment]  # the field shadows tuple.index, never called
    mask: str


def cipher() -> FieldCipher:
    """One cipher per app, built from FIELD_KEY (comma-separated keys: newest first)."""
    ext = current_app.extensions
    if "fieldwork_cipher" not in ext:
        ext["fieldwork_cipher"] = FieldCipher(
            current_app.config["FIELD_KEY"], derive_index_key(current_app.config["INDEX_KEY"])
        )
    return ext["fieldwork_cipher"]


def protect_id(value: str) -> ProtectedId:
    """Validate an ID number and return its encrypted form, blind index and mask."""
    number = validate_id_number(value)
    c = cipher()
    return ProtectedId(c.encrypt(number), c.blind_index(number), mask_id_number(number))


def id_blind_index(value: str) -> str:
    return cipher().blind_index(validate_id_number(value))


def reveal_id(enc: str | None) -> str:
    return cipher().decrypt(enc) if enc else ""

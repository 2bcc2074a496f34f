"""The kinds of change to the household's own facts (category, contact, ...), registered
with `households.changes`. Which office confirms each follows the policy: the county
office 综合审核确认s who is covered and in which group (policy line 67), so a change of
category waits for it; contact details take effect at once."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from fieldwork.households.changes import COUNTY, ChangeKind, register
from fieldwork.households.models import Household, Member


def _category(hh: Household, _m: Member | None) -> dict[str, Any]:
    return {"category": hh.category}


def _set_category(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    hh.category = after["category"]


def _phone(hh: Household, _m: Member | None) -> dict[str, Any]:
    return {"phone": hh.phone or ""}


def _set_phone(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    hh.phone = after["phone"] or None


CATEGORY = register(ChangeKind("category", _l("困难类别"), _category, _set_category,
                               confirm_level=COUNTY))
PHONE = register(ChangeKind("phone", _l("联系电话"), _phone, _set_phone))

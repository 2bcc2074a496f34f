"""The kinds of change to the household's own facts, registered with `households.changes`,
and how each is read from the office's form.

Which office confirms each follows the policy (docs/household-changes.md):
- category and priority groups: the county office 综合审核确认s who is covered and in which
  group (policy lines 37-49, 67), so it confirms;
- per-capita income: it decides eligibility (lines 43-45, 149) and is checked by the street
  that 复核s (line 61, 145): the street confirms;
- address: a move to another community changes who reviews the household (line 61: the
  community and its street), so the street confirms it; within the community it is immediate;
- reference location: the county office, as before (it judges visit check-ins);
- causes, contact phone, employer and 职工/居民: recorded at once, with their history."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.changes import (
    COUNTY,
    STREET,
    ChangeKind,
    parse_reason,
    place_in_county,
    propose,
    register,
)
from fieldwork.households.constants import (
    CATEGORIES,
    CATEGORY_LABELS,
    CAUSE_LABELS,
    CAUSES,
    LOCATION_SOURCE_LABELS,
    PERSON_TYPE_LABELS,
    PERSON_TYPES,
    PRIORITY_GROUPS,
)
from fieldwork.households.models import Household, HouseholdChange, Member
from fieldwork.places.coords import normalize_crs, to_wgs84
from fieldwork.places.models import Place
from fieldwork.privacy.idnumber import mask_phone
from fieldwork.records import parse_money, text_problem
from fieldwork.timeutil import now_utc

PHONE_CHARS = set("0123456789+-() ")
ADDRESS_MAX, EMPLOYER_MAX, BASIS_MAX = 200, 100, 300
INCOME_MAX = Decimal("1000000")

# ---------------------------------------------------------------- category and groups


def _category(hh: Household, _m: Member | None) -> dict[str, Any]:
    return {"category": hh.category, "groups": list(hh.groups or [])}


def _set_category(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    hh.category = after["category"]
    hh.groups = list(after.get("groups") or [])


def _category_text(v: dict[str, Any]) -> str:
    main = str(CATEGORY_LABELS.get(v.get("category", ""), v.get("category", "—")))
    groups = [str(CATEGORY_LABELS.get(g, g)) for g in v.get("groups") or []]
    return main + (_("（同时属于：%(g)s）", g="、".join(groups)) if groups else "")


def parse_category(hh: Household, form: Mapping[str, Any], errors: dict[str, str]) -> dict:
    category = form.get("category", "")
    groups = [g for g in _getlist(form, "groups") if g != category]
    if category not in CATEGORIES:
        errors["category"] = _("请选择困难类别")
    if any(g not in PRIORITY_GROUPS for g in groups):
        errors["groups"] = _("重点群体选择不正确")
    elif category == "other" and groups:
        errors["groups"] = _("“其他城镇困难职工居民”不属于六类重点群体，不能同时选择重点群体")
    # Stored in the order of the policy's list, so the same choice reads the same.
    return {"category": category, "groups": [g for g in PRIORITY_GROUPS if g in groups]}


# ---------------------------------------------------------------- causes


def _causes(hh: Household, _m: Member | None) -> dict[str, Any]:
    return {"causes": list(hh.causes or [])}


def _set_causes(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    hh.causes = list(after["causes"])


def _causes_text(v: dict[str, Any]) -> str:
    return "、".join(str(CAUSE_LABELS.get(c, c)) for c in v.get("causes") or []) or "—"


def parse_causes(hh: Household, form: Mapping[str, Any], errors: dict[str, str]) -> dict:
    causes = _getlist(form, "causes")
    if not causes:
        errors["causes"] = _("请至少选择一项致困原因")
    elif any(c not in CAUSES for c in causes):
        errors["causes"] = _("致困原因选择不正确")
    return {"causes": [c for c in CAUSES if c in causes]}


# ---------------------------------------------------------------- address and community


def _address(hh: Household, _m: Member | None) -> dict[str, Any]:
    return {"address": hh.address, "place_id": hh.place_id, "place": hh.place.name}


def _set_address(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    place = db.session.get(Place, after["place_id"])
    if place is None or place.county_id() != hh.county_id:
        raise FormError.conflict(_("所选社区已不存在，请重新填写"), "place_id")
    hh.address = after["address"]
    if place.id != hh.place_id:
        hh.set_place(place)


def _address_text(v: dict[str, Any]) -> str:
    return f"{v.get('address', '—')}（{v.get('place', '—')}）"


def _address_level(hh: Household, before: dict[str, Any], after: dict[str, Any]) -> str | None:
    # Another community: other community worker and (perhaps) street review it from now on.
    return STREET if after.get("place_id") != before.get("place_id") else None


def parse_address(hh: Household, form: Mapping[str, Any], errors: dict[str, str]) -> dict:
    address = _text(form, "address", ADDRESS_MAX, errors, required=True,
                    empty=_("请填写住址"))
    place = place_in_county(hh, form.get("place_id"))
    if place is None:
        errors["place_id"] = _("请选择本县（市、区）内的社区")
        return {"address": address, "place_id": None, "place": ""}
    return {"address": address, "place_id": place.id, "place": place.name}


# ---------------------------------------------------------------- reference location


def _reference(hh: Household, _m: Member | None) -> dict[str, Any]:
    return {"lat": hh.ref_lat, "lon": hh.ref_lon, "source": hh.ref_source or "",
            "crs": hh.ref_source_crs or ""}


def _set_reference(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    hh.ref_lat, hh.ref_lon = after["lat"], after["lon"]
    hh.ref_source, hh.ref_source_crs = after["source"], after["crs"]
    hh.ref_confirmed = True
    hh.ref_updated_at = now_utc()
    if after["source"] == "visit":
        hh.proposed_lat = hh.proposed_lon = None
        hh.proposed_visit_id = None


def _reference_text(v: dict[str, Any]) -> str:
    if v.get("lat") is None or v.get("lon") is None:
        return "—"
    source = LOCATION_SOURCE_LABELS.get(v.get("source", ""), v.get("source", ""))
    crs = v.get("crs") or "wgs84"
    shown = "" if crs == "wgs84" else _("，由 %(crs)s 转换", crs=crs.upper())
    return f"{v['lat']:.6f}, {v['lon']:.6f}（WGS-84 · {source}{shown}）"


def parse_reference(hh: Household, form: Mapping[str, Any], errors: dict[str, str]) -> dict:
    try:
        crs = normalize_crs(form.get("crs") or "wgs84")
        lat, lon = to_wgs84(float(form.get("lat", "")), float(form.get("lon", "")), crs)
    except (TypeError, ValueError):
        errors["lat"] = _("请填写有效的纬度和经度（纬度 -90 到 90，经度 -180 到 180）")
        return {}
    return {"lat": round(lat, 7), "lon": round(lon, 7), "source": "manual", "crs": crs}


def confirm_visit_reference(hh: Household, officer: User) -> HouseholdChange:
    """The county officer takes the point proposed from a visit as the reference point."""
    if hh.proposed_lat is None or hh.proposed_lon is None:
        raise FormError.of(_("该户没有待确认的参考位置"))
    after = {"lat": hh.proposed_lat, "lon": hh.proposed_lon, "source": "visit", "crs": "wgs84"}
    change = propose(hh, REFERENCE.name, after, user=officer,
                     reason=_("确认走访定位为参考位置"), visit_id=hh.proposed_visit_id)
    if change.state != "applied":
        raise FormError.forbidden(_("参考位置须由县级解困办确认"))
    audit.record("household.reference", target_type="household", target_id=hh.id,
                 place_id=hh.county_id, user=officer, source="visit", crs="wgs84")
    return change


# ---------------------------------------------------------------- contact, employer, income


def _phone(hh: Household, _m: Member | None) -> dict[str, Any]:
    return {"phone": hh.phone or ""}


def _set_phone(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    hh.phone = after["phone"] or None


def _phone_text(v: dict[str, Any]) -> str:
    # Like the file's own phone: masked wherever the history is shown.
    return mask_phone(v.get("phone")) if v.get("phone") else "—"


def parse_phone(hh: Household, form: Mapping[str, Any], errors: dict[str, str]) -> dict:
    # The form never shows the number on file (it is masked everywhere): a new one is typed.
    phone = _text(form, "phone", 20, errors, required=True, empty=_("请填写新的联系电话"))
    if phone and (len(phone) < 5 or not set(phone) <= PHONE_CHARS):
        errors["phone"] = _("联系电话只能包含数字和“-”，例如 13800000000 或 0377-63100000")
    return {"phone": phone}


def _employer(hh: Household, _m: Member | None) -> dict[str, Any]:
    return {"employer": hh.employer or "", "person_type": hh.person_type or ""}


def _set_employer(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    hh.employer = after["employer"]
    hh.person_type = after["person_type"] or None


def _employer_text(v: dict[str, Any]) -> str:
    kind = PERSON_TYPE_LABELS.get(v.get("person_type", ""))
    return f"{kind or _('未填')} · {v.get('employer') or _('无工作单位')}"


def parse_employer(hh: Household, form: Mapping[str, Any], errors: dict[str, str]) -> dict:
    person_type = form.get("person_type", "")
    if person_type not in PERSON_TYPES:
        errors["person_type"] = _("请选择职工或居民")
    employer = _text(form, "employer", EMPLOYER_MAX, errors, required=person_type == "worker",
                     empty=_("职工请填写工作单位（原工作单位）"))
    return {"employer": employer, "person_type": person_type}


def _income(hh: Household, _m: Member | None) -> dict[str, Any]:
    value = hh.per_capita_income
    return {"per_capita_income": None if value is None else f"{value:.2f}"}


def _set_income(hh: Household, _m: Member | None, after: dict[str, Any]) -> None:
    hh.per_capita_income = Decimal(after["per_capita_income"])


def _income_text(v: dict[str, Any]) -> str:
    amount = v.get("per_capita_income")
    text = _("%(n)s 元/人·月", n=amount) if amount is not None else "—"
    return f"{text}（{v['basis']}）" if v.get("basis") else text


def parse_income(hh: Household, form: Mapping[str, Any], errors: dict[str, str]) -> dict:
    amount = parse_money(form.get("per_capita_income", ""))
    if amount is None or amount < 0 or amount >= INCOME_MAX:
        errors["per_capita_income"] = _("请填写核定的家庭人均月收入（元，不小于 0）")
    basis = _text(form, "basis", BASIS_MAX, errors, required=True,
                  empty=_("请填写收入核定说明（各项收入来源和金额、核定人口）"))
    return {"per_capita_income": None if amount is None else f"{amount:.2f}", "basis": basis}


# ---------------------------------------------------------------- the registry

CATEGORY = register(ChangeKind("category", _l("困难类别"), _category, _set_category,
                               confirm_level=COUNTY, describe=_category_text, of_file=True))
CAUSES_KIND = register(ChangeKind("causes", _l("致困原因"), _causes, _set_causes,
                                  describe=_causes_text, of_file=True))
ADDRESS = register(ChangeKind("address", _l("住址和所在社区"), _address, _set_address,
                              confirm_level=STREET, describe=_address_text,
                              level_for=_address_level, of_file=True))
REFERENCE = register(ChangeKind("reference", _l("参考位置"), _reference, _set_reference,
                                confirm_level=COUNTY, describe=_reference_text, of_file=True))
PHONE = register(ChangeKind("phone", _l("联系电话"), _phone, _set_phone,
                            describe=_phone_text, of_file=True))
EMPLOYER = register(ChangeKind("employer", _l("工作单位和职工/居民"), _employer, _set_employer,
                               describe=_employer_text, of_file=True))
INCOME = register(ChangeKind("income", _l("家庭人均月收入"), _income, _set_income,
                             confirm_level=STREET, describe=_income_text, of_file=True))


@dataclass(frozen=True)
class FileForm:
    """A kind the office changes from the household page: its form parser."""

    kind: ChangeKind
    parse: Callable[[Household, Mapping[str, Any], dict[str, str]], dict[str, Any]]


# In the order the page offers them.
FORMS = {f.kind.name: f for f in (
    FileForm(CATEGORY, parse_category), FileForm(CAUSES_KIND, parse_causes),
    FileForm(INCOME, parse_income), FileForm(ADDRESS, parse_address),
    FileForm(REFERENCE, parse_reference), FileForm(PHONE, parse_phone),
    FileForm(EMPLOYER, parse_employer),
)}


def change_from_form(hh: Household, user: User, kind: str,
                     form: Mapping[str, Any]) -> HouseholdChange:
    """Read one kind's form (every field error at once, the reason required) and propose it.
    The caller commits (formflow.submit)."""
    spec = FORMS.get(kind)
    if spec is None:
        raise FormError.of(_("未知的变更类型"), "kind")
    errors: dict[str, str] = {}
    after = spec.parse(hh, form, errors)
    try:
        reason = parse_reason(form.get("reason"))
    except FormError as exc:
        errors.update(exc.errors)
        reason = ""
    if errors:
        raise FormError(errors)
    return propose(hh, kind, after, user=user, reason=reason)


def current_values(hh: Household) -> dict[str, Any]:
    """The form's starting values: the file as it is."""
    return {"category": hh.category, "groups": list(hh.groups or []),
            "causes": list(hh.causes or []), "address": hh.address, "place_id": hh.place_id,
            "phone": "", "employer": hh.employer or "",
            "person_type": hh.person_type or "",
            "per_capita_income": "" if hh.per_capita_income is None
            else f"{hh.per_capita_income:.2f}",
            "lat": "" if hh.ref_lat is None else hh.ref_lat,
            "lon": "" if hh.ref_lon is None else hh.ref_lon, "crs": "wgs84"}


def _getlist(form: Mapping[str, Any], name: str) -> list[str]:
    getlist = getattr(form, "getlist", None)
    raw = getlist(name) if getlist is not None else form.get(name) or []
    return [str(v) for v in (raw if isinstance(raw, list) else [raw])]


def _text(form: Mapping[str, Any], name: str, limit: int, errors: dict[str, str], *,
          required: bool, empty: str = "") -> str:
    raw = form.get(name, "")
    text = raw.strip() if isinstance(raw, str) else ""
    problem = text_problem(text)
    if problem:
        errors[name] = problem
    elif len(text) > limit:
        errors[name] = _("不能超过 %(n)d 个字", n=limit)
    elif required and not text:
        errors[name] = empty
    return text

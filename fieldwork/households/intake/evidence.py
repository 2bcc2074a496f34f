"""Evidence at intake (issue 13, point 3): what a case rests on, recorded beside its decisions.

- 户籍 and residence (policy line 37: 南阳市城镇户籍 is the condition to apply);
- income at intake by source and the per-capita figure it gives;
- the information checks the policy names (line 55: 户籍、社保、工商、税务、婚姻登记、房产、车辆、
  公积金、金融), each an outcome with its date and who checked;
- the department's or sector body's screening result (lines 63-65), in its own record and not
  in the review opinions;
- the application materials (documents.py).

Who records: the reviewers holding the case's current step (while it is open) and the county
office of the household's county (at any time: the county builds the file, line 67). The
screening result is the screening body's own: it records it even after its step has passed the
case on to the county office. Everyone who may see the case reads all of it.

Like every intake service these add and flush; the view commits once (formflow.submit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.access import roles
from fieldwork.accounts.models import User
from fieldwork.audit.services import record as audit
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.intake.steps import CHAINS, MAX_ADDRESS, MAX_TEXT, holds_step
from fieldwork.households.models import (
    INFO_CHECK_KINDS,
    INFO_CHECK_OUTCOMES,
    SCREENING_RESULTS,
    Case,
    CaseDocument,
    CaseIncome,
    CaseResidence,
    CaseScreening,
    InfoCheck,
)
from fieldwork.records import parse_money, parse_note
from fieldwork.timeutil import now_utc, today_local
from fieldwork.visits.services import per_capita as per_capita_of
from fieldwork.visits.services import refresh_per_capita

# The order of policy line 55.
INFO_CHECK_LABELS = {
    "hukou": _l("户籍"), "social_insurance": _l("社保"), "business": _l("工商"),
    "tax": _l("税务"), "marriage": _l("婚姻登记"), "property": _l("房产"),
    "vehicle": _l("车辆"), "housing_fund": _l("公积金"), "finance": _l("金融"),
}
OUTCOME_LABELS = {"match": _l("符合"), "mismatch": _l("不符合"), "pending": _l("待核")}
SCREENING_LABELS = {"eligible": _l("符合"), "ineligible": _l("不符合")}
INCOME_SOURCES = ("wages", "pensions", "business", "transfers", "other")
INCOME_LABELS = {
    "wages": _l("工资性收入"), "pensions": _l("养老金、退休金"),
    "business": _l("经营性收入"), "transfers": _l("转移性收入（低保金、补贴等）"),
    "other": _l("其他收入"),
}
SCREENING_CHANNELS = ("departmental", "sector")
EARLIEST = date(2000, 1, 1)
MAX_AMOUNT = Decimal("1000000")
MAX_NOTE, MAX_OTHER_NOTE, MAX_ORG, MAX_DOC_NO = 500, 100, 64, 64


# ---------------------------------------------------------------- who may record

def is_county_office(user: User, case: Case) -> bool:
    return (user.is_active and user.role == roles.COUNTY_OFFICER
            and user.place_id == case.household.county_id)


def may_record(user: User, case: Case) -> bool:
    """The reviewers at the case's current step, and the county office, record evidence."""
    if case.kind != "intake":
        return False
    if is_county_office(user, case):
        return True
    return case.state == "open" and holds_step(user, case, case.stage)


def may_record_screening(user: User, case: Case) -> bool:
    """The screening result of a departmental or sector case: the body that screened it (its
    first step), while the case is open, and the county office."""
    if case.kind != "intake" or case.channel not in SCREENING_CHANNELS:
        return False
    if is_county_office(user, case):
        return True
    return case.state == "open" and holds_step(user, case, CHAINS[case.channel][0])


def require_recorder(user: User, case: Case) -> None:
    if not may_record(user, case):
        raise FormError.forbidden(_("只有当前审核环节的审核人和县级解困办可以登记核查材料"))


def lock_case(case: Case) -> None:
    """Serialise writers of one case's evidence (PostgreSQL row lock; SQLite writes are serial
    already), so two first records cannot both insert the one-per-case row."""
    db.session.execute(sa.select(Case.id).where(Case.id == case.id).with_for_update())


# ---------------------------------------------------------------- parsing helpers

def _text(raw: Mapping[str, Any], name: str, label: str, limit: int, errors: dict[str, str],
          *, required: bool = False) -> str:
    return parse_note(raw.get(name), name, errors, label=f"“{label}”", max_length=limit,
                      required=_("请填写“%(label)s”", label=label) if required else None)


def _yes_no(raw: Mapping[str, Any], name: str, message: str,
            errors: dict[str, str]) -> bool | None:
    value = str(raw.get(name) or "")
    if value not in ("yes", "no"):
        errors[name] = message
        return None
    return value == "yes"


def _date(raw: Mapping[str, Any], name: str, label: str, errors: dict[str, str]) -> date | None:
    text = str(raw.get(name) or "").strip()
    if not text:
        errors[name] = _("请填写“%(label)s”", label=label)
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        errors[name] = _("“%(label)s”格式不正确，应为 年-月-日", label=label)
        return None
    if value > today_local():
        errors[name] = _("“%(label)s”不能晚于今天", label=label)
        return None
    if value < EARLIEST:
        errors[name] = _("“%(label)s”超出合理范围，请核对", label=label)
        return None
    return value


def _money(raw: Mapping[str, Any], name: str, label: str, errors: dict[str, str]) -> Decimal:
    text = str(raw.get(name) or "").strip()
    if not text:
        return Decimal("0.00")
    amount = parse_money(text)
    if amount is None:
        errors[name] = _("“%(label)s”应为金额（元/月），例如 1200 或 1200.50", label=label)
    elif amount < 0:
        errors[name] = _("“%(label)s”不能为负数", label=label)
    elif amount >= MAX_AMOUNT:
        errors[name] = _("“%(label)s”超出合理范围，请核对（单位为元/月）", label=label)
    else:
        return amount
    return Decimal("0.00")


# ---------------------------------------------------------------- 户籍 and residence

def record_residence(user: User, case: Case, raw: Mapping[str, Any]) -> CaseResidence:
    """Record (or correct) the applicant's 户籍 and actual residence."""
    require_recorder(user, case)
    errors: dict[str, str] = {}
    urban = _yes_no(raw, "urban_hukou", _("请选择是否具有南阳市城镇户籍"), errors)
    hukou_address = _text(raw, "hukou_address", _("户籍地址"), MAX_ADDRESS, errors,
                          required=True)
    same = _yes_no(raw, "lives_at_hukou", _("请选择实际居住地是否与户籍地一致"), errors)
    residence = _text(raw, "residence_address", _("实际居住地址"), MAX_ADDRESS, errors)
    if same is False and not residence and "residence_address" not in errors:
        errors["residence_address"] = _("实际居住地与户籍地不一致时，请填写实际居住地址")
    if errors or urban is None or same is None:
        raise FormError(errors)
    lock_case(case)
    row = db.session.scalar(sa.select(CaseResidence).where(CaseResidence.case_id == case.id))
    before = None if row is None else {
        "urban_hukou": row.urban_hukou, "hukou_address": row.hukou_address,
        "lives_at_hukou": row.lives_at_hukou, "residence_address": row.residence_address}
    if row is None:
        row = CaseResidence(case_id=case.id)
        db.session.add(row)
    row.urban_hukou, row.hukou_address, row.lives_at_hukou = urban, hukou_address, same
    row.residence_address = "" if same else residence
    row.recorded_by_id, row.recorded_at = user.id, now_utc()
    db.session.flush()
    audit("case.residence", target_type="case", target_id=case.id,
          place_id=case.household.county_id, user=user, household_id=case.household_id,
          urban_hukou=urban, before=before)
    return row


# ---------------------------------------------------------------- income at intake

def record_income(user: User, case: Case, raw: Mapping[str, Any]) -> CaseIncome:
    """Record (or correct) the household's monthly income at intake by source; the per-capita
    figure divides the total by the household's size now on file."""
    require_recorder(user, case)
    errors: dict[str, str] = {}
    amounts = {name: _money(raw, name, str(INCOME_LABELS[name]), errors)
               for name in INCOME_SOURCES}
    other_note = _text(raw, "other_note", _("其他收入说明"), MAX_OTHER_NOTE, errors)
    if not any(str(raw.get(name) or "").strip() for name in INCOME_SOURCES):
        errors["form"] = _("请至少填写一项收入；没有收入的项目可填 0")
    if amounts["other"] > 0 and not other_note and "other_note" not in errors:
        errors["other_note"] = _("有其他收入时，请说明收入来源")
    if errors:
        raise FormError(errors)
    hh = case.household
    members = max(hh.members_count or 1, 1)
    total = sum(amounts.values(), Decimal("0.00"))
    per_capita = cast(Decimal, per_capita_of(total, members))
    lock_case(case)
    row = db.session.scalar(sa.select(CaseIncome).where(CaseIncome.case_id == case.id))
    before = None if row is None else {
        **{name: str(getattr(row, name)) for name in INCOME_SOURCES},
        "per_capita": str(row.per_capita)}
    if row is None:
        row = CaseIncome(case_id=case.id)
        db.session.add(row)
    for name, amount in amounts.items():
        setattr(row, name, amount)
    row.other_note = other_note if amounts["other"] > 0 else ""
    row.members_count, row.total, row.per_capita = members, total, per_capita
    row.recorded_by_id, row.recorded_at = user.id, now_utc()
    # The intake income is the household's accepted income until a visit brings one; the
    # per-capita figure on file follows it (one rule: visits.services.refresh_per_capita).
    if hh.intake_income != total:
        hh.intake_income = total
        if refresh_per_capita(hh):
            hh.version += 1
    db.session.flush()
    audit("case.income", target_type="case", target_id=case.id, place_id=hh.county_id,
          user=user, household_id=hh.id, per_capita=str(per_capita), before=before)
    return row


# ---------------------------------------------------------------- information checks

def record_info_check(user: User, case: Case, raw: Mapping[str, Any]) -> InfoCheck:
    """Add the outcome of one information check; the user recording is who checked."""
    require_recorder(user, case)
    errors: dict[str, str] = {}
    kind = str(raw.get("kind") or "")
    if kind not in INFO_CHECK_KINDS:
        errors["kind"] = _("请选择核查项目")
    outcome = str(raw.get("outcome") or "")
    if outcome not in INFO_CHECK_OUTCOMES:
        errors["outcome"] = _("请选择核查结果：符合、不符合或待核")
    checked_on = _date(raw, "checked_on", _("核查日期"), errors)
    note = _text(raw, "note", _("备注"), MAX_NOTE, errors)
    if outcome == "mismatch" and not note and "note" not in errors:
        errors["note"] = _("核查结果为“不符合”时，请在备注中写明发现的情况")
    if errors or checked_on is None:
        raise FormError(errors)
    check = InfoCheck(case_id=case.id, kind=kind, outcome=outcome, checked_on=checked_on,
                      checked_by_id=user.id, note=note, recorded_at=now_utc())
    db.session.add(check)
    db.session.flush()
    audit("case.info_check", target_type="case", target_id=case.id,
          place_id=case.household.county_id, user=user, household_id=case.household_id,
          kind=kind, outcome=outcome, checked_on=checked_on.isoformat())
    return check


# ---------------------------------------------------------------- screening result

def record_screening(user: User, case: Case, raw: Mapping[str, Any]) -> CaseScreening:
    """Record (or correct) the department's or sector body's screening result (认定结果)."""
    if case.channel not in SCREENING_CHANNELS:
        raise FormError.of(_("只有部门或行业渠道的案件有认定结果"))
    if not may_record_screening(user, case):
        raise FormError.forbidden(_("只有作出认定的部门(行业)和县级解困办可以登记认定结果"))
    errors: dict[str, str] = {}
    result = str(raw.get("result") or "")
    if result not in SCREENING_RESULTS:
        errors["result"] = _("请选择认定结果：符合或不符合")
    decided_on = _date(raw, "decided_on", _("认定日期"), errors)
    organisation = _text(raw, "organisation", _("认定单位"), MAX_ORG, errors, required=True)
    document_no = _text(raw, "document_no", _("认定文号"), MAX_DOC_NO, errors)
    note = _text(raw, "note", _("说明"), MAX_TEXT, errors)
    if errors or decided_on is None:
        raise FormError(errors)
    lock_case(case)
    row = db.session.scalar(sa.select(CaseScreening).where(CaseScreening.case_id == case.id))
    before = None if row is None else {
        "result": row.result, "decided_on": row.decided_on.isoformat(),
        "organisation": row.organisation, "document_no": row.document_no}
    if row is None:
        row = CaseScreening(case_id=case.id)
        db.session.add(row)
    row.result, row.decided_on, row.organisation = result, decided_on, organisation
    row.document_no, row.note = document_no, note
    row.recorded_by_id, row.recorded_at = user.id, now_utc()
    db.session.flush()
    audit("case.screening", target_type="case", target_id=case.id,
          place_id=case.household.county_id, user=user, household_id=case.household_id,
          result=result, before=before)
    return row


# ---------------------------------------------------------------- reading

def info_checks(case: Case) -> list[InfoCheck]:
    """Every recorded check of the case, in the policy's order, newest first within a kind
    (what the printed review form lists)."""
    rows = db.session.scalars(sa.select(InfoCheck).where(InfoCheck.case_id == case.id)
                              .order_by(InfoCheck.checked_on.desc(), InfoCheck.id.desc()))
    return sorted(rows, key=lambda c: INFO_CHECK_KINDS.index(c.kind))


def latest_checks(checks: list[InfoCheck]) -> dict[str, InfoCheck | None]:
    """The latest outcome of each check the policy names (None: not checked yet), from
    info_checks(case)."""
    latest: dict[str, InfoCheck | None] = dict.fromkeys(INFO_CHECK_KINDS)
    for check in checks:
        if latest[check.kind] is None:
            latest[check.kind] = check
    return latest


@dataclass
class Evidence:
    """Everything recorded about a case at intake (for the case page and the printed form)."""

    residence: CaseResidence | None
    income: CaseIncome | None
    checks: list[InfoCheck]
    latest: dict[str, InfoCheck | None]
    screening: CaseScreening | None
    documents: list[CaseDocument] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.residence is not None and not self.residence.urban_hukou:
            out.append(_("申请人没有南阳市城镇户籍，不符合申请条件（实施方案“解困脱困对象”）"))
        mismatched = [str(INFO_CHECK_LABELS[k]) for k, c in self.latest.items()
                      if c is not None and c.outcome == "mismatch"]
        if mismatched:
            out.append(_("信息核对不符合：%(kinds)s", kinds="、".join(mismatched)))
        return out


def evidence_for(case: Case) -> Evidence:
    """The evidence of a case, for anyone who may see the case (the caller loaded it in
    scope)."""
    checks = info_checks(case)
    return Evidence(
        residence=db.session.scalar(
            sa.select(CaseResidence).where(CaseResidence.case_id == case.id)),
        income=db.session.scalar(sa.select(CaseIncome).where(CaseIncome.case_id == case.id)),
        checks=checks, latest=latest_checks(checks),
        screening=db.session.scalar(
            sa.select(CaseScreening).where(CaseScreening.case_id == case.id)),
        documents=list(db.session.scalars(
            sa.select(CaseDocument).where(CaseDocument.case_id == case.id)
            .order_by(CaseDocument.uploaded_at, CaseDocument.id))))

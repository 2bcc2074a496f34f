"""Measures suggested for a household's plan (分类施策, 因户施策).

From the household's category and priority groups and its current members' coded facts
(illness, disability, schooling stage, boarding, employment, age; docs/members.md), the
table RULES names the catalogue measures the policy text offers them, each rule citing the
policy line (/work/shared/reference/policy-zh.txt, docs/measures.md). A suggestion is shown
on the plan page with its reason until the measure is in the plan (in force or starting
later) or an officer dismisses it; accepting adds the plan entry through `plans.add_to_plan`
(so the amount is checked and the change audited), dismissing records an audit event
(`plan.change`, op "dismiss") that keeps it hidden. Rules name measures by their catalogue
name, so a county's adjusted copy (本区调整) is the one suggested, and a measure the county
has deactivated is not suggested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from fieldwork.accounts.models import User
from fieldwork.audit import services as audit
from fieldwork.audit.models import AuditEvent
from fieldwork.errors import FormError
from fieldwork.extensions import db
from fieldwork.households.management.measures import catalogue
from fieldwork.households.management.plans import add_to_plan, can_edit_plan
from fieldwork.households.members import DIBAO_CATEGORIES, Row, roster
from fieldwork.households.models import Household, Measure, PlanMeasure
from fieldwork.timeutil import today_local

SEVERE_GRADES = (1, 2)  # 一级、二级 = 重度残疾
CHILD_REHAB_AGE = 14  # 0-14岁残疾儿童康复救助 (line 123)


def _on_dibao(h: Household) -> bool:
    return h.category in DIBAO_CATEGORIES or any(g in DIBAO_CATEGORIES for g in h.groups or [])


def _in(h: Household, code: str) -> bool:
    return h.category == code or code in (h.groups or [])


def _disabled(r: Row) -> bool:
    return bool(r.member.disability_kind)


def _severe(r: Row) -> bool:
    return _disabled(r) and r.member.disability_grade in SEVERE_GRADES


def _stage(stage: str, boarding: bool | None = None) -> Callable[[Household, Row], bool]:
    def test(_h: Household, r: Row) -> bool:
        return r.member.schooling_stage == stage and (
            boarding is None or r.member.boarding is boarding)
    return test


@dataclass(frozen=True)
class Rule:
    key: str
    measure: str  # the catalogue name (measures.json)
    line: int  # the policy text's line
    reason: Callable[[], str]  # why, in the officer's words (a member's name goes first)
    household: Callable[[Household], bool] | None = None  # a household-level rule
    member: Callable[[Household, Row], bool] | None = None  # or a rule per current member


RULES: tuple[Rule, ...] = (
    # 基本生活帮扶
    Rule("dibao", "最低生活保障金", 73,
         lambda: _("低保对象或收入低于低保标准的家庭，发放低保金"),
         household=lambda h: _on_dibao(h) or _in(h, "below_dibao")),
    Rule("destitute", "特困人员基本生活费", 73,
         lambda: _("城镇特困供养人员，发放基本生活费"),
         household=lambda h: _in(h, "destitute")),
    Rule("destitute_care", "特困人员护理补贴", 73,
         lambda: _("城镇特困供养人员，按身体条件发放护理补贴"),
         household=lambda h: _in(h, "destitute")),
    Rule("union", "工会救助帮扶", 75,
         lambda: _("困难职工家庭，可纳入工会救助帮扶系统"),
         household=lambda h: h.person_type == "worker"),
    Rule("power", "电力补助", 85,
         lambda: _("纳入城镇低保的家庭，每月可免费用电10千瓦时"),
         household=_on_dibao),
    Rule("severe_care", "重度残疾人护理补贴", 73,
         lambda: _("一级、二级重度残疾，可申请重度残疾人护理补贴"),
         member=lambda h, r: _severe(r)),
    Rule("disability_living", "困难残疾人生活补贴", 73,
         lambda: _("困难家庭残疾人，可申请困难残疾人生活补贴"),
         member=lambda h, r: _disabled(r)),
    Rule("aids", "免费适配基本型辅助器具", 77,
         lambda: _("重度残疾人，有需求的免费适配基本型辅助器具"),
         member=lambda h, r: _severe(r)),
    # 教育保障
    Rule("preschool", "学前教育家庭经济困难学生生活补助", 99,
         lambda: _("在园儿童，每生每年不低于400元"),
         member=_stage("preschool")),
    Rule("primary_boarding", "义务教育寄宿生生活补助（小学）", 99,
         lambda: _("小学寄宿生"), member=_stage("primary", True)),
    Rule("junior_boarding", "义务教育寄宿生生活补助（初中）", 99,
         lambda: _("初中寄宿生"), member=_stage("junior", True)),
    Rule("primary_day", "义务教育非寄宿生生活补助（小学）", 99,
         lambda: _("小学非寄宿生"), member=_stage("primary", False)),
    Rule("junior_day", "义务教育非寄宿生生活补助（初中）", 99,
         lambda: _("初中非寄宿生"), member=_stage("junior", False)),
    Rule("senior", "普通高中国家助学金", 99,
         lambda: _("普通高中在校生，可申请国家助学金"), member=_stage("senior")),
    Rule("senior_disabled", "普通高中残疾学生免除学费、住宿费", 99,
         lambda: _("普通高中残疾学生，免除学费、住宿费"),
         member=lambda h, r: _stage("senior")(h, r) and _disabled(r)),
    Rule("vocational_fees", "中等职业教育免学费", 99,
         lambda: _("中职在校生，免除学费"), member=_stage("vocational")),
    Rule("vocational_grant", "中等职业教育国家助学金", 99,
         lambda: _("中职在校生（一、二年级），可申请国家助学金"), member=_stage("vocational")),
    Rule("higher", "高等教育国家助学金", 99,
         lambda: _("高校在校生，可向学校申请国家助学金"), member=_stage("higher")),
    Rule("higher_disabled", "残疾大学新生一次性入学资助", 107,
         lambda: _("残疾大学生，新生可获一次性入学资助2000元"),
         member=lambda h, r: _stage("higher")(h, r) and _disabled(r)),
    # 医疗保障
    Rule("insurance_aid", "城乡居民基本医疗保险参保资助", 115,
         lambda: _("特困人员全额资助、低保对象定额资助参保"),
         household=lambda h: _in(h, "destitute") or _on_dibao(h)),
    Rule("chronic", "慢性病政策待遇", 115,
         lambda: _("患慢性病，可申请门诊慢性病鉴定，享受报销待遇"),
         member=lambda h, r: r.member.illness == "chronic"),
    Rule("serious", "倾斜救助", 115,
         lambda: _("患重特大疾病，年度自付超过1.2万元的部分可获倾斜救助"),
         member=lambda h, r: r.member.illness == "serious"),
    Rule("checkup", "健康体检及健康巡诊", 117,
         lambda: _("65岁以上老年人，每年免费健康体检一次"),
         member=lambda h, r: r.elderly),
    Rule("screening", "“两癌”筛查", 117,
         lambda: _("低保家庭适龄妇女，免费“两癌”筛查"),
         member=lambda h, r: r.screening),
    Rule("accident", "意外伤害保险", 119,
         lambda: _("本级财政为困难家庭成员每人每年缴纳意外伤害保险金"),
         household=lambda h: True),
    Rule("child_rehab", "残疾儿童康复救助", 123,
         lambda: _("0-14岁残疾儿童，可申请康复救助"),
         member=lambda h, r: _disabled(r) and r.age is not None and r.age <= CHILD_REHAB_AGE),
    # 就业保障
    Rule("public_job", "公益性岗位安置", 129,
         lambda: _("失业且有就业意愿，可安置公益性岗位"),
         member=lambda h, r: r.member.employment_status == "unemployed"),
    Rule("training", "技能培训及就业创业培训补贴", 129,
         lambda: _("失业且有就业意愿，可参加技能培训并领取培训补贴"),
         member=lambda h, r: r.member.employment_status == "unemployed"),
    # 养老保障
    Rule("home_care", "“六助”上门服务", 137,
         lambda: _("65岁以上老年人，可申请助餐、助浴等“六助”上门服务"),
         member=lambda h, r: r.elderly),
)
RULES_BY_KEY = {rule.key: rule for rule in RULES}


@dataclass(frozen=True)
class Suggestion:
    key: str  # "<rule>" or "<rule>:<member id>": what a dismissal remembers
    rule: Rule
    measure: Measure
    reason: str
    member_name: str = ""

    @property
    def text(self) -> str:
        return f"{self.member_name}：{self.reason}" if self.member_name else self.reason


def _planned(household: Household, today: date) -> set[str]:
    """Names of measures in the plan now or from a later day."""
    return {pm.measure.name for pm in household.plan
            if pm.end_date is None or pm.end_date >= today}


def dismissed(household: Household) -> set[str]:
    """Suggestion keys an officer dismissed for this household."""
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "plan.change", AuditEvent.target_type == "household",
        AuditEvent.target_id == str(household.id)))
    return {str(e.detail.get("suggestion", {}).get("key")) for e in events
            if (e.detail or {}).get("op") == "dismiss"}


def suggest(household: Household, today: date | None = None) -> list[Suggestion]:
    """The measures the rules suggest for the household, not yet planned nor dismissed."""
    today = today or today_local()
    by_name = {e.measure.name: e.measure
               for e in catalogue(household.county_id, active_only=True)}
    planned = _planned(household, today)
    hidden = dismissed(household)
    rows, _left = roster(household, today)
    out: list[Suggestion] = []
    for rule in RULES:
        measure = by_name.get(rule.measure)
        if measure is None or measure.name in planned:
            continue
        if rule.household is not None:
            if rule.household(household) and rule.key not in hidden:
                out.append(Suggestion(rule.key, rule, measure, rule.reason()))
            continue
        for row in rows:
            key = f"{rule.key}:{row.member.id}"
            if rule.member is not None and rule.member(household, row) and key not in hidden:
                out.append(Suggestion(key, rule, measure, rule.reason(), row.member.name))
    return out


def _find(household: Household, key: Any, today: date) -> Suggestion:
    if not can_edit_plan(household):
        raise FormError({"household": _("该户当前状态下不能调整帮扶计划")})
    for s in suggest(household, today):
        if s.key == str(key or ""):
            return s
    raise FormError({"suggestion": _("该建议已处理或不再适用，请刷新页面后再试")})


def _record(s: Suggestion) -> dict[str, Any]:
    return {"key": s.key, "rule": s.rule.key, "measure": s.measure.id,
            "name": s.measure.name, "policy_line": s.rule.line, "reason": s.text}


def accept(household: Household, user: User, key: Any, *,
           today: date | None = None) -> PlanMeasure:
    """Add the suggested measure to the plan from today, at its standard amount, the reason
    as the entry's note. The caller commits."""
    today = today or today_local()
    s = _find(household, key, today)
    form = {"measure_id": s.measure.id, "start_date": today.isoformat(), "note": s.text[:300]}
    return add_to_plan(household, user, form, today=today, suggestion=_record(s))


def dismiss(household: Household, user: User, key: Any, *,
            today: date | None = None) -> Suggestion:
    """Hide the suggestion for this household (audited). The caller commits."""
    s = _find(household, key, today or today_local())
    audit.record("plan.change", target_type="household", target_id=household.id,
                 place_id=household.county_id, user=user, op="dismiss", suggestion=_record(s))
    return s

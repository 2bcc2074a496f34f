"""Stable codes of the programme (DOMAIN.md) with their Chinese labels."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

DIMENSIONS = ("income", "housing", "education", "medical", "employment", "elderly")
DIMENSION_LABELS = {
    "income": _l("收入（稳定生活来源）"),
    "housing": _l("住房（稳定住所）"),
    "education": _l("教育"),
    "medical": _l("医疗"),
    "employment": _l("就业"),
    "elderly": _l("养老"),
}
DIMENSION_SHORT = {
    "income": _l("收入"),
    "housing": _l("住房"),
    "education": _l("教育"),
    "medical": _l("医疗"),
    "employment": _l("就业"),
    "elderly": _l("养老"),
}

CATEGORIES = (
    "destitute",
    "dibao_unemployed",
    "below_dibao",
    "edge",
    "expenditure",
    "restructuring",
)
CATEGORY_LABELS = {
    "destitute": _l("城镇特困供养人员"),
    "dibao_unemployed": _l("低保未充分就业"),
    "below_dibao": _l("收入低于低保线"),
    "edge": _l("低保边缘致困"),
    "expenditure": _l("支出型困难"),
    "restructuring": _l("改制下岗致困"),
}

CAUSES = ("layoff", "illness", "disability", "education", "accident", "restructuring", "other")
CAUSE_LABELS = {
    "layoff": _l("下岗失业"),
    "illness": _l("重大疾病"),
    "disability": _l("残疾"),
    "education": _l("子女教育"),
    "accident": _l("意外灾难"),
    "restructuring": _l("企业改制"),
    "other": _l("其他"),
}

# Lifecycle (一户一档、动态管理): found → reviewed → publicised → enrolled → exited.
STATUSES = ("reported", "reviewing", "publicity", "enrolled", "exited", "rejected", "watch")
STATUS_LABELS = {
    "reported": _l("已发现待审核"),
    "reviewing": _l("审核中"),
    "publicity": _l("公示中"),
    "enrolled": _l("帮扶中"),
    "exited": _l("已退出"),
    "rejected": _l("未纳入"),
    "watch": _l("未纳入·监测中"),  # 加强监测, policy line 147
}
# Households a helper must visit every month.
VISITED_STATUSES = ("enrolled",)

LOCATION_SOURCES = ("geocode", "visit", "discovery", "manual", "demo")
LOCATION_SOURCE_LABELS = {
    "geocode": _l("地址解析"),
    "visit": _l("走访定位"),
    "discovery": _l("发现上报定位"),
    "manual": _l("人工标注"),
    "demo": _l("演示数据"),
}

RELATIONS = ("self", "spouse", "child", "parent", "grandchild", "sibling", "other")
RELATION_LABELS = {
    "self": _l("户主"),
    "spouse": _l("配偶"),
    "child": _l("子女"),
    "parent": _l("父母"),
    "grandchild": _l("孙子女"),
    "sibling": _l("兄弟姐妹"),
    "other": _l("其他"),
}

CHANNELS = ("territorial", "departmental", "sector")
CHANNEL_LABELS = {
    "territorial": _l("辖区审核"),
    "departmental": _l("部门审核"),
    "sector": _l("行业认定"),
}
DECISIONS = ("approve", "return", "reject")
DECISION_LABELS = {"approve": _l("同意"), "return": _l("退回补正"), "reject": _l("不同意")}

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
    # Policy line 37: any urban-hukou hardship worker or resident may apply, not only the six
    # priority groups above; this is the category of those outside them.
    "other",
)
# The six priority groups (重点群体) of policy lines 39-49; a household may be in several.
PRIORITY_GROUPS = CATEGORIES[:6]
CATEGORY_LABELS = {
    "destitute": _l("城镇特困供养人员"),
    "dibao_unemployed": _l("纳入城镇低保未充分就业"),
    "below_dibao": _l("收入低于城镇低保线"),
    "edge": _l("略高于城镇低保线致困"),
    "expenditure": _l("支出突增致困"),
    "restructuring": _l("企业重组破产下岗致困"),
    "other": _l("其他城镇困难职工居民"),
}
# 职工 (employed by or laid off from a unit) or 居民 (other urban residents).
PERSON_TYPES = ("worker", "resident")
PERSON_TYPE_LABELS = {"worker": _l("职工"), "resident": _l("居民")}

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
    "territorial": _l("辖区筛选认定"),
    "departmental": _l("部门筛选认定"),
    "sector": _l("行业筛选认定"),
}
DECISIONS = ("approve", "return", "reject")
DECISION_LABELS = {"approve": _l("同意"), "return": _l("退回补正"), "reject": _l("不同意")}

# Member facts the measures are targeted by (policy lines 75-131); "" means none / not stated.
ILLNESSES = ("", "chronic", "serious")
ILLNESS_LABELS = {"": _l("无"), "chronic": _l("慢性病"), "serious": _l("重特大疾病")}
DISABILITY_KINDS = ("", "visual", "hearing", "speech", "physical", "intellectual", "mental",
                    "multiple", "unspecified")
DISABILITY_LABELS = {
    "": _l("无"), "visual": _l("视力残疾"), "hearing": _l("听力残疾"), "speech": _l("言语残疾"),
    "physical": _l("肢体残疾"), "intellectual": _l("智力残疾"), "mental": _l("精神残疾"),
    "multiple": _l("多重残疾"), "unspecified": _l("残疾（类别待核实）"),
}
DISABILITY_GRADES = (1, 2, 3, 4)
SCHOOLING_STAGES = ("", "preschool", "primary", "junior", "senior", "vocational", "higher")
SCHOOLING_LABELS = {
    "": _l("未在学"), "preschool": _l("学前教育"), "primary": _l("小学"), "junior": _l("初中"),
    "senior": _l("普通高中"), "vocational": _l("中职"), "higher": _l("高等教育"),
}
EMPLOYMENT = ("", "employed", "flexible", "unemployed", "retired", "unable", "student")
EMPLOYMENT_LABELS = {
    "": _l("未填"), "employed": _l("在职"), "flexible": _l("灵活就业"),
    "unemployed": _l("失业（有就业意愿）"), "retired": _l("退休"), "unable": _l("无劳动能力"),
    "student": _l("在校学生"),
}
LEAVE_REASONS = ("died", "moved_out", "other")
LEAVE_REASON_LABELS = {"died": _l("死亡"), "moved_out": _l("迁出"), "other": _l("其他")}

# Where a change to the file came from, and its states (households.changes).
# Exit routes (issue 14). Only 平稳退出 is in the policy text (line 149); the others are the
# routes any assistance roll has (docs/exit.md). Each goes community → street → county.
EXIT_ROUTES = ("stable", "death", "moved", "ineligible", "withdrawn", "fraud")
EXIT_ROUTE_LABELS = {
    "stable": _l("平稳退出"),
    "death": _l("死亡"),
    "moved": _l("迁出或户籍变更"),
    "ineligible": _l("复核不再符合条件"),
    "withdrawn": _l("本人申请退出"),
    "fraud": _l("隐瞒或虚报信息取消"),
}

CHANGE_SOURCES = ("office", "visit", "intake", "import", "migration")
CHANGE_STATE_LABELS = {"pending": _l("待确认"), "applied": _l("已生效"), "rejected": _l("未通过")}

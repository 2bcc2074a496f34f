"""The roles of DOMAIN.md, their Chinese names and the level of their home place."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

HELPER = "helper"
COMMUNITY_WORKER = "community_worker"
STREET_REVIEWER = "street_reviewer"
COUNTY_OFFICER = "county_officer"
CITY_SUPERVISOR = "city_supervisor"
DEPARTMENT_REVIEWER = "department_reviewer"
ADMIN = "admin"

ROLES = (HELPER, COMMUNITY_WORKER, STREET_REVIEWER, COUNTY_OFFICER, CITY_SUPERVISOR,
         DEPARTMENT_REVIEWER, ADMIN)

ROLE_LABELS = {
    HELPER: _l("帮扶责任人"),
    COMMUNITY_WORKER: _l("社区(村)工作人员"),
    STREET_REVIEWER: _l("街道(乡镇)审核人"),
    COUNTY_OFFICER: _l("县级解困办"),
    CITY_SUPERVISOR: _l("市解困办督查"),
    DEPARTMENT_REVIEWER: _l("部门/行业审核人"),
    ADMIN: _l("系统管理员"),
}

# Levels at which a role's home place may sit: a street reviewer works for a street, etc.
ROLE_PLACE_LEVELS = {
    HELPER: ("county", "street", "community"),
    COMMUNITY_WORKER: ("community",),
    STREET_REVIEWER: ("street",),
    COUNTY_OFFICER: ("county",),
    CITY_SUPERVISOR: ("city",),
    # 商务、工信、供销社 (departmental channel) or 民政、残联、工会 (sector channel): a
    # department of a county, or of the city (its cases go to the county where it sits).
    DEPARTMENT_REVIEWER: ("county",),
    ADMIN: ("city", "county"),
}

OFFICER_ROLES = (STREET_REVIEWER, COUNTY_OFFICER, CITY_SUPERVISOR)
# Who reports newly found households (主动发现) and checks them for duplicates first.
REPORTERS = (COMMUNITY_WORKER, STREET_REVIEWER, COUNTY_OFFICER)
# Who may read discovery reports of their area (department reviewers screen their own people).
REPORT_VIEWERS = (COMMUNITY_WORKER, STREET_REVIEWER, COUNTY_OFFICER, CITY_SUPERVISOR, ADMIN)

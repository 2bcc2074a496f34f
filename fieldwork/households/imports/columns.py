"""The sheets 家庭 and 成员 of the household import: columns, vocabularies (label or code) and
the template with its instructions."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from fieldwork import xlsxin
from fieldwork.households.constants import (
    CATEGORY_LABELS,
    CAUSE_LABELS,
    DISABILITY_LABELS,
    EMPLOYMENT_LABELS,
    ILLNESS_LABELS,
    RELATION_LABELS,
    SCHOOLING_LABELS,
)
from fieldwork.xlsxin import Column

HOUSEHOLD_SHEET = "家庭"
MEMBER_SHEET = "成员"
CRS_NAMES = ("WGS-84", "GCJ-02", "BD-09")
YES, NO = "是", "否"
GRADES = {"一级": 1, "二级": 2, "三级": 3, "四级": 4, "1": 1, "2": 2, "3": 3, "4": 4}


def _labels(labels: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(v) for k, v in labels.items() if k)


def household_columns() -> list[Column]:
    return [
        Column("file_no", "档案编号", width=18,
               note=_("可不填：导入时按“县代码-年份-序号”自动编号")),
        Column("community", "社区", aliases=("所在社区", "社区名称"), required=True, width=16,
               note=_("社区名称或行政区划代码，须属于本县（市、区）")),
        Column("head_name", "户主姓名", required=True, width=10),
        Column("head_id", "户主身份证号", required=True, width=22,
               note=_("18位身份证号；请保持本列为文本格式")),
        Column("category", "困难类别", required=True, width=24,
               choices=_labels(CATEGORY_LABELS)),
        Column("causes", "致困原因", required=True, width=16, choices=_labels(CAUSE_LABELS),
               note=_("可填多项，用顿号“、”分隔")),
        Column("address", "家庭住址", required=True, width=30),
        Column("phone", "联系电话", width=14),
        Column("income", "人均月收入", aliases=("家庭人均月收入",), width=12,
               note=_("元/人·月，填数字")),
        Column("enrolled_on", "纳入日期", required=True, width=12,
               note=_("格式：2024-03-01，不能晚于今天")),
        Column("helper", "帮扶责任人", aliases=("帮扶责任人账号",), width=14,
               note=_("帮扶责任人的登录账号（用户名）")),
        Column("lat", "纬度", width=11),
        Column("lon", "经度", width=11),
        Column("crs", "坐标系", width=10, choices=CRS_NAMES,
               note=_("WGS-84（GPS）、GCJ-02（高德、腾讯）或 BD-09（百度）；不填按 WGS-84")),
    ]


def member_columns() -> list[Column]:
    return [
        Column("head_id", "户主身份证号", required=True, width=22,
               note=_("与“家庭”表的户主身份证号相同")),
        Column("name", "姓名", required=True, width=10),
        Column("id_number", "身份证号", width=22,
               note=_("尚未登记户口的新生儿可不填，但须填出生日期")),
        Column("relation", "与户主关系", required=True, width=10,
               choices=_labels(RELATION_LABELS)),
        Column("birth_date", "出生日期", width=12, note=_("填了身份证号的可不填")),
        Column("illness", "患病情况", width=12, choices=_labels(ILLNESS_LABELS)),
        Column("disability_kind", "残疾类别", width=14, choices=_labels(DISABILITY_LABELS)),
        Column("disability_grade", "残疾等级", width=10, choices=("一级", "二级", "三级", "四级")),
        Column("schooling_stage", "就学阶段", width=12, choices=_labels(SCHOOLING_LABELS)),
        Column("boarding", "是否寄宿", width=10, choices=(YES, NO)),
        Column("employment_status", "就业状况", width=16, choices=_labels(EMPLOYMENT_LABELS)),
        Column("monthly_income", "月收入", width=10, note=_("元/月，填数字")),
        Column("note", "健康状况及备注", aliases=("备注", "健康状况"), width=24),
    ]


def instructions() -> list[str]:
    return [
        _("困难家庭批量导入模板 填写说明"),
        _("1. “家庭”表每行一户；“成员”表每行一名家庭成员（户主以外），用“户主身份证号”与家庭对应。"),  # noqa: E501
        _("2. 表头请勿修改；橙色表头为必填列。多出的列会被忽略并提示。"),  # noqa: E501
        _("3. 身份证号、电话等请填为文本（本模板已设为文本格式），不要让 Excel 改成科学计数法。"),  # noqa: E501
        _("4. 日期格式：2024-03-01；纳入日期不能晚于今天，家庭将从纳入日期起由帮扶责任人结对帮扶。"),  # noqa: E501
        _("5. 困难类别、致困原因、与户主关系等请从下拉列表选择；致困原因可填多项，用“、”分隔。"),  # noqa: E501
        _("6. 社区可填名称或行政区划代码；帮扶责任人填其登录账号，须为本县（市、区）在岗的帮扶责任人。"),  # noqa: E501
        _("7. 坐标可不填；填写时须同时填纬度、经度，并注明坐标系（WGS-84、GCJ-02 或 BD-09）。"),  # noqa: E501
        _("8. 户主身份证号已在本县登记的家庭将被更新，改动记入该户的变更记录；其帮扶责任人和纳入日期不会改动。"),  # noqa: E501
        _("9. 请先“检查”文件：检查只报告问题，不写入任何数据。文件有任何错误时整份文件都不会导入。"),  # noqa: E501
        _("10. 单元格中不能使用公式，请直接填写数值或文字。"),
    ]


def template_bytes() -> bytes:
    return xlsxin.template([(HOUSEHOLD_SHEET, household_columns()),
                            (MEMBER_SHEET, member_columns())], instructions())

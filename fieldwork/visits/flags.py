"""What the server notices about a visit, each with a reason a person can read."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from fieldwork.places.services import Policy

FLAGS = (
    "no_location",
    "poor_accuracy",
    "far_from_household",
    "no_photo",
    "photo_reused",
    "late_entry",
    "clock_skew",
    "after_reassignment",
)
FLAG_LABELS = {
    "no_location": _l("无定位"),
    "poor_accuracy": _l("定位精度差"),
    "far_from_household": _l("距离住户过远"),
    "no_photo": _l("无照片"),
    "photo_reused": _l("照片重复使用"),
    "late_entry": _l("补录延迟"),
    "clock_skew": _l("手机时间异常"),
    "after_reassignment": _l("已调离仍走访"),
}


def explain(code: str, visit, policy: Policy) -> str:
    """One sentence on why a visit carries the flag, with the numbers that triggered it."""
    if code == "no_location":
        return _("走访时没有取得定位（定位被拒绝或超时）")
    if code == "poor_accuracy":
        return _("定位精度 %(acc)d 米，超过 %(limit)d 米", acc=round(visit.accuracy_m or 0),
                 limit=policy.poor_accuracy_m)
    if code == "far_from_household":
        return _("签到位置距离该户参考位置 %(d)d 米，超过允许的 %(limit)d 米（范围 %(fence)d 米 + "
                 "定位精度 %(acc)d 米）", d=round(visit.distance_m or 0),
                 limit=round(policy.geofence_m + (visit.accuracy_m or 0)),
                 fence=policy.geofence_m, acc=round(visit.accuracy_m or 0))
    if code == "no_photo":
        return _("本次走访没有拍摄照片")
    if code == "photo_reused":
        return _("有照片与其他走访或其他户的照片相同或高度相似")
    if code == "late_entry":
        hours = (visit.recorded_at - visit.visited_at).total_seconds() / 3600
        return _("走访后 %(h)d 小时才录入，超过 %(limit)d 小时", h=int(hours),
                 limit=policy.late_entry_hours)
    if code == "clock_skew":
        return _("手机时间与服务器时间相差超过 %(m)d 分钟", m=policy.clock_skew_minutes)
    if code == "after_reassignment":
        return _("登记走访时该帮扶责任人已不再负责此户")
    return str(FLAG_LABELS.get(code, code))

"""Parsing the parts every phone-made record shares (ids, times, location, photo
declarations), with a specific Chinese message for each thing that is wrong."""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from fieldwork.places.coords import validate_lat_lon

HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_PHOTOS = 20
MAX_CAPTION = 200
LOCATION_SOURCES = ("gps", "network", "manual")


class RecordError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class LocationFix:
    lat: float
    lon: float
    accuracy_m: float | None
    captured_at: datetime | None
    source: str


@dataclass(frozen=True)
class PhotoDecl:
    id: str
    sha256: str
    bytes: int | None
    taken_at: datetime | None
    caption: str


def content_hash(raw: Any) -> str:
    """A stable hash of a record as sent, to tell a safe repeat from a reused id."""
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


MAX_ROW_ID = 2**31 - 1  # the largest integer key both databases store


def parse_row_id(value: Any) -> int | None:
    """A database row id sent as a number or a string of digits, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit() or len(value) > 10:
            return None
        value = int(value)
    if isinstance(value, int) and 1 <= value <= MAX_ROW_ID:
        return value
    return None


def parse_uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset, or None."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        n = float(value)
    except ValueError:
        return None
    return n if math.isfinite(n) else None


def parse_location(raw: Any, errors: dict[str, str]) -> LocationFix | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors["location"] = _("定位数据格式不正确")
        return None
    lat, lon = _number(raw.get("lat")), _number(raw.get("lon"))
    if lat is None or lon is None:
        errors["location"] = _("定位缺少经纬度")
        return None
    try:
        lat, lon = validate_lat_lon(lat, lon)
    except ValueError as exc:
        errors["location"] = str(exc)
        return None
    accuracy = raw.get("accuracy_m")
    acc = None
    if accuracy is not None:
        acc = _number(accuracy)
        if acc is None or acc < 0 or acc > 100_000:
            errors["location.accuracy_m"] = _("定位精度数值不正确")
            return None
    captured = None
    if raw.get("captured_at") is not None:
        captured = parse_time(raw.get("captured_at"))
        if captured is None:
            errors["location.captured_at"] = _("定位时间格式不正确，应为带时区的 ISO 8601 时间")
            return None
    source = raw.get("source") or "gps"
    if source not in LOCATION_SOURCES:
        errors["location.source"] = _("未知的定位来源")
        return None
    return LocationFix(lat, lon, acc, captured, source)


def parse_photos(raw: Any, errors: dict[str, str]) -> list[PhotoDecl]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors["photos"] = _("照片列表格式不正确")
        return []
    if len(raw) > MAX_PHOTOS:
        errors["photos"] = _("每条记录最多 %(n)d 张照片", n=MAX_PHOTOS)
        return []
    out: list[PhotoDecl] = []
    seen: set[str] = set()
    for i, p in enumerate(raw):
        key = f"photos[{i}]"
        if not isinstance(p, dict):
            errors[key] = _("照片信息格式不正确")
            continue
        pid = parse_uuid(p.get("id"))
        if pid is None:
            errors[f"{key}.id"] = _("照片编号应为 UUID")
            continue
        if pid in seen:
            errors[f"{key}.id"] = _("同一条记录中照片编号重复")
            continue
        seen.add(pid)
        sha = p.get("sha256")
        if not isinstance(sha, str) or not HEX64.match(sha.lower()):
            errors[f"{key}.sha256"] = _("照片校验值应为 64 位十六进制 SHA-256")
            continue
        size = p.get("bytes")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                                 or size < 0 or size > MAX_ROW_ID):
            errors[f"{key}.bytes"] = _("照片大小应为非负整数")
            continue
        taken = None
        if p.get("taken_at") is not None:
            taken = parse_time(p.get("taken_at"))
            if taken is None:
                errors[f"{key}.taken_at"] = _("拍摄时间格式不正确")
                continue
        caption = p.get("caption") or ""
        if not isinstance(caption, str) or len(caption) > MAX_CAPTION:
            errors[f"{key}.caption"] = _("照片说明不能超过 %(n)d 个字", n=MAX_CAPTION)
            continue
        out.append(PhotoDecl(pid, sha.lower(), size, taken, caption.strip()))
    return out


def parse_text(raw: Any, name: str, label: str, max_length: int,
               errors: dict[str, str]) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        errors[name] = _("“%(label)s”应为文字", label=label)
        return ""
    if len(raw) > max_length:
        errors[name] = _("“%(label)s”不能超过 %(n)d 个字", label=label, n=max_length)
        return ""
    return raw.strip()

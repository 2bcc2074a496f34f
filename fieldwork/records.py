"""Parsing the parts every phone-made record shares (ids, times, location, photo
declarations), with a specific Chinese message for each thing that is wrong."""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast

from flask_babel import gettext as _

from fieldwork.places.coords import validate_lat_lon

HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_PHOTOS = 20
MAX_CAPTION = 200
LOCATION_SOURCES = ("gps", "network", "manual")
# Bounds every phone-made record lives within. A time outside these years (after conversion
# to UTC) is refused: 9999-12-31T23:59:59-14:00 cannot even be converted, and no visit, photo
# or report was made before 1900. Phones with a reset clock (1970) still parse.
MIN_YEAR, MAX_YEAR = 1900, 2200
MAX_TIME_LENGTH = 64
# Sanity bounds for any value anywhere in a record, checked before any field is read.
MAX_DEPTH = 8            # record → answers → causes → [...] needs 4
MAX_STRING = 10_000      # the longest field (notes, reason) takes 2000
MAX_VALUE_ERRORS = 20
# RFC 3339 date-time (what the OpenAPI "date-time" format means), offset required.
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
# ISO 8601 (extended format) with an offset, as SYNC-PROTOCOL.md says: RFC 3339, and also
# without seconds, with a space for the T, or with a +0800 / +08 offset.
ISO8601 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)")


class RecordError(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class RecordResult:
    """The push result of one record (SYNC-PROTOCOL.md), for every record type."""

    id: str
    status: str  # created | duplicate | rejected
    errors: dict[str, str] = field(default_factory=dict)
    missing_photos: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.status == "rejected":
            out["errors"] = self.errors
        else:
            out["missing_photos"] = self.missing_photos
            out["flags"] = self.flags
        return out


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
    # surrogatepass: a lone surrogate must not turn hashing into a 500 (it is refused anyway).
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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


def time_problem(value: Any, *, strict: bool = False) -> tuple[datetime | None, str | None]:
    """(the instant in UTC, None), or (None, "format" | "range"). Never raises: an offset that
    pushes the instant out of what datetime can hold is "range", not an OverflowError.
    strict: RFC 3339 only (a field the OpenAPI document types as date-time)."""
    if not isinstance(value, str) or len(value) > MAX_TIME_LENGTH:
        return None, "format"
    text = value
    if not (RFC3339 if strict else ISO8601).fullmatch(text):
        return None, "format"
    text = text.replace("z", "Z").replace("Z", "+00:00").replace("t", "T")
    if "." in text:  # datetime takes at most 6 digits of fraction
        head, _dot, rest = text.partition(".")
        digits = cast("re.Match[str]", re.match(r"[0-9]*", rest)).group(0)  # "*" always matches
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None, "format"
    if dt.tzinfo is None:
        return None, "format"
    try:
        utc = dt.astimezone(UTC)
    except (OverflowError, ValueError):
        return None, "range"
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        return None, "range"
    return utc, None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time with an offset (RFC 3339, or without seconds, or +0800), as an
    aware UTC datetime between the years MIN_YEAR and MAX_YEAR, or None. The one place
    phone-made times are parsed."""
    return time_problem(value)[0]


def parse_time_field(raw: Any, name: str, errors: dict[str, str], message: str) -> datetime | None:
    """parse_time for a record field: on failure, errors[name] says what is wrong (message for
    a malformed value, a range message for a time no phone can have made)."""
    dt, problem = time_problem(raw)
    if problem == "range":
        errors[name] = _("时间超出合理范围（应在 %(a)d 年到 %(b)d 年之间）", a=MIN_YEAR, b=MAX_YEAR)
    elif problem:
        errors[name] = message
    return dt


def text_problem(value: str) -> str | None:
    """Why no column could store this text (NUL, an unpaired surrogate), or None."""
    if "\x00" in value:
        return _("含有无法保存的字符（空字符）")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _("含有无法保存的字符（不成对的代理字符）")
    return None


def value_errors(raw: Any, prefix: str = "") -> dict[str, str]:
    """Whatever no field of a record may hold, wherever it sits: text a database cannot store,
    text over MAX_STRING, numbers that are not finite (NaN, Infinity), nesting deeper
    than MAX_DEPTH. {path: message}; checked before any field is read, so that no parser
    below ever sees such a value. Iterative: no depth of input can exhaust the stack."""
    errors: dict[str, str] = {}
    stack: list[tuple[str, Any, int]] = [(prefix, raw, 0)]
    while stack and len(errors) < MAX_VALUE_ERRORS:
        path, value, depth = stack.pop()
        where = path or "record"
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            errors[where] = _("内容层次过深")
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                key_text = str(key)
                problem = text_problem(key_text) if isinstance(key, str) else None
                shown = key_text[:64].replace("\x00", "") \
                    .encode("utf-8", "replace").decode("utf-8")
                child = f"{path}.{shown}" if path else shown
                if problem:
                    errors[child or "record"] = problem
                elif len(key_text) > MAX_STRING:
                    errors[child] = _("名称过长")
                else:
                    stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                stack.append((f"{path}[{i}]", item, depth + 1))
        elif isinstance(value, str):
            problem = text_problem(value)
            if problem:
                errors[where] = problem
            elif len(value) > MAX_STRING:
                errors[where] = _("内容过长（不能超过 %(n)d 个字）", n=MAX_STRING)
        elif isinstance(value, bool) or value is None:
            continue
        elif (isinstance(value, float) and not math.isfinite(value)) or \
                (isinstance(value, Decimal) and not value.is_finite()):
            errors[where] = _("不是有效的数字")
        # Finite numbers of any size are each field's business (each has its own range
        # and message); every numeric parser below is safe with them.
    return errors


def json_int(text: str) -> int | Decimal:
    """parse_int for json.loads: a number too long for int() (Python refuses over 4300
    digits, which would fail the whole request) is kept as a Decimal, refused per record."""
    return int(text) if len(text) <= 100 else Decimal(text)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        n = float(value)
    except (ValueError, OverflowError):
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
        captured = parse_time_field(raw.get("captured_at"), "location.captured_at", errors,
                                    _("定位时间格式不正确，应为带时区的 ISO 8601 时间"))
        if captured is None:
            return None
    source = raw.get("source") or "gps"
    if not isinstance(source, str) or source not in LOCATION_SOURCES:
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
            taken = parse_time_field(p.get("taken_at"), f"{key}.taken_at", errors,
                                     _("拍摄时间格式不正确"))
            if taken is None:
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


def parse_note(raw: Any, name: str, errors: dict[str, str], *, label: str, max_length: int,
               required: str | None = None) -> str:
    """A free-text reason or opinion: stripped; `required` is the message when it is blank
    (None: optional); too long or unstorable text gets its own message."""
    text = str(raw or "").strip()
    if not text:
        if required:
            errors[name] = required
        return ""
    if len(text) > max_length:
        errors[name] = _("%(label)s不能超过 %(n)d 个字", label=label, n=max_length)
    elif problem := text_problem(text):
        errors[name] = problem
    return text


def parse_money(value: Any) -> Decimal | None:
    """An amount in yuan rounded to the fen (四舍五入), or None if it is not a number.
    The sign is the caller's business."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    if not amount.is_finite():
        return None
    if amount.adjusted() >= 15:
        # Far beyond any income; quantize would overflow the context (InvalidOperation).
        return amount
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

"""Validation and masking of 18-digit resident identity numbers (居民身份证号, GB 11643-1999).

Layout: 6-digit administrative area code, 8-digit birth date ``YYYYMMDD``, 3-digit sequence
number (odd for men, even for women) and an ISO 7064 MOD 11-2 check character (``0-9`` or ``X``).
Only the province part of the area code is checked against a fixed list: county codes change
over time and old numbers stay valid, so a full area-code table would reject real people.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

__all__ = [
    "PROVINCE_CODES",
    "MESSAGES",
    "IdNumberError",
    "birth_date_of",
    "check_digit",
    "gender_of",
    "make_test_id_number",
    "mask_id_number",
    "mask_phone",
    "normalize_id_number",
    "validate_id_number",
]

#: First two digits of valid area codes: provinces, autonomous regions, municipalities, plus
#: 71 Taiwan, 81 Hong Kong, 82 Macao.
PROVINCE_CODES: frozenset[str] = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS17 = re.compile(r"[0-9]{17}")
_MIN_BIRTH_YEAR = 1900
_MIN_STARS = 4

MESSAGES: dict[str, str] = {
    "empty": "请填写身份证号",
    "length": "身份证号应为18位",
    "format": "身份证号格式不正确：前17位应为数字，最后一位为数字或X",
    "region": "身份证号前6位地区码无效",
    "birth_date": "身份证号中的出生日期无效",
    "birth_future": "身份证号中的出生日期不能晚于今天",
    "birth_too_early": "身份证号中的出生年份不能早于1900年",
    "check_digit": "身份证号校验位不正确，请核对后重新输入",
}


class IdNumberError(ValueError):
    """Invalid identity number; ``code`` is machine-readable, ``message`` is user-facing Chinese."""

    def __init__(self, code: str, message: str | None = None) -> None:
        """Store the error code and Chinese message."""
        self.code = code
        self.message = message or MESSAGES[code]
        super().__init__(self.message)


def normalize_id_number(value: str | None) -> str:
    """Return value with full-width characters folded, all whitespace removed and x uppercased."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return "".join(text.split()).upper()


def check_digit(first17: str) -> str:
    """Return the ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if not isinstance(first17, str) or not _DIGITS17.fullmatch(first17):
        raise ValueError("check_digit needs exactly 17 ASCII digits")
    total = sum(int(ch) * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _parse_birth(yyyymmdd: str) -> date | None:
    """Return the date encoded as YYYYMMDD or None if it is not a real calendar date."""
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def validate_id_number(value: str, *, today: date | None = None) -> str:
    """Return the normalised 18-character number or raise IdNumberError."""
    number = normalize_id_number(value)
    if not number:
        raise IdNumberError("length", MESSAGES["empty"])
    if len(number) != 18:
        raise IdNumberError("length")
    if not _SHAPE.fullmatch(number):
        raise IdNumberError("format")
    if number[:2] not in PROVINCE_CODES:
        raise IdNumberError("region")
    birth = _parse_birth(number[6:14])
    if birth is None:
        raise IdNumberError("birth_date")
    if birth.year < _MIN_BIRTH_YEAR:
        raise IdNumberError("birth_date", MESSAGES["birth_too_early"])
    if birth > (today or date.today()):
        raise IdNumberError("birth_date", MESSAGES["birth_future"])
    if check_digit(number[:17]) != number[17]:
        raise IdNumberError("check_digit")
    return number


def birth_date_of(id_number: str) -> date:
    """Return the birth date encoded in a valid identity number (raises IdNumberError)."""
    number = validate_id_number(id_number)
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def gender_of(id_number: str) -> str:
    """Return "male" or "female" from the parity of the 17th digit (raises IdNumberError)."""
    number = validate_id_number(id_number)
    return "male" if int(number[16]) % 2 else "female"


def make_test_id_number(area: str, birth: date, seq: int) -> str:
    """Build a valid number from a 6-digit area code, birth date and sequence 0-999 (odd=male)."""
    if not (isinstance(area, str) and re.fullmatch(r"[0-9]{6}", area)):
        raise ValueError("area must be a 6-digit string")
    if area[:2] not in PROVINCE_CODES:
        raise ValueError(f"unknown province code in area {area!r}")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= 999:
        raise ValueError("seq must be an integer between 0 and 999")
    if not isinstance(birth, date) or birth.year < _MIN_BIRTH_YEAR:
        raise ValueError("birth must be a date in or after 1900")
    first17 = f"{area}{birth:%Y%m%d}{seq:03d}"
    return first17 + check_digit(first17)


def _mask(value: str | None, head: int, tail: int) -> str:
    """Keep up to head/tail characters, always hiding at least 4 (short values are all stars)."""
    if not value:
        return ""
    text = "".join(str(value).split())
    n = len(text)
    reveal = max(0, min(head + tail, n - _MIN_STARS))
    keep_head = head if reveal == head + tail else min(head, reveal // 2)
    keep_tail = reveal - keep_head
    return text[:keep_head] + "*" * (n - reveal) + text[n - keep_tail :]


def mask_id_number(value: str | None) -> str:
    """Mask an identity number keeping the first 4 and last 4 characters."""
    return _mask(normalize_id_number(value), 4, 4)


def mask_phone(value: str | None) -> str:
    """Mask a phone number keeping the first 3 and last 4 characters."""
    return _mask(value, 3, 4)

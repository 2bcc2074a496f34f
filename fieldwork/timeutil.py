"""Calendar months in China Standard Time: the programme counts visits per Asia/Shanghai month."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

CST = ZoneInfo("Asia/Shanghai")


def now_utc() -> datetime:
    return datetime.now(UTC)


def local(dt: datetime) -> datetime:
    """The same instant on a Nanyang wall clock."""
    return dt.astimezone(CST)


def month_key(dt: datetime) -> int:
    """YYYYMM of the Asia/Shanghai calendar month that contains the instant dt."""
    if dt.tzinfo is None:
        raise ValueError("month_key needs an aware datetime")
    d = local(dt)
    return d.year * 100 + d.month


def today_local() -> date:
    return local(now_utc()).date()


def current_month() -> int:
    return month_key(now_utc())


def month_bounds(key: int) -> tuple[datetime, datetime]:
    """UTC instants [start, end) of the Asia/Shanghai month key (YYYYMM)."""
    year, month = divmod(key, 100)
    start = datetime(year, month, 1, tzinfo=CST)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=CST)
    return start.astimezone(UTC), end.astimezone(UTC)


def add_months(key: int, n: int) -> int:
    year, month = divmod(key, 100)
    total = year * 12 + (month - 1) + n
    return (total // 12) * 100 + total % 12 + 1


def date_plus_months(day: date, n: int) -> date:
    """The same day n months later (the month's last day when it is shorter); add_months is
    the same for month keys."""
    total = day.year * 12 + day.month - 1 + n
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_first_day(key: int) -> date:
    return date(key // 100, key % 100, 1)


def month_last_day(key: int) -> date:
    nxt = add_months(key, 1)
    return date.fromordinal(month_first_day(nxt).toordinal() - 1)


def month_of_date(d: date) -> int:
    return d.year * 100 + d.month

"""CSV that a spreadsheet opens as data, never as formulas (CSV/formula injection).

Excel, WPS and LibreOffice read a CSV cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a
tab or carriage return before one of them) as a formula: a head name such as
``=HYPERLINK("http://x","点我")`` or ``=cmd|' /C calc'!A0`` would become a live link or a DDE
command on the county officer's computer. Every CSV the app writes goes through ``writer()``
(or ``cell()``), which prefixes such text with a single quote, as OWASP recommends. Numbers
the app itself writes (int, float, Decimal) stay numbers, negative ones included: only text
is neutralised. Full-width ``＝ ＋ － ＠`` count too (an IME may turn them into formulas), and
so does text whose first non-blank character is one of these.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import IO, Any

# What makes a spreadsheet read a cell as a formula (OWASP's list, plus full-width forms).
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def cell(value: Any) -> Any:
    """The value as it may safely go into a CSV cell: None as empty, numbers as they are,
    text starting like a formula prefixed with a single quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    stripped = text.lstrip(" \n\u3000")
    if text[:1] in FORMULA_STARTS or stripped[:1] in FORMULA_STARTS:
        return "'" + text
    return text


class SafeWriter:
    """csv.writer whose rows pass through cell() first."""

    def __init__(self, out: IO[str], **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: IO[str], **kwargs: Any) -> SafeWriter:
    """The only CSV writer the app uses (csv.writer's arguments)."""
    return SafeWriter(out, **kwargs)

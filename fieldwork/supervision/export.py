"""The county ledger (县(市、区)城镇困难职工居民信息台账) as streamed XLSX and CSV."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ledger", __name__, url_prefix="/ledger")

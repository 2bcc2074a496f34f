"""Template globals and filters: labels, local times, the demo banner, asset versions."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from flask import Flask, request, url_for
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf

from fieldwork.forms_once import new_token as new_form_token
from fieldwork.households import constants as hc
from fieldwork.households.management.measures import amount_text, standard_text
from fieldwork.i18n import html_lang
from fieldwork.privacy.idnumber import mask_phone
from fieldwork.timeutil import local
from fieldwork.visits.flags import FLAG_LABELS


def init_templating(app: Flask) -> None:
    static_root = Path(app.static_folder or "static")
    versions: dict[str, str] = {}

    def asset(filename: str) -> str:
        """URL of a static file with a content hash, so it can be cached for a long time."""
        if filename not in versions or app.debug:
            path = static_root / filename
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10] if path.exists() else "0"
            versions[filename] = digest
        return url_for("static", filename=filename, v=versions[filename])

    def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return local(value).strftime(fmt) if value else ""

    def local_date(value: datetime | None) -> str:
        return local_time(value, "%Y-%m-%d")

    def month_label(key: int) -> str:
        return f"{key // 100}年{key % 100}月" if str(get_locale()).startswith("zh") \
            else f"{key // 100}-{key % 100:02d}"

    # A global, not a context value, so that macros imported without context see it.
    app.jinja_env.globals["new_form_token"] = new_form_token
    # One rendering of a measure's amount (不低于/上限/区间/规则) for every page and print.
    app.jinja_env.globals["measure_amount"] = amount_text
    app.jinja_env.globals["measure_standard"] = standard_text
    app.jinja_env.filters.update(
        local_time=local_time, local_date=local_date, month_label=month_label,
        mask_phone=mask_phone,
    )

    @app.context_processor
    def globals_():
        locale = str(get_locale() or "zh_Hans_CN")
        return {
            "asset": asset,
            "csrf_token_value": generate_csrf,
            "demo_mode": app.config["DEMO_MODE"],
            "html_lang": html_lang(locale),
            "locale": locale,
            "languages": app.config["LANGUAGES"],
            "labels": hc,
            "flag_labels": FLAG_LABELS,
            "is_htmx": request.headers.get("HX-Request") == "true",
        }

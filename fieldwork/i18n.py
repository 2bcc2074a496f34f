"""Language: Simplified Chinese first, English second (user setting, then Accept-Language)."""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request, session
from flask_babel import Babel
from flask_login import current_user

from fieldwork.config import ROOT

LOCALES = ("zh_Hans_CN", "en")
DEFAULT_LOCALE = "zh_Hans_CN"


def normalise_locale(value: str | None) -> str | None:
    """Map what browsers and users say ("zh-CN", "zh", "en-GB") onto the two locales."""
    if not value:
        return None
    v = value.replace("-", "_").lower()
    if v.startswith("zh"):
        return "zh_Hans_CN"
    if v.startswith("en"):
        return "en"
    return None


def select_locale() -> str:
    # Outside a request (command line, background work) there is no user, session or browser.
    if not has_request_context():
        return DEFAULT_LOCALE
    if current_user and current_user.is_authenticated:
        chosen = normalise_locale(current_user.locale)
        if chosen:
            return chosen
    chosen = normalise_locale(session.get("locale"))
    if chosen:
        return chosen
    for lang, _quality in request.accept_languages:
        chosen = normalise_locale(lang)
        if chosen:
            return chosen
    return DEFAULT_LOCALE


def html_lang(locale: str) -> str:
    return "zh-Hans-CN" if locale.startswith("zh") else locale


def init_i18n(app: Flask, babel: Babel) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(ROOT / "fieldwork" / "translations"))
    babel.init_app(app, locale_selector=select_locale)


def plain(v: Any) -> Any:
    """A structure with lazy labels resolved to strings in the current language (JSON-ready)."""
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if type(v).__name__ == "LazyString":
        return str(v)
    return v

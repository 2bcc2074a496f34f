"""Language: Simplified Chinese first, English second (user setting, then Accept-Language)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.util import pathmatch
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, force_locale, get_translations
from flask_login import current_user

from fieldwork import ROOT

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


# ------------------------------------------------------------------ the client's catalogue
# static/js translates with t("中文", {name}) (static/js/i18n.js); the msgids are found by
# Babel's JavaScript extractor with the [javascript: …] sections of babel.cfg (keyword `t`),
# the very sections `make extract-messages` uses, so the .po and this catalogue agree.


def client_msgids(root: Path = ROOT) -> list[str]:
    """Every msgid of a t("…") call in the JavaScript files babel.cfg maps, in source order."""
    with (root / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    patterns = [(pattern, options_map.get(pattern, {})) for pattern, method in method_map
                if method == "javascript"]
    found: dict[str, None] = {}
    for path in sorted((root / "static").rglob("*.js")):
        relative = path.relative_to(root).as_posix()
        for pattern, options in patterns:
            if not pathmatch(pattern, relative):
                continue
            # Only the section's own keywords (t): not gettext's defaults, which minified or
            # unrelated code could match.
            for _line, msgid, _comments, _context in extract_from_file(
                    "javascript", str(path), keywords=options.get("keywords") or {"t": None},
                    options=options):
                found[msgid if isinstance(msgid, str) else msgid[0]] = None
            break
    return list(found)


def client_catalogue(locale: str) -> dict[str, str]:
    """{msgid: msgstr} of the client's strings in this locale; empty for Chinese (the msgids
    are the Chinese text). Untranslated msgids are left out: the client shows the msgid.
    Built once per app and locale (at the first request); rebuilt on every call in debug."""
    chosen = normalise_locale(locale)
    if chosen is None or chosen == DEFAULT_LOCALE:
        return {}
    cache: dict[str, dict[str, str]] = current_app.extensions.setdefault(
        "fieldwork_client_catalogue", {})
    if chosen in cache and not current_app.debug:
        return cache[chosen]
    with force_locale(chosen):
        translations = get_translations()
        catalogue = {}
        for msgid in client_msgids():
            msgstr = translations.ugettext(msgid)
            if msgstr and msgstr != msgid:
                catalogue[msgid] = msgstr
    cache[chosen] = catalogue
    return catalogue

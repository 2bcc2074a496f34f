"""Language: Simplified Chinese first, English second (user setting, then Accept-Language)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any

from babel.messages.frontend import parse_mapping_cfg
from babel.util import pathmatch
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import Babel, force_locale, get_translations
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


# ------------------------------------------------------------------ the client's catalogue
# static/js translates with t("中文", {name}) (static/js/i18n.js). babel.cfg maps static/js to
# extract_js below, for `make extract-messages` and for this catalogue alike, so the .po and
# the catalogue agree. Babel's own JavaScript extractor is not used: it loses or garbles
# msgids next to template literals (`${…}`), which the client uses everywhere.

JS_EXTRACTOR = "fieldwork.i18n.extract_js"
# A keyword call whose first argument is a plain "…" or '…' string literal.
_JS_CALL = re.compile(
    r"""(?<![\w.$])(?P<func>[A-Za-z_$][\w$]*)\(\s*"""
    r"""(?P<literal>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')\s*[,)]""")


_JS_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)")
_JS_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _js_unquote(literal: str) -> str:
    """The value of a JavaScript "…" or '…' string literal."""
    def one(match: re.Match[str]) -> str:
        code = match[1]
        if code[0] in "ux" and len(code) > 1:
            return chr(int(code[1:].strip("{}"), 16))
        return _JS_SIMPLE_ESCAPES.get(code, code)
    return _JS_ESCAPE.sub(one, literal[1:-1])


def extract_js(fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
               options: dict[str, Any]) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extraction method for the client: t("msgid", {…}) calls, msgid a string literal.
    Calls inside // or /* */ comments (usage examples) are not messages."""
    source = fileobj.read().decode(options.get("encoding", "utf-8"))
    names = set(keywords) or {"t"}
    for match in _JS_CALL.finditer(source):
        if match["func"] not in names:
            continue
        line_start = source.rfind("\n", 0, match.start()) + 1
        before = source[line_start:match.start()]
        if "//" in before or before.lstrip().startswith(("*", "/*")):
            continue
        lineno = source.count("\n", 0, match.start()) + 1
        yield lineno, match["func"], _js_unquote(match["literal"]), []


def client_msgids(root: Path = ROOT) -> list[str]:
    """Every msgid of a t("…") call in the JavaScript files babel.cfg maps, in source order."""
    with (root / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    patterns = [(pattern, options_map.get(pattern, {})) for pattern, method in method_map
                if method == JS_EXTRACTOR]
    found: dict[str, None] = {}
    for path in sorted((root / "static").rglob("*.js")):
        relative = path.relative_to(root).as_posix()
        for pattern, options in patterns:
            if not pathmatch(pattern, relative):
                continue
            keywords = options.get("keywords") or {"t": None}
            with path.open("rb") as fileobj:
                for _line, _func, msgid, _comments in extract_js(fileobj, keywords, (), options):
                    found[msgid] = None
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

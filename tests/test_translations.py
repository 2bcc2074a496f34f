"""The English catalog: every Chinese msgid translated, placeholders intact, pages in English.

The msgids are the Simplified Chinese strings themselves, so Chinese needs no catalog: with no
zh_Hans_CN catalog gettext returns the msgid. English lives in
fieldwork/translations/en/LC_MESSAGES/messages.po (the .mo is a build product; the tests
compile their own copy). Refresh after adding strings:

    make extract-messages     # pybabel extract + pybabel update (no fuzzy matching)
    # translate the new empty msgstr entries in the en messages.po, then
    .venv/bin/pybabel compile -d fieldwork/translations --statistics
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from fieldwork import ROOT
from fieldwork.extensions import babel

TRANSLATIONS = ROOT / "fieldwork" / "translations"
POT = TRANSLATIONS / "messages.pot"
ENGLISH_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
            "_l": None, "lazy_gettext": None}
REFRESH = ("run `make extract-messages`, translate the new entries in "
           "fieldwork/translations/en/LC_MESSAGES/messages.po, then "
           "`.venv/bin/pybabel compile -d fieldwork/translations --statistics`")

# %(name)s, %(n)d, %(m)02d, %.1f, %s, and %% (a literal percent sign).
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[#0 +-]*(?:\d+|\*)?(?:\.\d+)?([diouxXeEfFgGcrsa%])")
# The client's strings (static/js, t("…", {name})) name their values in braces: {name}.
BRACE_PLACEHOLDER = re.compile(r"\{(\w+)\}")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Full-width punctuation inside an English translation shows up as odd spacing on the page.
CJK_PUNCTUATION = re.compile(r"[\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40]")
PASSWORD = "test-pass-123"  # the password of every make_user account (tests/conftest.py)


def read(path, locale=None):
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def placeholders(text: str) -> Counter:
    """Named placeholders by name and conversion (width and flags may differ)."""
    found = Counter()
    for name, conversion in PLACEHOLDER.findall(text):
        if conversion == "%":
            found["%%"] += 1
        else:
            kind = "number" if conversion in "diouxXeEfFgG" else conversion
            found[(name or "?", kind)] += 1
    return found


def js_placeholders(text: str) -> Counter:
    """The {name} placeholders of a client string, by name (static/js/i18n.js fills them)."""
    return Counter(BRACE_PLACEHOLDER.findall(text))


def is_client_message(message) -> bool:
    """A msgid used by static/js (it may be used by the server as well)."""
    return any(filename.endswith(".js") for filename, _line in message.locations)


@pytest.fixture(scope="module")
def pot():
    return read(POT)


@pytest.fixture(scope="module")
def english():
    return read(ENGLISH_PO, locale="en")


def test_the_template_lists_every_string_in_the_code(pot):
    """A string marked for translation in Python or a template but missing from the .pot
    would stay Chinese on the English pages."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    in_code = {msgid if isinstance(msgid, str) else msgid[0]
               for _file, _line, msgid, _comments, _context in extract_from_dir(
                   str(ROOT), method_map, options_map, keywords=KEYWORDS)}
    in_pot = {m.id if isinstance(m.id, str) else m.id[0] for m in pot if m.id}
    missing = sorted(in_code - in_pot)
    assert not missing, f"{len(missing)} strings are not in messages.pot ({REFRESH}): {missing}"


def test_every_msgid_has_an_english_translation(pot, english):
    untranslated = [m.id for m in pot if m.id and not (
        english.get(m.id) is not None and str(english.get(m.id).string).strip())]
    fuzzy = [m.id for m in english if m.id and m.fuzzy]
    assert not untranslated, f"{len(untranslated)} untranslated ({REFRESH}): {untranslated}"
    assert not fuzzy, f"fuzzy entries need a translator's check: {fuzzy}"


def test_placeholders_survive_translation(english):
    wrong = [(m.id, m.string) for m in english
             if m.id and m.string and placeholders(m.id) != placeholders(m.string)]
    assert not wrong
    # The client's strings keep their {name} placeholders too (t() fills them by name).
    wrong_js = [(m.id, m.string) for m in english
                if m.id and m.string and is_client_message(m)
                and js_placeholders(m.id) != js_placeholders(m.string)]
    assert not wrong_js
    problems = [(m.id, str(e)) for m, errors in english.check() for e in errors]
    assert not problems  # Babel's own checks: python-format compatibility


def test_english_translations_contain_no_chinese(english):
    leftovers = [(m.id, m.string) for m in english if m.id and (
        HAN.search(m.string) or CJK_PUNCTUATION.search(m.string))]
    assert not leftovers


def test_js_placeholder_pattern_sees_names():
    chinese = "已走访 {done} / {total} 户"
    assert js_placeholders(chinese) == Counter({"done": 1, "total": 1})
    assert js_placeholders("Visited {done} of {total}") == js_placeholders(chinese)
    assert js_placeholders("Visited {done} of {all}") != js_placeholders(chinese)
    assert js_placeholders("{n} photos, {n} left") != js_placeholders("{n} 张照片")
    assert js_placeholders("no braces, 50%") == Counter()


def test_client_strings_are_recognised_by_their_js_location():
    """The placeholder check above applies to the client's strings once they are extracted
    (babel.cfg's [javascript] sections): a .js location marks them."""
    from babel.messages.catalog import Message

    assert is_client_message(Message("删除", locations=[("static/js/field-kit.js", 87)]))
    assert not is_client_message(Message("删除", locations=[("templates/base.html", 3)]))


def test_placeholder_pattern_sees_names_and_conversions():
    assert placeholders("%(y)d年%(m)d月") == placeholders("%(y)d-%(m)02d")
    assert placeholders("%(n)s 公里") != placeholders("%(n)d km")
    assert placeholders("走访率 %(v).1f%%") == Counter({("v", "number"): 1, "%%": 1})


# ------------------------------------------------------------------------ rendered pages

@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> str:
    """The English .po compiled to a .mo of its own (the checked-in tree has no .mo)."""
    root = tmp_path_factory.mktemp("translations")
    target = root / "en" / "LC_MESSAGES" / "messages.mo"
    target.parent.mkdir(parents=True)
    with target.open("wb") as mo:
        write_mo(mo, read(ENGLISH_PO, locale="en"))
    return str(root)


@pytest.fixture
def app_config(app_config, compiled):
    return {**app_config, "BABEL_TRANSLATION_DIRECTORIES": compiled, "DEMO_MODE": True}


@pytest.fixture
def fresh_catalogs(app):
    # Flask-Babel caches loaded catalogs on the process-wide Babel object; start clean.
    babel.domain_instance.cache.clear()
    yield
    babel.domain_instance.cache.clear()


class _MainText(HTMLParser):
    """The visible text inside <main>, without the language switcher (it names 简体中文)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # >0 while inside <main>
        self.skip = 0  # >0 while inside the language form, a <script> or a <style>
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "main":
            self.depth += 1
        elif self.depth and (self.skip or tag in ("script", "style") or (
                tag == "form" and "lang-form" in (attrs.get("class") or ""))):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth -= 1
        elif self.skip and tag in ("form", "script", "style"):
            self.skip -= 1

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.parts.append(data)


def main_text(response) -> str:
    parser = _MainText()
    parser.feed(response.get_data(as_text=True))
    return " ".join(" ".join(parser.parts).split())


def chinese_in(text: str, data: tuple[str, ...] = ()) -> list[str]:
    """Runs of Chinese characters left once the given data values (names, places) are gone."""
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    return re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff]+", text)


def english_get(client, path):
    return client.get(path, headers={"Accept-Language": "en"})


@pytest.mark.usefixtures("fresh_catalogs")
def test_the_english_login_page_is_in_english(client):
    response = english_get(client, "/login")
    html = response.get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Log in</h1>" in html
    text = main_text(response)
    assert "Username" in text and "Password" in text
    assert "demo-helper" in text  # the demo accounts stay listed, by their Latin names
    assert chinese_in(text) == []
    assert "简体中文" in html  # the switcher still offers Chinese, named in Chinese


@pytest.mark.usefixtures("fresh_catalogs")
def test_the_chinese_login_page_stays_chinese(client):
    for headers in ({}, {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}):
        response = client.get("/login", headers=headers)
        html = response.get_data(as_text=True)
        assert "<h1>登录</h1>" in html
        text = main_text(response)
        assert "用户名" in text and "密码" in text
        assert "Log in" not in html and "Username" not in text


@pytest.mark.usefixtures("fresh_catalogs")
def test_a_helpers_pages_are_in_english(client, auth, world, make_user, make_household):
    helper = make_user("helper", display_name="Li Ming")
    household = make_household(helper=helper, head_name="Wang Fang", address="12 Jianshe Road",
                               members_count=3)
    other = make_household(helper=helper, head_name="Zhao Lei", address="8 Renmin Road")
    auth.login(as_=helper)
    data = tuple(p.name for p in (world.city, world.county, world.street, world.community))

    # The helper's pages are drawn on the phone (static/js/pages/) from the pull, with the
    # client's strings from /i18n/<locale>.json: both must be in English.
    for path in ("/households/mine", f"/households/{household.id}",
                 f"/households/{household.id}/visits/new"):
        assert english_get(client, path).status_code == 200
    catalogue = english_get(client, "/i18n/en.json").get_json()
    for msgid, english in (("我的帮扶户", "My households"), ("逾期未走访", "Overdue"),
                           ("登记本次走访", "Record a visit"), ("家庭档案", "Household file"),
                           ("入户调查表", "Household visit survey"),
                           ("保存走访记录", "Save visit")):
        assert catalogue.get(msgid) == english, msgid
    pulled = english_get(client, "/api/sync/v1/pull").get_json()
    by_name = {h["head_name"]: h for h in pulled["households"]}
    assert set(by_name) == {"Wang Fang", other.head_name}
    assert by_name["Wang Fang"]["category_label"] == "Income below the dibao line"
    assert by_name["Wang Fang"]["visit_state"] == "overdue"
    text = " ".join([g["label"] for g in pulled["forms"]["visit"]["groups"]]
                    + [f["label"] for f in pulled["forms"]["visit"]["fields"]]
                    + [o["label"] for f in pulled["forms"]["visit"]["fields"]
                       for o in f.get("options") or []])
    for label in ("People present", "Income (stable source of living)",
                  "Housing (stable home)", "Education", "Medical care", "Employment",
                  "Elderly care", "Normal", "At risk", "Hardship"):
        assert label in text
    assert chinese_in(text, data) == []

    # The same helper, no English asked for: Chinese labels in the pull, no catalogue needed.
    pulled = client.get("/api/sync/v1/pull").get_json()
    assert all(chinese_in(h["category_label"]) for h in pulled["households"])
    assert client.get("/i18n/zh_Hans_CN.json").get_json() == {}

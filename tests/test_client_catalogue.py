"""The client's strings: /i18n/<locale>.json carries the translations of the t("…") calls in
static/js (static/js/i18n.js), and the service worker precaches it."""

from __future__ import annotations

import io
import json
import re

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from fieldwork import ROOT
from fieldwork.access.roles import REPORTERS
from fieldwork.extensions import babel
from fieldwork.i18n import client_msgids, extract_js

# A msgid the client really uses (static/js/field-kit.js), one with a placeholder
# (static/js/sync-ui.js), and one that only the server uses (never sent to the client).
CLIENT_MSGID = "已保存在本手机"
CLIENT_PARAM_MSGID = "本机待上传：{records} 条记录、{photos} 张照片（{size}）"
SERVER_MSGID = "导出台账"


@pytest.fixture(scope="module")
def translations_dir(tmp_path_factory) -> str:
    """An English catalogue holding client and server strings, compiled as `make` would."""
    root = tmp_path_factory.mktemp("client-translations")
    catalog = Catalog(locale="en")
    catalog.add(CLIENT_MSGID, "Saved on this phone")
    catalog.add(CLIENT_PARAM_MSGID,
                "Waiting on this phone: {records} records, {photos} photos ({size})")
    catalog.add(SERVER_MSGID, "Export the ledger")
    target = root / "en" / "LC_MESSAGES" / "messages.mo"
    target.parent.mkdir(parents=True)
    with target.open("wb") as mo:
        write_mo(mo, catalog)
    return str(root)


@pytest.fixture
def app_config(app_config, translations_dir):
    return {**app_config, "BABEL_TRANSLATION_DIRECTORIES": translations_dir}


@pytest.fixture(autouse=True)
def fresh_catalogs(app):
    # Flask-Babel caches loaded catalogs on the process-wide Babel object; start clean.
    babel.domain_instance.cache.clear()
    yield
    babel.domain_instance.cache.clear()


def test_the_msgids_are_the_t_calls_of_static_js():
    msgids = client_msgids()
    assert CLIENT_MSGID in msgids and CLIENT_PARAM_MSGID in msgids
    assert SERVER_MSGID not in msgids
    # A msgid is a constant: values go in {name} params, never in a ${…} template literal.
    assert [m for m in msgids if "${" in m] == []
    # Comments and plain strings are not messages; every msgid is a t("…") argument.
    sources = "".join(p.read_text("utf-8") for p in (ROOT / "static").rglob("*.js")
                      if "vendor" not in p.parts)
    assert [m for m in msgids if f't("{m}"' not in sources and f"t('{m}'" not in sources
            and f"t(`{m}`" not in sources] == []


def test_the_extractor_reads_t_calls_around_template_literals_and_skips_comments():
    source = "\n".join([
        'a.href = `/login?next=${encodeURIComponent(location.pathname)}`;',
        'b.textContent = t("重新登录");',
        'c.textContent = `${t("正在同步…")}${pct != null ? ` ${pct}%` : ""}`;',
        'd = t("约 {d}", { d: d < 1000 ? `${Math.trunc(d)} m` : `${(d / 1000).toFixed(1)} km` });',
        "// t(\"只是注释\") is a usage example",
        " * t(\"文档注释\")",
        'e = at("不是t") + gettext("也不是") + t(\'单引号\') + t("转义\\"引号\\"\\u4e2d");',
        'f = t(`模板 ${x}`) + t(name);',
    ]).encode()
    calls = extract_js(io.BytesIO(source), {"t": None}, (), {})
    found = [(line, msgid) for line, _func, msgid, _comments in calls]
    assert found == [(2, "重新登录"), (3, "正在同步…"), (4, "约 {d}"), (7, "单引号"),
                     (7, '转义"引号"中')]


def test_english_catalogue_has_the_client_translations_only(client):
    response = client.get("/i18n/en.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = json.loads(response.get_data(as_text=True))
    assert data[CLIENT_MSGID] == "Saved on this phone"
    assert data[CLIENT_PARAM_MSGID].startswith("Waiting on this phone: {records}")
    assert SERVER_MSGID not in data
    # Untranslated client msgids are left out: the client shows the Chinese msgid.
    assert set(data) <= set(client_msgids())


def test_chinese_needs_no_catalogue_and_unknown_locales_are_404(client):
    for locale in ("zh", "zh_Hans_CN", "zh-CN"):
        response = client.get(f"/i18n/{locale}.json")
        assert response.status_code == 200
        assert response.get_json() == {}
    assert client.get("/i18n/fr.json").status_code == 404


def test_catalogue_is_versioned_and_revalidates(client):
    first = client.get("/i18n/en.json")
    assert first.headers["Cache-Control"] == "no-cache"
    etag = first.headers["ETag"]
    again = client.get("/i18n/en.json", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_service_worker_precaches_the_catalogue_and_i18n_module(client):
    body = client.get("/sw.js").get_data(as_text=True)
    assert '"/i18n/en.json"' in body
    assert "/static/js/i18n.js" in body
    assert "/i18n/zh" not in body  # Chinese has no catalogue to fetch


def test_the_client_knows_the_same_reporter_roles_as_the_server():
    """static/js/keys.js spells the roles that see /discovery/new offline; a role added on
    the server and forgotten there would land on a 404 page offline."""
    source = (ROOT / "static" / "js" / "keys.js").read_text(encoding="utf-8")
    listed = re.search(r"REPORTER_ROLES = Object\.freeze\(\[([^\]]*)\]\)", source)
    assert listed is not None
    assert tuple(json.loads(f"[{listed.group(1)}]")) == REPORTERS

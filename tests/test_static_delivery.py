"""What a phone on a weak network receives: compressed pages and files, static files that are
cached for a year when their URL carries the content hash, and revalidated otherwise."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from fieldwork.static_delivery import choose_encoding, init_static_delivery

# Flask-Compress (which brings brotli) is a dependency in pyproject.toml.
pytest.importorskip("flask_compress", reason="Flask-Compress is not installed")
brotli = pytest.importorskip("brotli", reason="brotli is not installed")

STATIC = Path(__file__).resolve().parent.parent / "static"


@pytest.fixture
def delivered(app):
    init_static_delivery(app)
    return app


def decode(response) -> bytes:
    encoding = response.headers.get("Content-Encoding")
    if encoding == "br":
        return brotli.decompress(response.data)
    if encoding == "gzip":
        return gzip.decompress(response.data)
    assert encoding is None, encoding
    return response.data


def page_assets(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_the_login_page_and_its_files_arrive_compressed_and_cacheable(client, delivered):
    response = client.get("/login", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"
    html = decode(response).decode()
    assert 'name="password"' in html
    assert response.headers["Cache-Control"] == "no-store"
    assert "Accept-Encoding" in response.headers["Vary"]

    assets = page_assets(html)
    assert any(a.startswith("/static/css/app.css?v=") for a in assets)
    assert any(a.startswith("/static/vendor/htmx-") for a in assets)
    for url in assets:
        asset = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
        assert asset.status_code == 200, url
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
        path = STATIC / url.split("?")[0].removeprefix("/static/")
        if path.suffix in (".css", ".js") and path.stat().st_size > 1024:
            assert asset.headers["Content-Encoding"] == "br", url
            assert len(asset.data) < path.stat().st_size / 2, url
        assert decode(asset) == path.read_bytes(), url


def test_brotli_shrinks_htmx_to_a_third(client, delivered):
    path = next((STATIC / "vendor").glob("htmx-*.min.js"))
    response = client.get(f"/static/vendor/{path.name}?v=1", headers={"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert int(response.headers["Content-Length"]) == len(response.data)
    assert len(response.data) * 3 < path.stat().st_size
    assert decode(response) == path.read_bytes()


def test_older_clients_get_gzip_and_clients_without_compression_get_plain_bytes(client,
                                                                              delivered):
    original = (STATIC / "css/app.css").read_bytes()
    zipped = client.get("/static/css/app.css?v=1", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert decode(zipped) == original
    plain = client.get("/static/css/app.css?v=1", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert plain.data == original
    refused = client.get("/static/css/app.css?v=1", headers={"Accept-Encoding": "br;q=0, gzip"})
    assert refused.headers["Content-Encoding"] == "gzip"


def test_an_unversioned_file_is_revalidated_with_a_cheap_304(client, delivered):
    first = client.get("/static/js/db.js", headers={"Accept-Encoding": "br"})
    assert first.status_code == 200
    assert "immutable" not in first.headers.get("Cache-Control", "")
    assert "no-cache" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = client.get("/static/js/db.js", headers={"Accept-Encoding": "br",
                                                   "If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    # The gzip representation has its own validator: a br ETag does not match it.
    other = client.get("/static/js/db.js", headers={"Accept-Encoding": "gzip",
                                                   "If-None-Match": etag})
    assert other.status_code == 200
    assert other.headers["Content-Encoding"] == "gzip"


def test_the_service_worker_and_manifest_stay_revalidated_but_compressed(client, delivered):
    worker = client.get("/sw.js", headers={"Accept-Encoding": "br"})
    assert worker.status_code == 200
    assert worker.headers["Cache-Control"] == "no-cache"
    assert worker.headers["Content-Encoding"] == "br"
    assert b"SHELL_CACHE" in decode(worker)
    manifest = client.get("/manifest.webmanifest", headers={"Accept-Encoding": "br"})
    assert manifest.headers["Cache-Control"] == "no-cache"


def test_the_helpers_list_is_compressed_and_never_kept_by_any_cache(
        client, delivered, auth, make_user, make_household, world):
    helper = make_user("helper")
    for i in range(30):
        make_household(helper=helper, place=world.community, head_name=f"测试户{i:02d}")
    auth.login(as_=helper)
    # The list is drawn on the phone from the pull: that answer carries the households.
    response = client.get("/api/sync/v1/pull", headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "br"
    names = {h["head_name"] for h in json.loads(decode(response))["households"]}
    assert "测试户29" in names and len(names) == 30
    assert response.headers["Cache-Control"] == "no-store"


def test_images_are_not_compressed_again(client, delivered):
    response = client.get("/static/icons/icon-512.png?v=1", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize(("header", "expected"), [
    ("gzip, deflate, br, zstd", "br"),
    ("gzip", "gzip"),
    ("br;q=0, gzip;q=0.5", "gzip"),
    ("identity", None),
    ("", None),
    ("*", "br"),
])
def test_encoding_choice(header, expected):
    assert choose_encoding(header) == expected

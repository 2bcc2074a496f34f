"""The application factory and its configuration: safe local defaults, the environment,
production's refusals, and the answers every page and API call share (headers, errors)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from fieldwork import ROOT, ConfigError, create_app
from fieldwork.privacy.crypto import generate_key

ENV_VARS = (
    "FIELDWORK_ENV",
    "DATABASE_URL",
    "FIELDWORK_SECRET_KEY",
    "FIELDWORK_FIELD_KEY",
    "FIELDWORK_INDEX_KEY",
    "FIELDWORK_DEMO",
    "FIELDWORK_PHOTO_DIR",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment: only what the test sets."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- local defaults


def test_defaults_keep_everything_under_the_instance_folder(env, instance):
    app = create_app({"INSTANCE_PATH": str(instance)})

    assert app.config["FIELDWORK_ENV"] == "development"
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database) == instance / "fieldwork.db"
    assert Path(app.config["PHOTO_DIR"]) == instance / "photos"
    assert app.config["DEMO_MODE"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is False


def test_generated_secrets_are_private_files_reused_on_the_next_start(env, instance):
    first = create_app({"INSTANCE_PATH": str(instance)})

    for name in ("secret_key", "field_key", "index_key"):
        path = instance / name
        assert path.is_file(), name
        assert _mode(path) == 0o600, f"{name} is readable by others"
        assert path.read_text().strip()
    assert first.config["SECRET_KEY"] == (instance / "secret_key").read_text().strip()
    assert first.config["FIELD_KEY"] == (instance / "field_key").read_text().strip()
    assert first.config["INDEX_KEY"] == (instance / "index_key").read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 32
    # No stray temporary files left beside the secrets.
    assert sorted(p.name for p in instance.iterdir() if p.name.endswith(".tmp")) == []

    second = create_app({"INSTANCE_PATH": str(instance)})
    for key in ("SECRET_KEY", "FIELD_KEY", "INDEX_KEY"):
        assert second.config[key] == first.config[key], f"{key} changed between starts"


def test_two_instance_folders_get_different_secrets(env, tmp_path):
    a = create_app({"INSTANCE_PATH": str(tmp_path / "a")})
    b = create_app({"INSTANCE_PATH": str(tmp_path / "b")})
    for key in ("SECRET_KEY", "FIELD_KEY", "INDEX_KEY"):
        assert a.config[key] != b.config[key]


def test_explicit_overrides_win_and_write_no_secret_files(env, instance):
    field_key = generate_key()
    app = create_app({
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'other.db'}",
        "SECRET_KEY": "override-secret",
        "FIELD_KEY": field_key,
        "INDEX_KEY": "override-index",
        "PHOTO_DIR": str(instance / "elsewhere"),
        "MAX_CONTENT_LENGTH": 1234,
    })
    assert app.config["SECRET_KEY"] == "override-secret"
    assert app.config["FIELD_KEY"] == field_key
    assert app.config["INDEX_KEY"] == "override-index"
    assert app.config["PHOTO_DIR"] == str(instance / "elsewhere")
    assert app.config["MAX_CONTENT_LENGTH"] == 1234
    assert make_url(app.config["SQLALCHEMY_DATABASE_URI"]).database == str(instance / "other.db")
    for name in ("secret_key", "field_key", "index_key"):
        assert not (instance / name).exists()


def test_environment_variables_are_read(env, instance):
    field_key = generate_key()
    env.setenv("FIELDWORK_SECRET_KEY", "from-env-secret")
    env.setenv("FIELDWORK_FIELD_KEY", field_key)
    env.setenv("FIELDWORK_INDEX_KEY", "from-env-index")
    env.setenv("FIELDWORK_PHOTO_DIR", str(instance / "env-photos"))
    env.setenv("FIELDWORK_DEMO", "0")
    app = create_app({"INSTANCE_PATH": str(instance)})
    assert app.config["SECRET_KEY"] == "from-env-secret"
    assert app.config["FIELD_KEY"] == field_key
    assert app.config["INDEX_KEY"] == "from-env-index"
    assert app.config["PHOTO_DIR"] == str(instance / "env-photos")
    assert app.config["DEMO_MODE"] is False


def test_an_invalid_field_key_is_refused_without_echoing_it(env, instance):
    env.setenv("FIELDWORK_FIELD_KEY", "not-a-fernet-key-but-a-secret")
    with pytest.raises(ConfigError) as excinfo:
        create_app({"INSTANCE_PATH": str(instance)})
    assert "FIELDWORK_FIELD_KEY" in str(excinfo.value)
    assert "not-a-fernet-key-but-a-secret" not in str(excinfo.value)


# ---------------------------------------------------------------- DATABASE_URL


@pytest.mark.parametrize(
    "given",
    [
        "postgres://fw:s3cret@db.example:5432/fieldwork",
        "postgresql://fw:s3cret@db.example:5432/fieldwork",
        "postgresql+psycopg2://fw:s3cret@db.example:5432/fieldwork",
    ],
)
def test_postgres_urls_are_routed_to_psycopg3(env, instance, given):
    env.setenv("DATABASE_URL", given)
    app = create_app({"INSTANCE_PATH": str(instance)})
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    assert url.drivername == "postgresql+psycopg"
    # Nothing else of the URL is lost, the password included.
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "fw", "s3cret", "db.example", 5432, "fieldwork"
    )


def test_sqlite_url_is_kept(env, instance):
    env.setenv("DATABASE_URL", f"sqlite:///{instance / 'x.db'}")
    app = create_app({"INSTANCE_PATH": str(instance)})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'x.db'}"


def test_unparsable_database_url_is_a_clear_error(env, instance):
    env.setenv("DATABASE_URL", "this is not a url")
    with pytest.raises(ConfigError) as excinfo:
        create_app({"INSTANCE_PATH": str(instance)})
    message = str(excinfo.value)
    assert "DATABASE_URL" in message
    assert "无法解析" in message
    assert "postgresql://" in message  # says what a good one looks like


def test_unsupported_database_is_a_clear_error(env, instance):
    env.setenv("DATABASE_URL", "mysql://fw:s3cret@db.example/fieldwork")
    with pytest.raises(ConfigError) as excinfo:
        create_app({"INSTANCE_PATH": str(instance)})
    message = str(excinfo.value)
    assert "DATABASE_URL" in message
    assert "mysql" in message
    assert "PostgreSQL" in message
    assert "s3cret" not in message


def test_bad_fieldwork_env_is_refused(env, instance):
    env.setenv("FIELDWORK_ENV", "prod")
    with pytest.raises(ConfigError) as excinfo:
        create_app({"INSTANCE_PATH": str(instance)})
    assert "FIELDWORK_ENV" in str(excinfo.value)
    assert "'prod'" in str(excinfo.value)


def test_command_line_start_with_bad_config_prints_one_line_and_exits_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["DATABASE_URL"] = "mysql://x"
    result = subprocess.run(
        [sys.executable, "-c", "from fieldwork import create_app; create_app(exit_on_error=True)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "DATABASE_URL" in lines[0]
    assert "mysql" in lines[0]


# ---------------------------------------------------------------- production


@pytest.fixture
def production(env, instance, tmp_path):
    """Production with every required setting present; tests remove one at a time."""
    # Files a development run left behind must not stand in for the environment.
    create_app({"INSTANCE_PATH": str(instance)})
    for name in ("secret_key", "field_key", "index_key"):
        assert (instance / name).exists()
    env.setenv("FIELDWORK_ENV", "production")
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")
    env.setenv("FIELDWORK_SECRET_KEY", "prod-secret-" + "x" * 40)
    env.setenv("FIELDWORK_FIELD_KEY", generate_key())
    env.setenv("FIELDWORK_INDEX_KEY", "prod-index-" + "y" * 40)
    return env


def test_production_starts_with_everything_set(production, instance):
    app = create_app({"INSTANCE_PATH": str(instance)})
    assert app.config["FIELDWORK_ENV"] == "production"
    assert app.config["DEMO_MODE"] is False
    assert app.config["SECRET_KEY"] == os.environ["FIELDWORK_SECRET_KEY"]
    assert app.config["FIELD_KEY"] == os.environ["FIELDWORK_FIELD_KEY"]
    assert app.config["INDEX_KEY"] == os.environ["FIELDWORK_INDEX_KEY"]
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert "max-age=" in response.headers["Strict-Transport-Security"]


@pytest.mark.parametrize(
    "missing",
    ["DATABASE_URL", "FIELDWORK_SECRET_KEY", "FIELDWORK_FIELD_KEY", "FIELDWORK_INDEX_KEY"],
)
def test_production_refuses_a_missing_setting(production, instance, missing):
    production.delenv(missing)
    with pytest.raises(ConfigError) as excinfo:
        create_app({"INSTANCE_PATH": str(instance)})
    assert missing in str(excinfo.value)


def test_production_refuses_demo_mode(production, instance):
    production.setenv("FIELDWORK_DEMO", "1")
    with pytest.raises(ConfigError) as excinfo:
        create_app({"INSTANCE_PATH": str(instance)})
    assert "FIELDWORK_DEMO" in str(excinfo.value)


def test_production_refuses_active_demo_accounts(production, instance, app_config, make_user):
    production.setenv("DATABASE_URL", app_config["SQLALCHEMY_DATABASE_URI"])
    demo = make_user("helper", username="demo-helper")
    make_user("county_officer", username="county-officer")

    with pytest.raises(ConfigError) as excinfo:
        create_app({"INSTANCE_PATH": str(instance)})
    assert "demo-" in str(excinfo.value)

    from fieldwork.accounts.services import deactivate_user
    from fieldwork.extensions import db

    deactivate_user(demo)
    db.session.commit()
    app = create_app({"INSTANCE_PATH": str(instance)})
    assert app.config["FIELDWORK_ENV"] == "production"


# ---------------------------------------------------------------- every response


@pytest.fixture
def app_config(app_config):
    # As in production: forms carry a CSRF token (the login page renders it).
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_security_headers_on_pages(client):
    response = client.get("/login")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    # Development is served over plain HTTP: no HSTS there.
    assert "Strict-Transport-Security" not in response.headers


def test_pages_need_nothing_the_csp_forbids(client):
    """Inline scripts, inline event handlers and style attributes would be blocked."""
    import re

    html = client.get("/login").get_data(as_text=True)
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
    assert scripts
    for attributes, body in scripts:
        assert "src=" in attributes and not body.strip(), "inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert "style=" not in html
    assert "javascript:" not in html


def test_security_headers_on_api_errors(client):
    response = client.get("/api/sync/v1/session")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_api_404_is_json(client):
    response = client.get("/api/no-such-thing")
    assert response.status_code == 404
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "not_found"
    assert error["message"] == "找不到该页面或记录"


def test_api_405_is_json(client):
    response = client.delete("/api/sync/v1/session")
    assert response.status_code == 405
    assert response.is_json
    error = response.get_json()["error"]
    assert error["code"] == "method_not_allowed"
    assert error["message"] == "不支持该请求方式"
    assert "GET" in response.headers["Allow"]


def test_html_404_is_a_chinese_page(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert '<html lang="zh-Hans-CN">' in html
    assert "找不到该页面或记录" in html
    assert "返回首页" in html


def test_html_405_keeps_the_allow_header(client):
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "不支持该请求方式" in response.get_data(as_text=True)

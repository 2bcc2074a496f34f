"""Configuration: safe local defaults, overridden by the environment (FIELDWORK_*, DATABASE_URL)."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from fieldwork.privacy.crypto import load_or_create_key_file, split_keys

# The checkout: templates/, static/, migrations/ and fieldwork/translations/ hang off it.
ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A configuration problem the operator must fix; the message says how."""


ENVIRONMENTS = ("development", "production", "testing")


def _redact(url: str) -> str:
    """The URL without its password, for error messages (logs must not carry it)."""
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)


def _check_field_key(field_key: str) -> None:
    keys = split_keys(field_key)
    if not keys:
        raise ConfigError("FIELDWORK_FIELD_KEY 为空")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            # Never echo the key itself.
            raise ConfigError(
                f"FIELDWORK_FIELD_KEY 的第 {position} 个密钥无效：应为 Fernet 密钥"
                "（32 字节的 URL 安全 base64 编码，44 个字符）"
            ) from None


def normalise_database_url(url: str) -> str:
    """Accept the common spellings of a PostgreSQL URL and route them to psycopg 3."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"DATABASE_URL 无法解析（{_redact(url)!r}）："
            "应形如 postgresql://用户:密码@主机:5432/库名 或 sqlite:////绝对路径/fieldwork.db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgresql+psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed.render_as_string(hide_password=False)
    if backend == "sqlite":
        return url
    raise ConfigError(
        f"DATABASE_URL 使用了不支持的数据库类型 {backend!r}：fieldwork 支持 PostgreSQL 和 SQLite"
    )


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def restrict(path: Path, mode: int) -> None:
    """Take away every permission of group and others from path (ours, if it exists), so a
    file or directory left world-readable by an older version or a loose umask is closed."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.geteuid() and info.st_mode & 0o777 & ~mode:
        os.chmod(path, mode)


def private_dir(path: Path) -> Path:
    """The instance directory (database, keys, photos) for its owner only: 0700 whatever the
    umask, also when it already exists."""
    os.makedirs(path, mode=PRIVATE_DIR_MODE, exist_ok=True)
    restrict(path, PRIVATE_DIR_MODE)
    return path


def private_file(instance: Path, name: str) -> Path:
    """A file of the instance directory (a key), for its owner only if it already exists."""
    path = private_dir(instance) / name
    restrict(path, PRIVATE_FILE_MODE)
    return path


def _read_secret(instance: Path, env_name: str, file_name: str, production: bool) -> str:
    value = os.environ.get(env_name, "").strip()
    if value:
        return value
    if production:
        raise ConfigError(f"生产环境必须设置 {env_name}（不能使用自动生成的本地密钥）")
    path = private_file(instance, file_name)
    if not path.exists():
        _publish_secret_file(path, secrets.token_urlsafe(48))
    value = path.read_text().strip()
    if not value:
        raise ConfigError(f"{path} 是空文件：请从备份恢复，或删除它以生成新的密钥")
    return value


def _publish_secret_file(path: Path, value: str) -> None:
    """Write a new secret readable only by its owner from the first byte, without replacing one
    that another process (a second worker starting at the same time) wrote first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # someone else's secret is already there: use theirs
        except OSError:
            if not path.exists():  # filesystems without hard links
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build_config(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the Flask config mapping: defaults, then environment, then explicit overrides."""
    overrides = dict(overrides or {})
    env = overrides.get("FIELDWORK_ENV") or os.environ.get("FIELDWORK_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"FIELDWORK_ENV 只能是 {', '.join(ENVIRONMENTS)} 之一，而不是 {env!r}")
    production = env == "production"
    instance = Path(instance_path)

    db_url = overrides.get("SQLALCHEMY_DATABASE_URI") or os.environ.get("DATABASE_URL", "")
    if not db_url:
        if production:
            raise ConfigError("生产环境必须设置 DATABASE_URL（PostgreSQL）")
        private_dir(instance)
        db_url = f"sqlite:///{instance / 'fieldwork.db'}"
    db_url = normalise_database_url(db_url)

    secret = overrides.get("SECRET_KEY") or _read_secret(
        instance, "FIELDWORK_SECRET_KEY", "secret_key", production
    )
    field_key = overrides.get("FIELD_KEY") or os.environ.get("FIELDWORK_FIELD_KEY", "").strip()
    if not field_key:
        if production:
            raise ConfigError("生产环境必须设置 FIELDWORK_FIELD_KEY（身份证号加密密钥）")
        try:
            field_key = load_or_create_key_file(private_file(instance, "field_key"))
        except ValueError as exc:  # a damaged key file: never replace it silently
            raise ConfigError(str(exc)) from None
    _check_field_key(field_key)
    # The blind-index key is separate so that the encryption keys can rotate without
    # re-indexing every ID number.
    index_key = overrides.get("INDEX_KEY") or _read_secret(
        instance, "FIELDWORK_INDEX_KEY", "index_key", production
    )

    photo_dir = overrides.get("PHOTO_DIR") or os.environ.get(
        "FIELDWORK_PHOTO_DIR", str(instance / "photos")
    )
    if Path(photo_dir).resolve().is_relative_to(instance.resolve()):
        private_dir(instance)  # before the photo store creates it with the umask's mode
    demo = os.environ.get("FIELDWORK_DEMO", "0" if production else "1") == "1"
    if production and demo:
        raise ConfigError("生产环境不能启用演示模式（FIELDWORK_DEMO=1）")

    config: dict[str, Any] = {
        "FIELDWORK_ENV": env,
        "SECRET_KEY": secret,
        "FIELD_KEY": field_key,
        "INDEX_KEY": index_key,
        "SQLALCHEMY_DATABASE_URI": db_url,
        # hide_parameters: an error's message never carries the statement's values (names,
        # phone numbers, answers) into the logs.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "PHOTO_DIR": photo_dir,
        "DEMO_MODE": demo,
        "TIMEZONE": "Asia/Shanghai",
        "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "LANGUAGES": {"zh_Hans_CN": "简体中文", "en": "English"},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=12),
        # A helper may be offline for two weeks: the remember-me cookie outlives that.
        "REMEMBER_COOKIE_DURATION": timedelta(days=30),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_SSL_STRICT": production,
        "MAX_CONTENT_LENGTH": int(os.environ.get("FIELDWORK_MAX_UPLOAD_BYTES", 16 * 1024 * 1024)),
        # Household import (households/imports): the uploaded XLSX, its unzipped size and
        # the data rows of one sheet.
        "IMPORT_MAX_BYTES": int(os.environ.get("FIELDWORK_IMPORT_MAX_BYTES", 30 * 1024 * 1024)),
        "IMPORT_MAX_UNZIPPED": int(os.environ.get("FIELDWORK_IMPORT_MAX_UNZIPPED",
                                                  300 * 1024 * 1024)),
        # 150,000: one file of a county (50,000 households, 120,000 members) must fit.
        "IMPORT_MAX_ROWS": int(os.environ.get("FIELDWORK_IMPORT_MAX_ROWS", 150000)),
        # Endpoints allowed a larger body than MAX_CONTENT_LENGTH: endpoint -> config key.
        "UPLOAD_LIMITS": {"imports.check": "IMPORT_MAX_BYTES"},
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "MAP_TILES_URL": os.environ.get("FIELDWORK_MAP_TILES_URL", ""),
        "MAP_TILES_CRS": os.environ.get("FIELDWORK_MAP_TILES_CRS", "wgs84"),
        "OFFICE_PHONE": os.environ.get("FIELDWORK_OFFICE_PHONE", ""),
        "GEOCODER": os.environ.get("FIELDWORK_GEOCODER", ""),
        "GEOCODER_KEY": os.environ.get("FIELDWORK_GEOCODER_KEY", ""),
        "GEOCODER_CRS": os.environ.get("FIELDWORK_GEOCODER_CRS", ""),
    }
    config.update(overrides)
    return config

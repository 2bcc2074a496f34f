"""Where photo bytes live: a local directory by default, or any S3-compatible object store
(MinIO, Ceph, a cloud bucket) when several app servers share the photos.

Chosen by FIELDWORK_PHOTO_STORE (``local`` or ``s3``); the S3 store reads
FIELDWORK_S3_ENDPOINT, FIELDWORK_S3_BUCKET, FIELDWORK_S3_ACCESS_KEY, FIELDWORK_S3_SECRET_KEY,
FIELDWORK_S3_REGION and FIELDWORK_S3_PREFIX (each also settable in the app config without the
``FIELDWORK_`` prefix, e.g. ``S3_BUCKET``). The S3 store needs boto3 (``pip install
'fieldwork[s3]'``).

Both stores write atomically: LocalStore through a temporary file, fsync and rename; an S3 PUT
is atomic by itself (the object appears whole or not at all) and carries Content-MD5, so the
store rejects bytes damaged on the way. A crash never leaves half a photo behind.

Photos are personal data: LocalStore creates its directories 0700 and its files 0600 (owner
only, whatever the umask), so another account on the machine cannot read them.

Backup and restore (fieldwork/backup.py) go through the same interface (``keys``, ``get``,
``put``), so they work the same whichever store is configured.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from flask import current_app

from fieldwork.config import ConfigError

STORE_KINDS = ("local", "s3")
HEALTH_KEY = ".healthz"


DIR_MODE = 0o700
FILE_MODE = 0o600


class PhotoStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def check(self) -> None: ...
    def keys(self) -> Iterator[str]: ...
    def describe(self) -> str: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError("photo key escapes the store")
    return key


def make_private_dirs(directory: str | os.PathLike[str]) -> None:
    """Create directory and any missing parents, each owner-only (0700); directories that
    already exist are left as they are."""
    directory = Path(directory)
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)  # exactly 0700, whatever the umask


class LocalStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("photo key escapes the store")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        make_private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            os.fchmod(fd, FILE_MODE)  # mkstemp's 0600 today; said here so it stays so
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return path.read_bytes() if path.exists() else None

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def check(self) -> None:
        """Raise OSError unless the store can be written (for /healthz)."""
        make_private_dirs(self.root)
        self.put(HEALTH_KEY, b"ok")

    def keys(self) -> Iterator[str]:
        """Every stored photo key (no temporary files, no health marker), sorted."""
        if not self.root.exists():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                yield path.relative_to(self.root).as_posix()

    def describe(self) -> str:
        return str(self.root)


class S3Store:
    """Photos as objects in one bucket of an S3-compatible store, under an optional prefix.

    The client is created once per store (per worker process: gunicorn runs with
    preload_app off); boto3 clients are safe to share between a worker's threads."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None,
                 region: str | None = None, prefix: str = "", client: Any = None) -> None:
        if not bucket:
            raise ValueError("S3 bucket is empty")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise RuntimeError(
                    "FIELDWORK_PHOTO_STORE=s3 needs boto3: pip install 'fieldwork[s3]'"
                ) from exc
            config = Config(
                connect_timeout=5, read_timeout=30,
                retries={"max_attempts": 4, "mode": "standard"},
                # Path-style addressing works with MinIO and other self-hosted stores that
                # have no wildcard DNS for bucket sub-domains.
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                # boto3 ≥ 1.36 adds CRC checksums that some S3-compatible stores reject;
                # Content-MD5 below guards the bytes instead.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            session = boto3.session.Session()
            client = session.client(
                "s3", endpoint_url=endpoint_url or None, aws_access_key_id=access_key or None,
                aws_secret_access_key=secret_key or None, region_name=region or "us-east-1",
                config=config)
        self.client = client

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    @staticmethod
    def _missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in ("404", "NoSuchKey", "NotFound") or status == 404

    def put(self, key: str, data: bytes) -> None:
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                               ContentType="image/jpeg", ContentMD5=md5)

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise
        with response["Body"] as body:
            return body.read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if self._missing(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def check(self) -> None:
        """Raise unless an object can be written and read back (for /healthz)."""
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + HEALTH_KEY, Body=b"ok")
        self.client.head_object(Bucket=self.bucket, Key=self.prefix + HEALTH_KEY)

    def keys(self) -> Iterator[str]:
        """Every stored photo key under the prefix (not the health marker), sorted."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix):]
                if not key.rsplit("/", 1)[-1].startswith("."):
                    yield key

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def _setting(config: Mapping[str, Any], name: str) -> str:
    """app.config[name], else the environment's FIELDWORK_<name>, else ''."""
    value = config.get(name)
    if value is None or value == "":
        value = os.environ.get(f"FIELDWORK_{name}", "")
    return str(value).strip()


def build_store(config: Mapping[str, Any]) -> PhotoStore:
    """The store the configuration asks for; raises ConfigError with what to fix."""
    kind = (_setting(config, "PHOTO_STORE") or "local").lower()
    if kind not in STORE_KINDS:
        raise ConfigError(f"FIELDWORK_PHOTO_STORE 只能是 local 或 s3，而不是 {kind!r}")
    if kind == "local":
        return LocalStore(config["PHOTO_DIR"])
    bucket = _setting(config, "S3_BUCKET")
    if not bucket:
        raise ConfigError("FIELDWORK_PHOTO_STORE=s3 时必须设置 FIELDWORK_S3_BUCKET（存储桶名）")
    access, secret = _setting(config, "S3_ACCESS_KEY"), _setting(config, "S3_SECRET_KEY")
    if bool(access) != bool(secret):
        raise ConfigError("FIELDWORK_S3_ACCESS_KEY 与 FIELDWORK_S3_SECRET_KEY 须同时设置")
    try:
        return S3Store(bucket, endpoint_url=_setting(config, "S3_ENDPOINT"), access_key=access,
                       secret_key=secret, region=_setting(config, "S3_REGION"),
                       prefix=_setting(config, "S3_PREFIX"))
    except RuntimeError as exc:
        raise ConfigError(str(exc)) from None


def photo_store() -> PhotoStore:
    ext = current_app.extensions
    if "fieldwork_photo_store" not in ext:
        ext["fieldwork_photo_store"] = build_store(current_app.config)
    return ext["fieldwork_photo_store"]


def photo_key(photo_id: str) -> str:
    return f"{photo_id[:2]}/{photo_id}.jpg"


def thumb_key(photo_id: str) -> str:
    return f"{photo_id[:2]}/{photo_id}.thumb.jpg"

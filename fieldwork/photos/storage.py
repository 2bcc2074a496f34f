"""Where photo bytes live. Local directory by default; files are written atomically
(temporary file, fsync, rename) so a crash never leaves half a photo behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from flask import current_app


class PhotoStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def check(self) -> None: ...


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
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
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
        self.root.mkdir(parents=True, exist_ok=True)
        self.put(".healthz", b"ok")


def photo_store() -> PhotoStore:
    ext = current_app.extensions
    if "fieldwork_photo_store" not in ext:
        ext["fieldwork_photo_store"] = LocalStore(current_app.config["PHOTO_DIR"])
    return ext["fieldwork_photo_store"]


def photo_key(photo_id: str) -> str:
    return f"{photo_id[:2]}/{photo_id}.jpg"


def thumb_key(photo_id: str) -> str:
    return f"{photo_id[:2]}/{photo_id}.thumb.jpg"

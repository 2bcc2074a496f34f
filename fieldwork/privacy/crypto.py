"""Field-level encryption (Fernet) and blind indexes (HMAC-SHA256) for sensitive values.

Sensitive columns (e.g. identity numbers) are stored as Fernet tokens, which are randomised, so
equality lookups use a separate *blind index*: ``HMAC-SHA256(index_key, normalised value)``.

Keys:

* The Fernet key(s) encrypt. Pass several (a list, or one comma-separated string) to rotate:
  the first encrypts, all decrypt, and :meth:`FieldCipher.rotate` re-encrypts old tokens.
* ``index_key`` must stay fixed for the life of the data: changing it means recomputing every
  blind index. If a deployer configures only one secret, derive the index key from it with
  :func:`derive_index_key` (HKDF-SHA256, ``info=b"fieldwork-blind-index"``), which is
  cryptographically independent of the Fernet key itself. When rotating Fernet keys in that
  set-up, keep deriving the index key from the *original* secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "BLIND_INDEX_INFO",
    "DecryptionError",
    "FieldCipher",
    "derive_index_key",
    "generate_key",
    "load_or_create_key_file",
    "split_keys",
]

BLIND_INDEX_INFO = b"fieldwork-blind-index"
_MIN_INDEX_KEY_BYTES = 16


class DecryptionError(Exception):
    """A token could not be decrypted: wrong key, tampered or not a Fernet token."""


def generate_key() -> str:
    """Return a new random Fernet key as text."""
    return Fernet.generate_key().decode("ascii")


def split_keys(keys: str | Sequence[str]) -> list[str]:
    """Return the non-empty keys from a list or a comma/whitespace-separated string."""
    if isinstance(keys, str):
        keys = keys.replace(",", " ").split()
    return [k.strip() for k in keys if k and k.strip()]


def _fernet(key: str, position: int) -> Fernet:
    """Build a Fernet from key, raising ValueError that does not echo the key."""
    try:
        return Fernet(key.encode("ascii"))
    except (ValueError, UnicodeEncodeError, TypeError):
        raise ValueError(
            f"Fernet key #{position + 1} is invalid (expected 32 url-safe base64-encoded bytes)"
        ) from None


class FieldCipher:
    """Encrypt/decrypt text fields with (Multi)Fernet and compute HMAC blind indexes."""

    def __init__(self, keys: str | Sequence[str], index_key: bytes) -> None:
        """Use keys (first encrypts, all decrypt) and index_key (>= 16 bytes) for blind indexes."""
        key_list = split_keys(keys)
        if not key_list:
            raise ValueError("at least one Fernet key is required")
        if not isinstance(index_key, bytes | bytearray) or len(index_key) < _MIN_INDEX_KEY_BYTES:
            raise ValueError(f"index_key must be at least {_MIN_INDEX_KEY_BYTES} bytes")
        self._fernet = MultiFernet([_fernet(k, i) for i, k in enumerate(key_list)])
        self._key_count = len(key_list)
        self._index_key = bytes(index_key)

    def __repr__(self) -> str:
        """Return a representation that never reveals key material."""
        return f"<FieldCipher keys={self._key_count}>"

    def encrypt(self, plain: str) -> str:
        """Encrypt text with the primary key and return the Fernet token as text."""
        if not isinstance(plain, str):
            raise TypeError("encrypt() expects str")
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a token made with any configured key or raise DecryptionError."""
        try:
            return self._fernet.decrypt(_token_bytes(token)).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError) as exc:
            raise DecryptionError("cannot decrypt field: wrong key or corrupted token") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the primary key or raise DecryptionError."""
        try:
            return self._fernet.rotate(_token_bytes(token)).decode("ascii")
        except InvalidToken as exc:
            raise DecryptionError("cannot rotate field: wrong key or corrupted token") from exc

    def blind_index(self, value: str) -> str:
        """Return hex HMAC-SHA256 of the stripped, upper-cased value for equality lookups."""
        if not isinstance(value, str):
            raise TypeError("blind_index() expects str")
        normalised = value.strip().upper().encode("utf-8")
        return hmac.new(self._index_key, normalised, hashlib.sha256).hexdigest()


def _token_bytes(token: str) -> bytes:
    """Return token as ASCII bytes, raising DecryptionError for anything that cannot be one."""
    if isinstance(token, bytes):
        return token
    if not isinstance(token, str):
        raise DecryptionError("token must be str")
    try:
        return token.strip().encode("ascii")
    except UnicodeEncodeError:
        raise DecryptionError("token is not a Fernet token") from None


def derive_index_key(master: str) -> bytes:
    """Derive a 32-byte blind-index key from master with HKDF-SHA256 (see module docstring)."""
    if not master:
        raise ValueError("master secret must not be empty")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=BLIND_INDEX_INFO)
    return hkdf.derive(master.encode("utf-8"))


def load_or_create_key_file(path: Path) -> str:
    """Return the Fernet key stored at path, creating it (mode 0600, atomically) if missing."""
    path = Path(path)
    if path.exists():
        return _read_key_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(generate_key() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            # Publish without clobbering: if another process created the key first, use theirs,
            # so concurrent first starts (several workers) can never end up with different keys.
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            # Filesystems without hard links: fall back to an atomic rename.
            if not path.exists():
                os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key_file(path)


def _read_key_file(path: Path) -> str:
    """Read and check a key file; never silently replace a damaged key (data would be lost)."""
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise ValueError(f"key file {path} is empty; restore it from backup")
    for position, single in enumerate(split_keys(key)):
        _fernet(single, position)
    return key

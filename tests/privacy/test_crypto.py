"""Tests for fieldwork.privacy.crypto (Fernet field encryption, blind index, key files)."""

import base64
import hashlib
import hmac
import os
import stat
import threading

import pytest
from cryptography.fernet import Fernet

from fieldwork.privacy.crypto import (
    BLIND_INDEX_INFO,
    DecryptionError,
    FieldCipher,
    derive_index_key,
    generate_key,
    load_or_create_key_file,
    split_keys,
)

INDEX_KEY = b"0123456789abcdef0123456789abcdef"
CHINESE = "张三，河南省南阳市宛城区仲景街道；身份证号 411302199001011234 ✓"


@pytest.fixture
def key():
    return generate_key()


@pytest.fixture
def cipher(key):
    return FieldCipher(key, INDEX_KEY)


def test_generate_key_is_valid_fernet_key():
    key = generate_key()
    assert isinstance(key, str)
    assert len(base64.urlsafe_b64decode(key)) == 32
    Fernet(key)  # does not raise
    assert generate_key() != key


def test_round_trip_chinese_text(cipher):
    token = cipher.encrypt(CHINESE)
    assert isinstance(token, str)
    assert CHINESE not in token
    assert "411302199001011234" not in token
    assert cipher.decrypt(token) == CHINESE


def test_round_trip_empty_string(cipher):
    assert cipher.decrypt(cipher.encrypt("")) == ""


def test_token_is_plain_fernet(cipher, key):
    token = cipher.encrypt("abc")
    assert Fernet(key).decrypt(token.encode()) == b"abc"


def test_tokens_differ_for_same_plaintext(cipher):
    tokens = {cipher.encrypt("411302199001011234") for _ in range(5)}
    assert len(tokens) == 5
    assert all(cipher.decrypt(t) == "411302199001011234" for t in tokens)


def test_wrong_key_raises_decryption_error(cipher):
    token = cipher.encrypt(CHINESE)
    other = FieldCipher(generate_key(), INDEX_KEY)
    with pytest.raises(DecryptionError):
        other.decrypt(token)


@pytest.mark.parametrize("bad", ["", "not-a-token", "gAAAAABtotallybogus", "令牌", 42, None])
def test_garbage_token_raises_decryption_error(cipher, bad):
    with pytest.raises(DecryptionError):
        cipher.decrypt(bad)


def test_tampered_token_raises_decryption_error(cipher):
    raw = bytearray(base64.urlsafe_b64decode(cipher.encrypt("hello")))
    raw[-40] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt(base64.urlsafe_b64encode(bytes(raw)).decode())


def test_decrypt_tolerates_surrounding_whitespace(cipher):
    assert cipher.decrypt(" " + cipher.encrypt("x") + "\n") == "x"


def test_encrypt_requires_str(cipher):
    with pytest.raises(TypeError):
        cipher.encrypt(b"bytes")  # type: ignore[arg-type]


def test_key_rotation_with_multifernet():
    old_key, new_key = generate_key(), generate_key()
    old = FieldCipher(old_key, INDEX_KEY)
    old_token = old.encrypt(CHINESE)

    rotated = FieldCipher([new_key, old_key], INDEX_KEY)
    assert rotated.decrypt(old_token) == CHINESE  # old key still decrypts

    new_token = rotated.rotate(old_token)
    assert new_token != old_token
    assert rotated.decrypt(new_token) == CHINESE
    # The rotated token is under the new key only.
    assert FieldCipher(new_key, INDEX_KEY).decrypt(new_token) == CHINESE
    with pytest.raises(DecryptionError):
        old.decrypt(new_token)

    # New encryptions use the first key.
    fresh = rotated.encrypt("新数据")
    assert FieldCipher(new_key, INDEX_KEY).decrypt(fresh) == "新数据"
    with pytest.raises(DecryptionError):
        old.decrypt(fresh)


def test_rotate_unknown_token_raises():
    cipher = FieldCipher([generate_key(), generate_key()], INDEX_KEY)
    foreign = FieldCipher(generate_key(), INDEX_KEY).encrypt("x")
    with pytest.raises(DecryptionError):
        cipher.rotate(foreign)
    with pytest.raises(DecryptionError):
        cipher.rotate("garbage")


def test_comma_separated_key_string():
    old_key, new_key = generate_key(), generate_key()
    token = FieldCipher(old_key, INDEX_KEY).encrypt("旧")
    cipher = FieldCipher(f"{new_key}, {old_key}", INDEX_KEY)
    assert cipher.decrypt(token) == "旧"
    assert FieldCipher(new_key, INDEX_KEY).decrypt(cipher.encrypt("新")) == "新"
    assert split_keys(f" {new_key},{old_key} ") == [new_key, old_key]
    assert split_keys([new_key, "", " "]) == [new_key]


@pytest.mark.parametrize("keys", ["", [], "   ", ["", " "]])
def test_no_keys_rejected(keys):
    with pytest.raises(ValueError):
        FieldCipher(keys, INDEX_KEY)


def test_invalid_key_rejected_without_echoing_it():
    bad = "this-is-not-a-valid-fernet-key"
    with pytest.raises(ValueError) as info:
        FieldCipher(bad, INDEX_KEY)
    assert bad not in str(info.value)
    with pytest.raises(ValueError, match="#2"):
        FieldCipher([generate_key(), "短"], INDEX_KEY)


@pytest.mark.parametrize("index_key", [b"", b"short", "a string, not bytes" * 3, None])
def test_bad_index_key_rejected(key, index_key):
    with pytest.raises(ValueError):
        FieldCipher(key, index_key)


def test_repr_hides_keys(key):
    cipher = FieldCipher(key, INDEX_KEY)
    assert key not in repr(cipher)
    assert INDEX_KEY.decode() not in repr(cipher)


def test_blind_index_deterministic_and_matches_hmac(cipher):
    value = "411302199001011234"
    digest = cipher.blind_index(value)
    assert digest == cipher.blind_index(value)
    assert digest == hmac.new(INDEX_KEY, value.encode(), hashlib.sha256).hexdigest()
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert value not in digest


def test_blind_index_independent_of_fernet_key():
    a = FieldCipher(generate_key(), INDEX_KEY)
    b = FieldCipher(generate_key(), INDEX_KEY)
    assert a.blind_index("11010519491231002X") == b.blind_index("11010519491231002X")


def test_blind_index_depends_on_index_key(key):
    a = FieldCipher(key, INDEX_KEY)
    b = FieldCipher(key, b"another-index-key-of-32-bytes!!!")
    assert a.blind_index("11010519491231002X") != b.blind_index("11010519491231002X")


def test_blind_index_normalises_case_and_whitespace(cipher):
    expected = cipher.blind_index("11010519491231002X")
    assert cipher.blind_index("11010519491231002x") == expected
    assert cipher.blind_index("  11010519491231002X\n") == expected
    assert cipher.blind_index("11010519491231002Y") != expected
    assert cipher.blind_index("张三") == cipher.blind_index(" 张三 ")


def test_blind_index_requires_str(cipher):
    with pytest.raises(TypeError):
        cipher.blind_index(None)  # type: ignore[arg-type]


def test_derive_index_key():
    master = generate_key()
    derived = derive_index_key(master)
    assert isinstance(derived, bytes) and len(derived) == 32
    assert derived == derive_index_key(master)
    assert derived != derive_index_key(generate_key())
    assert derived != base64.urlsafe_b64decode(master)
    assert BLIND_INDEX_INFO == b"fieldwork-blind-index"
    # Usable directly as the blind-index key alongside the same master as Fernet key.
    cipher = FieldCipher(master, derived)
    assert cipher.decrypt(cipher.encrypt("x")) == "x"
    assert cipher.blind_index("x") == FieldCipher(master, derive_index_key(master)).blind_index("x")


def test_derive_index_key_rfc5869_structure():
    # HKDF-SHA256 with no salt: PRK = HMAC(0^32, IKM); OKM = HMAC(PRK, info || 0x01)[:32].
    master = "secret"
    prk = hmac.new(b"\x00" * 32, master.encode(), hashlib.sha256).digest()
    okm = hmac.new(prk, BLIND_INDEX_INFO + b"\x01", hashlib.sha256).digest()
    assert derive_index_key(master) == okm


def test_derive_index_key_rejects_empty():
    with pytest.raises(ValueError):
        derive_index_key("")


def test_key_file_created_once_with_0600(tmp_path):
    path = tmp_path / "instance" / "nested" / "field_key"
    key = load_or_create_key_file(path)
    assert path.exists()
    Fernet(key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().strip() == key
    # Reused, not regenerated.
    assert load_or_create_key_file(path) == key
    assert load_or_create_key_file(path) == key
    # No temp files left behind.
    assert [p.name for p in path.parent.iterdir()] == ["field_key"]


def test_key_file_mode_ignores_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "field_key"
        load_or_create_key_file(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_existing_key_file_is_read_and_stripped(tmp_path):
    path = tmp_path / "field_key"
    key = generate_key()
    path.write_text(f"  {key}\n\n")
    assert load_or_create_key_file(path) == key


def test_existing_key_file_accepts_rotation_list(tmp_path):
    path = tmp_path / "field_key"
    keys = f"{generate_key()},{generate_key()}"
    path.write_text(keys + "\n")
    assert load_or_create_key_file(path) == keys


@pytest.mark.parametrize("content", ["", "   \n", "garbage"])
def test_damaged_key_file_is_not_silently_replaced(tmp_path, content):
    path = tmp_path / "field_key"
    path.write_text(content)
    with pytest.raises(ValueError):
        load_or_create_key_file(path)
    assert path.read_text() == content


def test_concurrent_first_start_agrees_on_one_key(tmp_path):
    path = tmp_path / "field_key"
    results = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        results.append(load_or_create_key_file(path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert len(set(results)) == 1
    assert path.read_text().strip() == results[0]
    assert [p.name for p in tmp_path.iterdir()] == ["field_key"]


def test_key_file_accepts_str_path(tmp_path):
    key = load_or_create_key_file(str(tmp_path / "k"))  # type: ignore[arg-type]
    assert load_or_create_key_file(tmp_path / "k") == key

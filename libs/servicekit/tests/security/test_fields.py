"""Keyring, blind index and normalization (no database)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from servicekit.security.fields import (
    EncryptedString,
    FieldDecryptionError,
    Keyring,
    KeyringNotConfiguredError,
    blind_index,
    configure_keyring,
    get_keyring,
    keyring_from_settings,
    normalize_email,
    normalize_phone,
    normalize_telegram_chat_id,
)
from servicekit.settings import DEV_FIELD_KEY, ServiceSettings
from sqlalchemy import Column, Integer, MetaData, Table, Text, select, type_coerce

BLIND = "test-blind-index-key-0123456789"


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = configure_keyring(None)
    yield
    configure_keyring(previous)


def test_keyring_roundtrip_and_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ring_old = Keyring([old], BLIND)
    token = ring_old.encrypt("тревога, бессонница")
    assert "тревога" not in token
    assert ring_old.decrypt(token) == "тревога, бессонница"
    assert ring_old.encrypt("x") != ring_old.encrypt("x")  # randomized

    ring = Keyring([new, old], BLIND)
    assert ring.decrypt(token) == "тревога, бессонница"  # old key still decrypts
    assert not ring.is_current(token)
    rotated = ring.rotate(token)
    assert ring.is_current(rotated)
    assert Keyring([new], BLIND).decrypt(rotated) == "тревога, бессонница"
    with pytest.raises(FieldDecryptionError):
        Keyring([new], BLIND).decrypt(token)
    with pytest.raises(FieldDecryptionError):
        ring.decrypt("not-a-token")
    assert old not in repr(ring)


def test_keyring_key_formats() -> None:
    raw = bytes(range(251, 256)) + bytes(27)  # encodes with '+' / '/' in standard base64
    standard = base64.b64encode(raw).decode()
    assert "+" in standard or "/" in standard
    a = Keyring([standard], BLIND)
    b = Keyring([base64.urlsafe_b64encode(raw).decode().rstrip("=")], BLIND)
    assert b.decrypt(a.encrypt("same key")) == "same key"
    Keyring([DEV_FIELD_KEY], BLIND)
    for bad in ("", "short", base64.b64encode(b"x" * 31).decode(), "!!!!" * 11):
        with pytest.raises(ValueError, match="Fernet key"):
            Keyring([bad], BLIND)
    with pytest.raises(ValueError, match="at least one"):
        Keyring([], BLIND)
    with pytest.raises(TypeError):
        Keyring(DEV_FIELD_KEY, BLIND)
    with pytest.raises(ValueError, match="blind-index"):
        Keyring([DEV_FIELD_KEY], "short")


def test_keyring_from_settings() -> None:
    ring = keyring_from_settings(ServiceSettings(environment="development"))
    assert ring.decrypt(ring.encrypt("ok")) == "ok"


def test_get_keyring_unconfigured(no_keyring: None) -> None:
    with pytest.raises(KeyringNotConfiguredError, match="configure_keyring"):
        get_keyring()
    with pytest.raises(KeyringNotConfiguredError):
        blind_index("a@b.co", kind="email")


def test_blind_index() -> None:
    ring = Keyring([DEV_FIELD_KEY], BLIND)
    a = blind_index("alice@example.com", kind="email", keyring=ring)
    assert a == blind_index("  Alice@Example.COM ", kind="email", keyring=ring)
    assert len(a) == 64
    int(a, 16)
    assert a != blind_index("alice@example.org", kind="email", keyring=ring)
    other = Keyring([DEV_FIELD_KEY], BLIND + "x")
    assert a != blind_index("alice@example.com", kind="email", keyring=other)
    p = blind_index("8 (916) 123-45-67", kind="phone", keyring=ring)
    assert p == blind_index("+7 916 123 45 67", kind="phone", keyring=ring)
    with pytest.raises(ValueError, match="kind"):
        blind_index("x", kind="name", keyring=ring)


def test_blind_index_of_telegram_chat_ids() -> None:
    ring = Keyring([DEV_FIELD_KEY], BLIND)
    chat = blind_index("123456789", kind="telegram_chat", keyring=ring)
    assert len(chat) == 64 and "123456789" not in chat
    assert chat == blind_index(" 0123456789", kind="telegram_chat", keyring=ring)
    assert chat != blind_index("-123456789", kind="telegram_chat", keyring=ring)
    assert chat != blind_index("123456788", kind="telegram_chat", keyring=ring)
    # the kind separates domains: the same digits as a phone number index differently
    assert blind_index("+79161234567", kind="phone", keyring=ring) != blind_index(
        "79161234567", kind="telegram_chat", keyring=ring
    )
    with pytest.raises(ValueError, match="Telegram chat id"):
        blind_index("@someone", kind="telegram_chat", keyring=ring)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM ", "alice@example.com"),
        ("ÁNNA@Пример.рф", "ánna@пример.рф"),
        ("a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "alice",
        "@example.com",
        "alice@",
        "a@b@c.com",
        "alice@localhost",
        "a b@c.com",
        "alice@example..com",
        "alice@-x.com",
        "alice@example.com\n.x",
        "<a@b.com>",
    ],
)
def test_normalize_email_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="email"):
        normalize_email(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+7 916 123-45-67", "+79161234567"),
        ("8 (916) 123-45-67", "+79161234567"),
        ("89161234567", "+79161234567"),
        ("7.916.123.45.67", "+79161234567"),
        ("+7 (916) 123 45 67", "+79161234567"),
        ("  +44 20 7946 0958 ", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+1-202-555-0143", "+12025550143"),
        ("+49\u00a030\u00a0123456", "+4930123456"),
        ("+123456789012345", "+123456789012345"),
    ],
)
def test_normalize_phone(raw: str, expected: str) -> None:
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "+",
        "12345",
        "+1234567",
        "+1234567890123456",
        "+7 916 ABC 45 67",
        "phone",
        "+7 916 123 45 67 ext 5",
        "++79161234567",
        "7+9161234567",
        "+0 123 456 789",
        "+٧٩١٦١٢٣٤٥٦٧",
    ],
)
def test_normalize_phone_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        normalize_phone(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("123456789", "123456789"),
        (" 42 ", "42"),
        ("0042", "42"),
        ("-1001234567890", "-1001234567890"),
        (str(2**63 - 1), str(2**63 - 1)),
        (str(-(2**63)), str(-(2**63))),
    ],
)
def test_normalize_telegram_chat_id(raw: str, expected: str) -> None:
    assert normalize_telegram_chat_id(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", " ", "0", "-0", "+42", "4 2", "42a", "0x2a", "1e9", "--1", "٤٢", str(2**63), "9" * 20],
)
def test_normalize_telegram_chat_id_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="Telegram chat id"):
        normalize_telegram_chat_id(raw)


def test_normalize_telegram_chat_id_wants_a_string() -> None:
    with pytest.raises(TypeError):
        normalize_telegram_chat_id(42)  # type: ignore[arg-type]


def test_encrypted_column_refuses_sql_comparison() -> None:
    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("e", EncryptedString)
    )
    for build in (
        lambda: table.c.e == "x",
        lambda: table.c.e != "x",
        lambda: table.c.e.in_(["x"]),
        lambda: table.c.e.like("x%"),
    ):
        with pytest.raises(TypeError, match="blind index"):
            build()
    assert "IS NULL" in str(select(table).where(table.c.e.is_(None)))
    assert "IS NOT NULL" in str(select(table).where(table.c.e != None))  # noqa: E711
    assert "t.e =" in str(select(table).where(type_coerce(table.c.e, Text) == "raw"))

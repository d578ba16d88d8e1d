"""Field-level encryption of P2 data (health-related and personal) and keyed blind indexes.

* :class:`Keyring` holds the Fernet keys (newest first: the first encrypts, all decrypt) and the
  blind-index HMAC key. The service configures one process-wide keyring at startup::

      configure_keyring(keyring_from_settings(settings))

* :class:`EncryptedString` is a column type that stores Fernet ciphertext and gives plaintext back::

      class Intake(SQLModel, table=True):
          answers: str = Field(sa_type=EncryptedString)
          email: str = Field(sa_type=EncryptedString)
          email_index: str = Field(sa_type=String(64), index=True)

  Ciphertext is randomized, so the column can't be compared in SQL (``==``, ``LIKE``, ``IN``
  raise ``TypeError``; ``IS NULL`` works). Look rows up through a blind index instead::

      select(User).where(User.email_index == blind_index(email, kind="email"))

* :func:`blind_index` is ``hex(HMAC-SHA256(blind_key, kind + ":" + normalized value))``.

Key rotation: put a new key first (``FIELD_KEYS=new,old``), deploy, run
:func:`servicekit.security.rotation.reencrypt_all`, then drop the old key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import operator
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from servicekit.settings import ServiceSettings

__all__ = [
    "BLIND_INDEX_LENGTH",
    "EncryptedString",
    "FieldDecryptionError",
    "Keyring",
    "KeyringNotConfiguredError",
    "blind_index",
    "configure_keyring",
    "get_keyring",
    "keyring_from_settings",
    "normalize_email",
    "normalize_phone",
    "normalize_telegram_chat_id",
]

#: Length of a :func:`blind_index` value (hex SHA-256); size the index column ``String(64)``.
BLIND_INDEX_LENGTH = 64

BlindIndexKind = Literal["email", "phone", "telegram_chat"]

_MIN_BLIND_KEY_LENGTH = 16


class FieldDecryptionError(ValueError):
    """A stored value could not be decrypted with any key of the keyring.

    The message never contains the ciphertext or plaintext.
    """


class KeyringNotConfiguredError(RuntimeError):
    """:func:`get_keyring` was called before :func:`configure_keyring`."""


def _fernet_key(key: str, index: int) -> bytes:
    """Normalize a urlsafe (or standard) base64 encoding of 32 bytes to Fernet's key form."""
    if not isinstance(key, str):
        raise TypeError(f"field key #{index} must be a string")
    text = key.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            f"field key #{index} is not a valid Fernet key (base64 of exactly 32 bytes)"
        )
    return base64.urlsafe_b64encode(raw)


class Keyring:
    """Fernet keys (newest first) plus the blind-index key.

    The first Fernet key encrypts; every key decrypts, so data written under an older key stays
    readable during a rotation. ``repr`` never shows key material.
    """

    __slots__ = ("_blind_key", "_count", "_fernet", "_primary")

    def __init__(self, fernet_keys: Sequence[str], blind_index_key: str) -> None:
        if isinstance(fernet_keys, str):
            raise TypeError("fernet_keys must be a sequence of keys, not one string")
        if not fernet_keys:
            raise ValueError("a Keyring needs at least one Fernet key")
        fernets = [Fernet(_fernet_key(k, i)) for i, k in enumerate(fernet_keys)]
        if not blind_index_key or len(blind_index_key) < _MIN_BLIND_KEY_LENGTH:
            raise ValueError(
                f"the blind-index key must be at least {_MIN_BLIND_KEY_LENGTH} characters"
            )
        self._primary = fernets[0]
        self._count = len(fernets)
        self._fernet = MultiFernet(fernets)
        self._blind_key = blind_index_key.encode("utf-8")

    def __repr__(self) -> str:
        return f"<Keyring with {self._count} field key(s)>"

    @property
    def multifernet(self) -> MultiFernet:
        """The underlying :class:`~cryptography.fernet.MultiFernet`."""
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext`` under the newest key; returns the Fernet token as text."""
        if not isinstance(plaintext, str):
            raise TypeError(f"only str can be encrypted, not {type(plaintext).__name__}")
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt a Fernet token with whichever key fits; :class:`FieldDecryptionError` if none."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, AttributeError):
            raise FieldDecryptionError(
                "an encrypted field could not be decrypted with any configured key"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key (the plaintext is unchanged)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, AttributeError):
            raise FieldDecryptionError(
                "an encrypted field could not be decrypted with any configured key"
            ) from None

    def is_current(self, token: str) -> bool:
        """True when ``token`` is already encrypted under the newest key."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError, AttributeError):
            return False
        return True

    def blind_index(self, value: str, *, kind: BlindIndexKind) -> str:
        """Keyed blind index of ``value`` under this keyring; see :func:`blind_index`."""
        normalizer = _NORMALIZERS.get(kind)
        if normalizer is None:
            raise ValueError(f"unknown blind index kind {kind!r}")
        message = f"{kind}:{normalizer(value)}".encode()
        return hmac.new(self._blind_key, message, hashlib.sha256).hexdigest()


_keyring: Keyring | None = None


def configure_keyring(keyring: Keyring | None) -> Keyring | None:
    """Install the process-wide keyring (``None`` removes it); returns the previous one."""
    global _keyring
    previous, _keyring = _keyring, keyring
    return previous


def get_keyring() -> Keyring:
    """The process-wide keyring; raises :class:`KeyringNotConfiguredError` if none is set."""
    if _keyring is None:
        raise KeyringNotConfiguredError(
            "no field-encryption keyring configured: call "
            "configure_keyring(keyring_from_settings(settings)) at startup"
        )
    return _keyring


def keyring_from_settings(settings: ServiceSettings) -> Keyring:
    """A :class:`Keyring` from ``settings.field_keys`` and ``settings.blind_index_key``."""
    return Keyring(settings.field_keys, settings.blind_index_key)


# -- column type ----------------------------------------------------------------------------

# Comparisons that would silently never match on randomized ciphertext.
_REFUSED_OPERATORS = frozenset(
    {
        operator.eq,
        operator.ne,
        operator.lt,
        operator.le,
        operator.gt,
        operator.ge,
        operators.like_op,
        operators.ilike_op,
        operators.not_like_op,
        operators.not_ilike_op,
        operators.in_op,
        operators.not_in_op,
        operators.between_op,
        operators.not_between_op,
        operators.contains_op,
        operators.startswith_op,
        operators.endswith_op,
        operators.regexp_match_op,
    }
)


def _check_operator(op: Any, other: tuple[Any, ...]) -> None:
    if op in (operator.eq, operator.ne) and other and other[0] is None:
        return  # col == None / col != None become IS [NOT] NULL
    if op in _REFUSED_OPERATORS:
        raise TypeError(
            "an EncryptedString column cannot be compared in SQL (its ciphertext is "
            "randomized); look rows up by a blind index column instead"
        )


class EncryptedString(TypeDecorator[str]):
    """Text column holding a Fernet token; Python sees the plaintext ``str``.

    Encrypts on bind and decrypts on load with the process-wide keyring (:func:`get_keyring`);
    ``None`` stays ``None`` (SQL NULL). Use ``Field(sa_type=EncryptedString)`` in SQLModel or
    ``Column(EncryptedString)`` in Core.
    """

    impl = Text
    cache_ok = True

    class Comparator(TypeDecorator.Comparator[str]):
        """Refuses comparisons that cannot work on ciphertext."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            """Apply ``op`` unless it is a value comparison (``IS [NOT] NULL`` is allowed)."""
            _check_operator(op, other)
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            """Reflected form of :meth:`operate`."""
            _check_operator(op, (other,))
            return super().reverse_operate(op, other, **kwargs)

    # SQLAlchemy reads ``comparator_factory``; TypeDecorator defines it as a property.
    comparator_factory = Comparator

    @property
    def python_type(self) -> type[str]:
        """``str``."""
        return str

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Encrypt ``value`` for storage."""
        if value is None:
            return None
        return get_keyring().encrypt(value)

    def process_result_value(self, value: Any | None, dialect: Dialect) -> str | None:
        """Decrypt a stored token."""
        if value is None:
            return None
        return get_keyring().decrypt(value)

    def process_literal_param(self, value: str | None, dialect: Dialect) -> str:
        """Refused: ciphertext must never be rendered inline into SQL text."""
        raise TypeError("EncryptedString values cannot be rendered as SQL literals")


# -- blind index ----------------------------------------------------------------------------

_EMAIL_FORBIDDEN = re.compile(r'[\s()<>\[\]\\,;:"]')
_PHONE_SEPARATORS = re.compile(r"[\s\-.()\u00a0\u2010-\u2015]")


def normalize_email(value: str) -> str:
    """Canonical form of an email address for indexing: trimmed, NFC, case-folded.

    Raises ``ValueError`` when it is clearly not an address (no single ``@``, empty local part,
    a domain without a dot, spaces or forbidden characters, longer than 254).
    """
    if not isinstance(value, str):
        raise TypeError("an email address must be a string")
    email = unicodedata.normalize("NFC", value.strip()).casefold()
    if not email or len(email) > 254 or email.count("@") != 1:
        raise ValueError("not a valid email address")
    local, domain = email.split("@")
    labels = domain.split(".")
    if (
        not local
        or len(local) > 64
        or _EMAIL_FORBIDDEN.search(email)
        or not email.isprintable()
        or len(labels) < 2
        or any(not label or len(label) > 63 for label in labels)
        or any(label.startswith("-") or label.endswith("-") for label in labels)
    ):
        raise ValueError("not a valid email address")
    return email


def normalize_phone(value: str) -> str:
    """Canonical E.164 form (``+`` and 8–15 digits) of a phone number, for indexing.

    Spaces, dashes, dots and parentheses are dropped. ``+`` keeps the number as given; a
    Russian trunk-prefixed ``8XXXXXXXXXX`` (11 digits) becomes ``+7XXXXXXXXXX``; ``00`` is the
    international prefix; other digits without ``+`` are read as an international number.
    Raises ``ValueError`` otherwise (letters, extensions, wrong length, country code ``0``).
    """
    if not isinstance(value, str):
        raise TypeError("a phone number must be a string")
    compact = _PHONE_SEPARATORS.sub("", value.strip())
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("not a valid phone number")
    if not plus:
        if len(digits) == 11 and digits.startswith("8"):
            digits = "7" + digits[1:]
        elif digits.startswith("00"):
            digits = digits[2:]
    if not 8 <= len(digits) <= 15 or digits.startswith("0"):
        raise ValueError("not a valid phone number")
    return "+" + digits


_TELEGRAM_CHAT_ID = re.compile(r"-?[0-9]{1,19}")


def normalize_telegram_chat_id(value: str) -> str:
    """Canonical decimal form of a Telegram chat id (a signed 64-bit integer), for indexing.

    Surrounding spaces and leading zeros are dropped (``" 0042"`` becomes ``"42"``); negative
    ids (groups, channels) keep their ``-``. Raises ``ValueError`` for anything else (a sign
    ``+``, letters, non-ASCII digits, zero, out of the 64-bit range). Pass ``str(chat_id)``.
    """
    if not isinstance(value, str):
        raise TypeError("a Telegram chat id must be given as a string")
    text = value.strip()
    if not _TELEGRAM_CHAT_ID.fullmatch(text):
        raise ValueError("not a valid Telegram chat id")
    number = int(text)
    if number == 0 or not -(2**63) <= number < 2**63:
        raise ValueError("not a valid Telegram chat id")
    return str(number)


_NORMALIZERS = {
    "email": normalize_email,
    "phone": normalize_phone,
    "telegram_chat": normalize_telegram_chat_id,
}


def blind_index(value: str, *, kind: BlindIndexKind, keyring: Keyring | None = None) -> str:
    """Keyed blind index: hex ``HMAC-SHA256(blind key, kind + ":" + normalized value)``.

    ``kind`` selects the normalization (:func:`normalize_email` / :func:`normalize_phone` /
    :func:`normalize_telegram_chat_id`) and separates the domains from each other. Uses the
    process-wide keyring unless ``keyring`` is given. Raises ``ValueError`` for a value that
    does not normalize.
    """
    return (keyring or get_keyring()).blind_index(value, kind=kind)

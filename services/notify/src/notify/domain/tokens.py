"""Opaque tokens: deep-link payloads, inline-button callback data, one-click unsubscribe.

Deep-link and button tokens are random and bound to their action server-side (only a hash of a
deep-link token is stored); they mean nothing by themselves, so a token cannot be edited into one
for another appointment. Unsubscribe tokens are signed (HMAC) because a link in an old email must
keep working without a row per email.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import uuid

DEEPLINK_ALPHABET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BUTTON_PREFIX = "b1."


def new_deeplink_token() -> str:
    """32 characters of ``A-Za-z0-9_-`` (192 random bits): a valid ``/start`` payload."""
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    """What is stored for a deep-link token (SHA-256 hex): a leaked table opens nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_deeplink_payload(text: str) -> bool:
    """Whether ``text`` could be a payload Telegram passes to ``/start`` (≤ 64 of A-Za-z0-9_-)."""
    return bool(DEEPLINK_ALPHABET.match(text))


def new_button_token() -> str:
    """Callback data of an inline button: 25 ASCII bytes (≤ 64), opaque and unguessable."""
    return BUTTON_PREFIX + secrets.token_urlsafe(16)


def is_button_token(data: str) -> bool:
    """Whether callback data has the shape of our button tokens."""
    return data.startswith(BUTTON_PREFIX) and len(data.encode()) <= 64


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unsubscribe_token(user_id: uuid.UUID, key: str) -> str:
    """``<user id>.<HMAC>``, URL-safe: who unsubscribes, and proof the link is ours."""
    body = _b64(user_id.bytes)
    mac = hmac.new(key.encode(), b"unsubscribe:" + user_id.bytes, hashlib.sha256).digest()
    return f"{body}.{_b64(mac[:16])}"


def read_unsubscribe_token(token: str, key: str) -> uuid.UUID | None:
    """The user an unsubscribe token was made for, or ``None`` when it is not one of ours."""
    body, _, mac = token.partition(".")
    try:
        user_id = uuid.UUID(bytes=base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    expected = unsubscribe_token(user_id, key).partition(".")[2]
    return user_id if hmac.compare_digest(expected, mac) else None

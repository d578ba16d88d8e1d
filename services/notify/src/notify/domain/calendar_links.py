"""Add-to-calendar links in Telegram messages: a short signed link to an appointment's ``.ics``.

The token is ``base64url(appointment id (16 bytes) ‖ expiry (unix seconds, 4 bytes) ‖
HMAC-SHA256(key, "calendar:" ‖ the same 20 bytes)[:10])``: 40 characters, opaque, and
meaningless without the key (``LINK_SIGNING_KEY``). It is signed rather than stored because a
link in an old chat message must keep working without a row per message, until it expires;
changing one byte (another appointment, a later expiry) breaks the MAC.

Reading a token says what it is: ours and current (the appointment id), ours but expired
(``410``), or not ours (``404``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from servicekit.errors import DomainError

_MAC_BYTES = 10  # 80 bits: a forgery needs 2^80 tries against a link that expires
_PREFIX = b"calendar:"


class UnknownCalendarLink(DomainError):
    """The link was not made by us (or was altered)."""

    code = "calendar_link_not_found"


class CalendarLinkExpired(DomainError):
    """The link was ours but its time has passed."""

    code = "calendar_link_expired"


@dataclass(frozen=True)
class CalendarLink:
    """What a valid token names."""

    appointment_id: uuid.UUID
    expires_at: datetime


def _mac(body: bytes, key: str) -> bytes:
    return hmac.new(key.encode(), _PREFIX + body, hashlib.sha256).digest()[:_MAC_BYTES]


def link_expiry(ends_at: datetime, days_after_end: int) -> datetime:
    """When a link to an appointment ending at ``ends_at`` stops working (whole seconds)."""
    expires = ends_at.astimezone(UTC) + timedelta(days=days_after_end)
    return expires.replace(microsecond=0)


def calendar_link_token(appointment_id: uuid.UUID, expires_at: datetime, key: str) -> str:
    """The token of a link to ``appointment_id``'s calendar file, valid until ``expires_at``."""
    body = appointment_id.bytes + struct.pack(">I", int(expires_at.timestamp()))
    return base64.urlsafe_b64encode(body + _mac(body, key)).decode().rstrip("=")


def read_calendar_link(token: str, key: str, *, now: datetime) -> CalendarLink:
    """The appointment a token names; :class:`UnknownCalendarLink` when it is not one of ours,
    :class:`CalendarLinkExpired` when it was but has run out."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        raise UnknownCalendarLink() from None
    if len(raw) != 20 + _MAC_BYTES:
        raise UnknownCalendarLink()
    body, mac = raw[:20], raw[20:]
    if not hmac.compare_digest(_mac(body, key), mac):
        raise UnknownCalendarLink()
    expires_at = datetime.fromtimestamp(struct.unpack(">I", body[16:])[0], UTC)
    if expires_at <= now:
        raise CalendarLinkExpired()
    return CalendarLink(uuid.UUID(bytes=body[:16]), expires_at)

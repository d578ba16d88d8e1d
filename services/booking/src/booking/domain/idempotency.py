"""``Idempotency-Key``: when a repeated request gets the first one's answer again.

A key is 1–255 printable ASCII characters. Within its time to live, the same key with the same
operation and body answers the first answer again; with another operation or body it is refused
(``idempotency_key_reused``); while the first request has not answered yet, the repeat is
refused as ``request_in_progress`` (retry shortly). A key older than the time to live counts as
new.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from servicekit.errors import DomainError

MAX_KEY_LENGTH = 255


class InvalidIdempotencyKey(DomainError):
    """The key is empty, too long or not printable ASCII."""

    code = "validation_failed"


class IdempotencyKeyReused(DomainError):
    """The key was used for another request."""

    code = "idempotency_key_reused"


class RequestInProgress(DomainError):
    """The first request with this key has not answered yet."""

    code = "request_in_progress"


@dataclass(frozen=True)
class Replay:
    """The answer an earlier request with the same key got."""

    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class EarlierRequest:
    """What is kept of the first request with a key."""

    operation: str
    fingerprint: str
    created_at: datetime
    status_code: int | None
    body: dict[str, Any] | None


def check_key(key: str) -> str:
    """``key``, or :class:`InvalidIdempotencyKey`."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey()
    return key


def fingerprint(operation: str, body: Any) -> str:
    """A digest of what was asked (operation and body), to tell a replay from a reuse."""
    canonical = json.dumps([operation, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay_of(
    earlier: EarlierRequest, *, operation: str, digest: str, now: datetime, ttl: timedelta
) -> Replay | None:
    """The earlier answer this request gets again; ``None`` when the earlier request is older
    than ``ttl`` (the key counts as new). Refuses a reuse and a request still in progress."""
    if earlier.created_at <= now - ttl:
        return None
    if earlier.operation != operation or earlier.fingerprint != digest:
        raise IdempotencyKeyReused()
    if earlier.status_code is None or earlier.body is None:
        raise RequestInProgress()
    return Replay(earlier.status_code, earlier.body)

"""Session rules: a session is a family of refresh tokens, each usable once.

A refresh token is usable while its family is open: not revoked, not past its own expiry (the
idle limit) and not past the family's (the absolute limit set at login). A usable token that was
used already means it was copied: the family must end (:class:`RefreshTokenReused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from servicekit.errors import DomainError


class InvalidCredentials(DomainError):
    """An unknown address or a wrong password: the same refusal for both."""

    code = "invalid_credentials"


class SessionEnded(DomainError):
    """The refresh token is unknown, revoked or expired: log in again."""

    code = "invalid_refresh_token"


class RefreshTokenReused(DomainError):
    """A refresh token presented a second time; its whole family has been ended."""

    code = "refresh_token_reused"


@dataclass(frozen=True)
class RefreshState:
    """What the rules need of a stored refresh token."""

    expires_at: datetime
    family_expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None


def verdict(token: RefreshState | None, now: datetime) -> Literal["usable", "ended", "reused"]:
    """What presenting ``token`` (None: unknown) means at ``now``."""
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= now
        or token.family_expires_at <= now
    ):
        return "ended"
    return "reused" if token.used_at is not None else "usable"


def refresh_expiry(now: datetime, idle: timedelta, family_ends: datetime) -> datetime:
    """When a refresh token issued at ``now`` expires: after ``idle`` unused, and never after
    its family ends."""
    return min(now + idle, family_ends)


def lifetime_seconds(issued_at: datetime, expires_at: datetime) -> int:
    """Whole seconds a token issued at ``issued_at`` lives (never negative)."""
    return max(0, int((expires_at - issued_at).total_seconds()))

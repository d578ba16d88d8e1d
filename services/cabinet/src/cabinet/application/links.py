"""One-time links mailed to a user (email verification, password reset)."""

from __future__ import annotations

from datetime import datetime, timedelta

from servicekit.messaging.outbox import UnitOfWork

from cabinet.adapters.credentials import digest, new_secret
from cabinet.adapters.tables import OneTimeToken, User


async def issue_link(
    uow: UnitOfWork, user: User, purpose: str, ttl: timedelta, page_url: str, now: datetime
) -> tuple[str, datetime]:
    """A new one-time token for ``user`` (only its SHA-256 is stored) and the link carrying it
    in the fragment of ``page_url``, with its expiry."""
    secret = new_secret()
    expires = now + ttl
    uow.session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(secret),
            expires_at=expires,
            created_at=now,
        )
    )
    return f"{page_url}#token={secret}", expires

"""One-time links mailed to a user (email verification, password reset).

Only a link's SHA-256 is stored. Redeeming one closes every open link of the same purpose for
the user: an older link still in a mailbox (or a forwarded one) opens nothing once the owner
used any of them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import update
from sqlmodel import col, select

from cabinet.adapters.credentials import digest, new_secret
from cabinet.adapters.tables import OneTimeToken, User
from cabinet.domain.accounts import InvalidLink

Purpose = Literal["verify_email", "reset_password"]


async def issue_link(
    uow: UnitOfWork, user: User, purpose: Purpose, ttl: timedelta, page_url: str, now: datetime
) -> tuple[str, datetime]:
    """A new one-time token for ``user`` and the link carrying it in the fragment of
    ``page_url``, with its expiry."""
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


async def redeem(uow: UnitOfWork, secret: str, purpose: Purpose, now: datetime) -> User:
    """The user a link of ``purpose`` belongs to, closing it and every other open link of the
    purpose for them; :class:`InvalidLink` when it is unknown, used or expired."""
    hashed = digest(secret)
    owner = (
        await uow.session.exec(
            select(OneTimeToken.user_id).where(
                OneTimeToken.token_hash == hashed, OneTimeToken.purpose == purpose
            )
        )
    ).first()
    if owner is None:
        raise InvalidLink()
    # Locked in one order, so two links redeemed at once never deadlock: the second finds its
    # own link used.
    open_links = (
        await uow.session.exec(
            select(OneTimeToken)
            .where(
                OneTimeToken.user_id == owner,
                OneTimeToken.purpose == purpose,
                col(OneTimeToken.used_at).is_(None),
            )
            .order_by(col(OneTimeToken.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    token = next((t for t in open_links if t.token_hash == hashed), None)
    if token is None or token.expires_at <= now:
        raise InvalidLink()
    for link in open_links:
        link.used_at = now
        uow.session.add(link)
    user = await uow.session.get(User, token.user_id)
    if user is None:
        raise InvalidLink()
    return user


async def close_links(uow: UnitOfWork, user_id: uuid.UUID, purpose: Purpose, now: datetime) -> None:
    """Close every open link of ``purpose`` for the user (a new one replaces them)."""
    await uow.session.exec(
        update(OneTimeToken)
        .where(
            col(OneTimeToken.user_id) == user_id,
            col(OneTimeToken.purpose) == purpose,
            col(OneTimeToken.used_at).is_(None),
        )
        .values(used_at=now)
    )

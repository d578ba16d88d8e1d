"""Deep links: one-time ``/start`` payloads bound server-side to an action (only the token's
hash is stored)."""

from __future__ import annotations

import uuid

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import DeepLink
from notify.domain.tokens import token_hash


async def deeplink_by_token(session: AsyncSession, token: str) -> DeepLink | None:
    """The link a ``/start`` payload opens (locked), if it is one of ours."""
    found = await session.exec(
        select(DeepLink).where(DeepLink.token_hash == token_hash(token)).with_for_update()
    )
    return found.first()


async def deeplink_for_update(session: AsyncSession, deeplink_id: uuid.UUID) -> DeepLink | None:
    """A link by id, locked."""
    found = await session.exec(select(DeepLink).where(DeepLink.id == deeplink_id).with_for_update())
    return found.first()

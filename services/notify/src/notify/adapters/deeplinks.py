"""Deep links: one-time ``/start`` payloads bound server-side to an action."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import DeepLink
from notify.domain.tokens import new_deeplink_token, token_hash


async def create_deeplink(
    session: AsyncSession,
    *,
    action: str,
    now: datetime,
    expires_at: datetime,
    user_id: uuid.UUID | None = None,
    source: str | None = None,
    campaign: str | None = None,
    waitlist_offer_id: uuid.UUID | None = None,
    service_id: uuid.UUID | None = None,
    specialist_id: uuid.UUID | None = None,
    details: str | None = None,
    created_by: uuid.UUID | None = None,
) -> tuple[DeepLink, str]:
    """Store a deep link (only the token's hash) and return it with the token itself."""
    token = new_deeplink_token()
    link = DeepLink(
        token_hash=token_hash(token),
        action=action,
        user_id=user_id,
        source=source,
        campaign=campaign,
        waitlist_offer_id=waitlist_offer_id,
        service_id=service_id,
        specialist_id=specialist_id,
        details=details,
        created_by=created_by,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(link)
    return link, token


def link_fields(link: DeepLink) -> dict[str, Any]:
    """What the API shows of a deep link (never the token after creation)."""
    return {
        "id": link.id,
        "action": link.action,
        "user_id": link.user_id,
        "source": link.source,
        "campaign": link.campaign,
        "waitlist_offer_id": link.waitlist_offer_id,
        "service_id": link.service_id,
        "specialist_id": link.specialist_id,
        "created_at": link.created_at,
        "expires_at": link.expires_at,
        "used_at": link.used_at,
        "confirmed_at": link.confirmed_at,
    }

"""Deep links: one-time Telegram ``/start`` payloads bound to an action (who may make which:
:mod:`notify.domain.deeplinks`). The token is given out once; only its hash is stored."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.tables import DeepLink, TelegramChat
from notify.application.ports import NotifyPorts
from notify.domain.deeplinks import owner_of_new_link
from notify.domain.linking import LINK_ACCOUNT
from notify.domain.tokens import new_deeplink_token, token_hash


@dataclass(frozen=True)
class DeepLinkRequest:
    """What a new link will do when opened (``ttl_minutes``: the default when ``None``)."""

    action: str
    user_id: uuid.UUID | None = None
    source: str | None = None
    campaign: str | None = None
    waitlist_offer_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    specialist_id: uuid.UUID | None = None
    ttl_minutes: int | None = None


@dataclass(frozen=True)
class NewDeepLink:
    """A stored link, with its token and ``t.me`` URL (given out only now)."""

    link: DeepLink
    token: str
    url: str


def store_deeplink(
    uow: UnitOfWork,
    notify: NotifyPorts,
    *,
    action: str,
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
        created_at=notify.clock(),
        expires_at=expires_at,
    )
    uow.session.add(link)
    return link, token


async def create_deeplink(
    uow: UnitOfWork,
    notify: NotifyPorts,
    request: DeepLinkRequest,
    *,
    caller: uuid.UUID,
    caller_roles: Collection[str],
) -> NewDeepLink:
    """A new link the caller may make (or the refusal of :func:`owner_of_new_link`)."""
    owner = owner_of_new_link(
        request.action,
        caller=caller,
        caller_roles=caller_roles,
        user_id=request.user_id,
        specialist_id=request.specialist_id,
    )
    ttl = timedelta(minutes=request.ttl_minutes or notify.settings.deeplink_ttl_minutes)
    link, token = store_deeplink(
        uow,
        notify,
        action=request.action,
        expires_at=notify.clock() + ttl,
        user_id=owner,
        source=request.source,
        campaign=request.campaign,
        waitlist_offer_id=request.waitlist_offer_id,
        service_id=request.service_id,
        specialist_id=request.specialist_id,
        created_by=caller,
    )
    await uow.commit()
    return NewDeepLink(link, token, notify.deeplink(token))


async def deeplink(uow: UnitOfWork, deeplink_id: uuid.UUID) -> DeepLink | None:
    """A stored link (its creator decides who may see it)."""
    return await uow.session.get(DeepLink, deeplink_id)


async def opened_by(uow: UnitOfWork, link: DeepLink) -> str | None:
    """The Telegram username of the chat that opened a ``link_account`` link, if any: the owner
    tells their own chat from someone else's by it before confirming."""
    if link.action != LINK_ACCOUNT or link.used_by_chat_ref is None:
        return None
    chat = await uow.session.get(TelegramChat, link.used_by_chat_ref)
    return chat.username if chat else None

"""Campaign links cabinet makes (``cabinet.campaign_link.issued`` / ``.revoked``): notify keeps
them as multi-use ``attribution`` deep links under the campaign's id, so each opening publishes
``notify.deeplink.activated`` with ``deeplink_id == campaign_id`` (cabinet turns it into a
lead). cabinet minted the token; only its SHA-256 arrives here, as notify stores any token."""

from __future__ import annotations

from datetime import timedelta

from contracts.cabinet.v1 import CampaignLinkIssuedV1, CampaignLinkRevokedV1
from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.deeplinks import deeplink_for_update
from notify.adapters.tables import DeepLink
from notify.application.ports import NotifyPorts
from notify.domain.deeplinks import ATTRIBUTION

# A campaign link works until the practice revokes it; the expiry only bounds a forgotten one.
CAMPAIGN_LINK_LIFETIME = timedelta(days=3650)


async def issued(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[CampaignLinkIssuedV1]
) -> None:
    """Recognise the campaign's token from now on (a redelivery changes nothing)."""
    facts = event.payload
    if await deeplink_for_update(uow.session, facts.campaign_id) is not None:
        return
    uow.session.add(
        DeepLink(
            id=facts.campaign_id,
            token_hash=facts.token_sha256,
            action=ATTRIBUTION,
            source=facts.source,
            campaign=facts.campaign,
            service_id=facts.service_id,
            specialist_id=facts.specialist_id,
            created_at=facts.issued_at,
            expires_at=facts.issued_at + CAMPAIGN_LINK_LIFETIME,
        )
    )


async def revoked(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[CampaignLinkRevokedV1]
) -> None:
    """The link stops working; a later ``/start`` gets a kind word and publishes nothing."""
    link = await deeplink_for_update(uow.session, event.payload.campaign_id)
    if link is not None and link.revoked_at is None:
        link.revoked_at = event.payload.revoked_at
        uow.session.add(link)

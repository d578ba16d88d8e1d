"""What booking tells notify of waitlist offers: the offer (an Accept button in Telegram, a
link that opens it in the bot by email), and its end."""

from __future__ import annotations

from contracts.booking.v1 import WaitlistOfferExpiredV1, WaitlistOfferMadeV1
from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork

from notify.application.deeplinks import store_deeplink
from notify.application.planning import plan_edits, plan_notice
from notify.application.ports import NotifyPorts
from notify.domain import rules
from notify.domain.deeplinks import WAITLIST_OFFER


async def offer_made(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[WaitlistOfferMadeV1]
) -> None:
    """The offer, with an Accept button in Telegram and a bot link in email."""
    p = event.payload
    _, token = store_deeplink(
        uow,
        notify,
        action=WAITLIST_OFFER,
        expires_at=p.expires_at,
        user_id=p.client_id,
        waitlist_offer_id=p.offer_id,
        details=p.model_dump_json(),
    )
    notice = rules.waitlist_offer(p, telegram_link=notify.deeplink(token))
    await plan_notice(uow, notify, notice, source=event)


async def offer_expired(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[WaitlistOfferExpiredV1]
) -> None:
    """The offer's message loses its Accept button."""
    await plan_edits(uow, notify, rules.waitlist_offer_expired(event.payload), source=event)

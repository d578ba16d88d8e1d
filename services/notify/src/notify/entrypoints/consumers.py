"""Events notify consumes."""

from __future__ import annotations

from contracts.cabinet.v1 import UserRegisteredV1
from contracts.envelope import EventEnvelope
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import blind_index

from notify.adapters.tables import Recipient

user_events = EventConsumer("notify", "user-events")


@user_events.handles(UserRegisteredV1)
async def remember_recipient(uow: UnitOfWork, event: EventEnvelope[UserRegisteredV1]) -> None:
    """Keep (or replace) notify's copy of the new user's contacts, zone and language."""
    p = event.payload
    recipient = await uow.session.get(Recipient, p.user_id)
    if recipient is None:
        recipient = Recipient(
            user_id=p.user_id,
            email=p.email,
            email_index="",
            name=p.name,
            time_zone=p.time_zone,
            language=p.language,
            updated_at=event.occurred_at,
        )
    elif recipient.updated_at > event.occurred_at:
        return  # a newer state already arrived
    recipient.email = p.email
    recipient.email_index = blind_index(p.email, kind="email")
    recipient.name = p.name
    recipient.phone = p.phone
    recipient.time_zone = p.time_zone
    recipient.language = p.language
    recipient.updated_at = event.occurred_at
    uow.session.add(recipient)

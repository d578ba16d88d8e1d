"""Events booking consumes."""

from __future__ import annotations

from contracts.cabinet.v1 import UserRegisteredV1
from contracts.envelope import EventEnvelope
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork

from booking.adapters.tables import Client

user_events = EventConsumer("booking", "user-events")


@user_events.handles(UserRegisteredV1)
async def add_client(uow: UnitOfWork, event: EventEnvelope[UserRegisteredV1]) -> None:
    """A registered user can book: keep what booking needs to know of them."""
    p = event.payload
    if await uow.session.get(Client, p.user_id) is not None:
        return
    uow.session.add(
        Client(
            user_id=p.user_id,
            name=p.name,
            email=p.email,
            phone=p.phone,
            time_zone=p.time_zone,
            known_since=p.registered_at,
        )
    )

"""The delivery log (admins read it), and a Telegram message that failed for good going by
email instead."""

from __future__ import annotations

import uuid

from contracts.envelope import EventEnvelope
from contracts.notify.v1 import DeliveryFailedV1
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters import deliveries
from notify.adapters.deliveries import LogFilter
from notify.adapters.tables import Delivery
from notify.application.planning import plan_email_fallback
from notify.application.ports import NotifyPorts


class NoSuchDelivery(DomainError):
    """The delivery log has no such entry."""

    code = "not_found"


async def delivery_log(
    uow: UnitOfWork, where: LogFilter, *, limit: int, cursor: str | None
) -> tuple[list[Delivery], str | None]:
    """A page of the log, newest first, and the next page's cursor."""
    return await deliveries.delivery_log(uow.session, where, limit=limit, cursor=cursor)


async def delivery(uow: UnitOfWork, delivery_id: uuid.UUID) -> Delivery:
    """One entry of the log."""
    found = await uow.session.get(Delivery, delivery_id)
    if found is None:
        raise NoSuchDelivery
    return found


async def delivery_failed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[DeliveryFailedV1]
) -> None:
    """A Telegram message that failed for good goes by email, once, where the user keeps email
    among their channels (an email that fails is not sent anywhere else: no loops)."""
    if event.payload.channel != "telegram":
        return
    failed = await uow.session.get(Delivery, event.payload.delivery_id)
    if failed is not None:
        await plan_email_fallback(uow, notify, failed)

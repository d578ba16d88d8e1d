"""What booking tells notify of money: a declined payment, a refund that went back, a refund
that keeps failing (an alert for the admins)."""

from __future__ import annotations

import logging
import uuid

from contracts.booking.v1 import PaymentFailedV1, RefundFailedV1, RefundSucceededV1
from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.deliveries import dump_context
from notify.adapters.people import admin_ids
from notify.adapters.tables import Recipient
from notify.application.planning import add_delivery, plan_notice
from notify.application.ports import NotifyPorts
from notify.domain import rules
from notify.domain.formatting import DEFAULT_ZONE

logger = logging.getLogger("notify.payments")


async def payment_failed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[PaymentFailedV1]
) -> None:
    """The payment was declined: the client learns why and what to do next."""
    await plan_notice(uow, notify, rules.payment_failed(event.payload), source=event)


async def refund_succeeded(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[RefundSucceededV1]
) -> None:
    """The money went back."""
    await plan_notice(uow, notify, rules.refund_succeeded(event.payload), source=event)


async def refund_failed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[RefundFailedV1]
) -> None:
    """A refund that keeps failing alerts every admin (or the configured address)."""
    p = event.payload
    client = await uow.session.get(Recipient, p.client_id)
    client_name = client.name if client else None
    admins = await admin_ids(uow.session)
    for admin_id in admins:
        notice = rules.refund_failed(p, admin_id=admin_id, client_name=client_name)
        await plan_notice(uow, notify, notice, source=event)
    if admins:
        return
    notice = rules.refund_failed(p, admin_id=uuid.UUID(int=0), client_name=client_name)
    address = notify.settings.admin_alert_email
    logger.error(
        "a refund keeps failing and notify knows no admin user",
        extra={"refund_id": str(p.refund_id), "fallback_address": bool(address)},
    )
    await add_delivery(
        uow,
        notify,
        due_at=notify.clock() if address else None,
        user_id=None,
        channel="email",
        template=notice.template,
        category=notice.category,
        language="ru",
        time_zone=DEFAULT_ZONE,
        recipient=address or "",
        context=dump_context(notice.context),
        last_error=None if address else "no_admin",
        source_event_id=event.event_id,
        source_event_type=event.event_type,
    )

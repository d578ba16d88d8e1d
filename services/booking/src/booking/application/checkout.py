"""A client pays for a hold in the request that made it: the hold (or a new payment) is
committed first, then YooKassa creates the payment and the client gets its link in the answer.

While YooKassa answers, the slot stays the client's. When YooKassa cannot create the payment,
a new hold is given back quietly (nobody was told of it yet) and a payment made again is marked
``not_created`` (the hold stays; the client may try again); either way the client reads
:class:`PaymentUnavailable`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import col, select

from booking.adapters.appointments import live_payment
from booking.adapters.tables import Appointment, Payment
from booking.adapters.yookassa import YooKassaError, YooKassaUnavailable
from booking.application.payments import PaymentGateway, open_at_provider, release_unpaid_hold
from booking.domain.appointments import Status


class PaymentUnavailable(DomainError):
    """YooKassa could not create the payment now; the client may try again."""

    code = "payment_unavailable"


class NotHeld(DomainError):
    """The time is no longer held for the client."""

    code = "not_held"


class PaymentOpen(DomainError):
    """The hold has a payment that may still take money."""

    code = "payment_open"


async def pay_for_hold(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    appointment: Appointment,
    payment: Payment,
    *,
    now: datetime,
) -> tuple[Appointment, Payment]:
    """Commit a new hold, then create its payment at YooKassa and announce the hold; the pair
    as they stand then. :class:`PaymentUnavailable` when YooKassa cannot: the hold is released.
    Either way the caller commits (with whatever else it undoes, in one transaction)."""
    await uow.commit()  # the payment's id is YooKassa's Idempotence-Key from here on
    try:
        return await open_at_provider(uow, gateway, appointment, payment, now=now)
    except (YooKassaError, YooKassaUnavailable) as exc:
        await release_unpaid_hold(uow, appointment.id, now)
        raise PaymentUnavailable() from exc


async def pay_again(
    uow: UnitOfWork, gateway: PaymentGateway, appointment: Appointment, *, now: datetime
) -> tuple[Appointment, Payment]:
    """A new payment for a hold whose payment was declined, for the rest of the hold (its
    expiry does not move): YooKassa's ``canceled`` is final, so trying again needs a new one.
    ``appointment`` is locked; the caller commits the answer."""
    if appointment.status != Status.HELD or (
        appointment.hold_expires_at is not None and appointment.hold_expires_at <= now
    ):
        raise NotHeld()
    if await live_payment(uow.session, appointment.id) is not None:
        raise PaymentOpen()
    previous = (
        await uow.session.exec(
            select(Payment)
            .where(Payment.appointment_id == appointment.id)
            .order_by(col(Payment.created_at).desc())
            .limit(1)
        )
    ).first()
    payment = Payment(
        id=uuid.uuid4(),
        appointment_id=appointment.id,
        client_id=appointment.client_id,
        amount=previous.amount if previous is not None else appointment.price_amount,
        status="new",
        created_at=now,
        updated_at=now,
    )
    uow.session.add(payment)
    await uow.commit()  # the payment's id is YooKassa's Idempotence-Key from here on
    try:
        return await open_at_provider(uow, gateway, appointment, payment, now=now)
    except (YooKassaError, YooKassaUnavailable) as exc:
        failed = await uow.session.get(Payment, payment.id, with_for_update=True)
        assert failed is not None
        failed.status = "not_created"  # the hold stays; the client may try again
        await uow.commit()
        raise PaymentUnavailable() from exc

"""Timer handlers: hold expiry, and the YooKassa calls that follow a commit.

Each handler runs in the transaction that marks its timer fired; a handler that raises (YooKassa
unreachable) is retried with backoff by the timer worker. Handlers are closures over the YooKassa
client and the clock, built by :func:`timer_handlers` in the composition root.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from servicekit.clock import Clock
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, TimerHandler, schedule
from sqlmodel import select

from booking.adapters.clients import receipt_customer
from booking.adapters.tables import Appointment, Payment, Refund
from booking.adapters.yookassa import YooKassaClient, YooKassaError
from booking.application import appointments, waitlist
from booking.application.money import PAYMENT_CANCEL, REFUND_SUBMIT, watch_unwanted
from booking.application.payments import (
    FINAL,
    PAYMENT_CREATE,
    PAYMENT_RECONCILE,
    REFUND_RECONCILE,
    announce_hold,
    apply_refund,
    create_at_provider,
    schedule_reconcile,
    settle_payment,
)
from booking.config import BookingSettings
from booking.domain.appointments import Status

logger = logging.getLogger("booking.timers")

#: How many times a payment whose hold ended is looked at while YooKassa still has it pending
#: (growing to every 6 reconcile periods; YooKassa drops an unpaid payment within hours).
UNWANTED_CHECKS = 30


def timer_handlers(
    yookassa: YooKassaClient, settings: BookingSettings, clock: Clock
) -> dict[str, TimerHandler]:
    """Every timer kind booking schedules, with its handler."""
    reconcile_after = timedelta(minutes=settings.payment_reconcile_minutes)

    async def expire_hold(uow: UnitOfWork, timer: Timer) -> None:
        # A paid hold is never lost to a late notification: YooKassa is asked first, and a
        # payment authorised or taken in time confirms the hold instead of expiring it.
        appointment = await appointments.lock(
            uow.session, uuid.UUID(timer.payload["appointment_id"])
        )
        if appointment is None or appointment.status != Status.HELD:
            return
        payment = await appointments.live_payment(uow.session, appointment.id)
        if payment is not None and payment.provider_payment_id is not None:
            try:
                provider = await yookassa.get_payment(payment.provider_payment_id)
            except YooKassaError:  # unknown there: nothing was paid (unreachable: retried)
                provider = None
            if provider is not None and provider.status in ("waiting_for_capture", "succeeded"):
                await settle_payment(uow, yookassa, provider, now=clock())
                if appointment.status != Status.HELD:
                    return
        await appointments.expire(uow, appointment, clock())

    async def locked_payment(uow: UnitOfWork, timer: Timer) -> Payment | None:
        # The appointment is locked before the payment, the order every path uses.
        payment = await uow.session.get(Payment, uuid.UUID(timer.payload["payment_id"]))
        if payment is None:
            return None
        await appointments.lock(uow.session, payment.appointment_id)
        return (
            await uow.session.exec(
                select(Payment)
                .where(Payment.id == payment.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        ).first()

    async def create_payment(uow: UnitOfWork, timer: Timer) -> None:
        # A hold made outside an HTTP request (a waitlist offer accepted in Telegram).
        payment = await locked_payment(uow, timer)
        if payment is None or payment.status != "new":
            return
        appointment = await appointments.lock(uow.session, payment.appointment_id)
        assert appointment is not None
        if appointment.status != Status.HELD:
            payment.status = "not_created"  # its link was never shown: nobody can pay it
            return
        provider = await create_at_provider(
            yookassa, uow.session, appointment, payment, return_url=settings.yookassa_return_url
        )
        await announce_hold(
            uow, appointment, payment, provider, now=clock(), reconcile_after=reconcile_after
        )

    async def watch_unwanted_payment(uow: UnitOfWork, timer: Timer) -> None:
        # The hold ended: make YooKassa agree (void an authorisation, refund money taken), and
        # look again while the payment is still open there (a shop cannot cancel a pending one).
        payment = await locked_payment(uow, timer)
        if payment is None or payment.provider_payment_id is None or not payment.cancel_wanted:
            return
        provider = await yookassa.get_payment(payment.provider_payment_id)
        provider = await settle_payment(uow, yookassa, provider, now=clock())
        attempt = int(timer.payload.get("attempt", 1))
        if provider.status == "pending" and attempt < UNWANTED_CHECKS:
            await watch_unwanted(
                uow.session,
                payment,
                due_at=clock() + reconcile_after * min(attempt, 6),
                attempt=attempt + 1,
            )

    async def reconcile_payment(uow: UnitOfWork, timer: Timer) -> None:
        payment = await locked_payment(uow, timer)
        if (
            payment is None
            or payment.status in FINAL
            or payment.provider_payment_id is None
            or payment.cancel_wanted  # watched by its own timer
        ):
            return
        provider = await yookassa.get_payment(payment.provider_payment_id)
        await settle_payment(uow, yookassa, provider, now=clock())
        if payment.status not in FINAL and not payment.cancel_wanted:
            attempt = int(timer.payload.get("attempt", 1)) + 1
            await schedule_reconcile(
                uow.session,
                payment,
                due_at=clock() + reconcile_after * min(attempt, 6),
                attempt=attempt,
            )

    async def locked_refund(uow: UnitOfWork, timer: Timer) -> Refund | None:
        return (
            await uow.session.exec(
                select(Refund)
                .where(Refund.id == uuid.UUID(timer.payload["refund_id"]))
                .with_for_update()
            )
        ).first()

    async def schedule_refund_check(uow: UnitOfWork, refund: Refund, attempt: int) -> None:
        await schedule(
            uow.session,
            kind=REFUND_RECONCILE,
            key=f"{refund.id}:{attempt}",
            due_at=clock() + reconcile_after * min(attempt, 6),
            payload={"refund_id": str(refund.id), "attempt": attempt},
        )

    async def submit_refund(uow: UnitOfWork, timer: Timer) -> None:
        refund = await locked_refund(uow, timer)
        if refund is None or refund.status != "requested":
            return
        payment = await uow.session.get(Payment, refund.payment_id)
        appointment = await uow.session.get(Appointment, refund.appointment_id)
        assert payment is not None and payment.provider_payment_id is not None
        assert appointment is not None
        provider = await yookassa.create_refund(
            idempotence_key=str(refund.id),
            payment_id=payment.provider_payment_id,
            amount=refund.amount,
            description=f"Возврат: {appointment.service_name}",
            customer=await receipt_customer(uow.session, refund.client_id),
        )
        await apply_refund(uow, refund, provider, now=clock())
        if refund.status == "pending":
            await schedule_refund_check(uow, refund, 1)

    async def reconcile_refund(uow: UnitOfWork, timer: Timer) -> None:
        refund = await locked_refund(uow, timer)
        if refund is None or refund.status != "pending" or refund.provider_refund_id is None:
            return
        provider = await yookassa.get_refund(refund.provider_refund_id)
        await apply_refund(uow, refund, provider, now=clock())
        if refund.status == "pending":
            await schedule_refund_check(uow, refund, int(timer.payload.get("attempt", 1)) + 1)

    async def expire_offer(uow: UnitOfWork, timer: Timer) -> None:
        await waitlist.offer_timed_out(uow, uuid.UUID(timer.payload["offer_id"]), clock())

    return {
        appointments.HOLD_EXPIRY: expire_hold,
        PAYMENT_CREATE: create_payment,
        PAYMENT_CANCEL: watch_unwanted_payment,
        PAYMENT_RECONCILE: reconcile_payment,
        REFUND_SUBMIT: submit_refund,
        REFUND_RECONCILE: reconcile_refund,
        waitlist.OFFER_EXPIRY: expire_offer,
    }

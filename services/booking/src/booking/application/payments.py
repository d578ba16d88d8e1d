"""Payments and refunds: applying what YooKassa reports, and the calls made after a commit.

Booking's own rows are the source of truth for what it has *done*; YooKassa's re-fetched object
is the only source of truth for what the *payment* is. :func:`apply_payment` moves a payment
forward only (``succeeded``/``canceled`` are final), so duplicate, reordered or forged
notifications cause at most one transition and one event.

* ``succeeded`` while the appointment is still held → confirmed (``payment.succeeded``,
  ``appointment.confirmed``).
* ``succeeded`` after the hold ended (expired or cancelled) → a *late* payment: refunded in full
  (``payment.succeeded`` with ``late``, then ``refund.succeeded``), never kept.
* ``canceled`` → ``payment.failed`` (unless booking itself asked for the cancellation).

The use cases at the end run when a :class:`~booking.application.money.ProviderCall` is due
(``booking.entrypoints.timers``); each locks its row, asks YooKassa and applies the answer.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from contracts.booking.v1 import (
    AppointmentConfirmedV1,
    AppointmentHeldV1,
    PaymentFailedV1,
    PaymentSucceededV1,
    RefundFailedV1,
    RefundSucceededV1,
)
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import cancel as cancel_timer
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.appointments import (
    intake_required,
    live_payment,
    lock_appointment,
    lock_with_payment,
)
from booking.adapters.clients import receipt_customer
from booking.adapters.payments import (
    find_payment,
    knows_provider_object,
    lock_refund,
    refund_by_provider_id,
)
from booking.adapters.tables import Appointment, Payment, Refund
from booking.adapters.yookassa import (
    ProviderPayment,
    ProviderRefund,
    YooKassaClient,
    YooKassaError,
    YooKassaUnavailable,
    object_id,
)
from booking.application import appointments
from booking.application.appointments import HOLD_EXPIRY
from booking.application.facts import appointment_facts, rub
from booking.application.money import (
    ProviderCall,
    call_after_commit,
    drop_payment,
    schedule_reconcile,
    start_refund,
    watch_unwanted,
)
from booking.application.practice import Practice
from booking.domain.appointments import Status
from booking.domain.payments import FINAL_PAYMENT, OPEN_PAYMENT
from booking.domain.schedule import zone_named

logger = logging.getLogger("booking.payments")

#: Tries of one refund YooKassa keeps cancelling, the first included; the n-th retry waits n
#: times REFUND_RETRY_AFTER (a closed card or a bank's refusal rarely passes within minutes).
REFUND_ATTEMPTS = 3
REFUND_RETRY_AFTER = timedelta(minutes=30)
#: How many times a payment whose hold ended is looked at while YooKassa still has it pending
#: (growing to every 6 reconcile periods; YooKassa drops an unpaid payment within hours).
UNWANTED_CHECKS = 30


@dataclass(frozen=True)
class PaymentGateway:
    """YooKassa as booking uses it (one per runtime, from the settings): the client, the page
    a client comes back to after paying, and how long booking waits for a notification before
    it asks YooKassa itself."""

    client: YooKassaClient
    return_url: str
    reconcile_after: timedelta

    def check_after(self, attempt: int) -> timedelta:
        """The wait before the ``attempt``-th look at an object YooKassa has not settled yet:
        longer each time, up to six reconcile periods."""
        return self.reconcile_after * min(attempt, 6)


class ProviderUnavailable(DomainError):
    """YooKassa did not answer (its notification is delivered again later)."""

    code = "unavailable"


async def create_at_provider(
    gateway: PaymentGateway, session: AsyncSession, appointment: Appointment, payment: Payment
) -> ProviderPayment:
    """Create the payment at YooKassa (our payment id is the Idempotence-Key, so a repeat of
    this call never makes a second payment). Called after the hold is committed."""
    customer = await receipt_customer(session, appointment.client_id)
    if customer is None:
        raise ValueError("a prepaid hold without the client's receipt contact")
    local = appointment.starts_at.astimezone(zone_named(appointment.specialist_time_zone))
    return await gateway.client.create_payment(
        idempotence_key=str(payment.id),
        amount=payment.amount,
        description=f"{appointment.service_name}, {local:%d.%m.%Y %H:%M}",
        return_url=return_url_for(gateway.return_url, appointment.id),
        metadata={"appointment_id": str(appointment.id), "payment_id": str(payment.id)},
        customer=customer,
    )


async def announce_hold(
    uow: UnitOfWork,
    appointment: Appointment,
    payment: Payment,
    provider: ProviderPayment,
    *,
    now: datetime,
    reconcile_after: timedelta,
) -> None:
    """YooKassa created the payment: record it and tell the client where to pay."""
    payment.provider_payment_id = provider.id
    payment.provider_status = provider.status
    payment.confirmation_url = provider.confirmation_url
    payment.updated_at = now
    if appointment.status != Status.HELD or payment.cancel_wanted:
        # The hold ended while YooKassa answered: the payment must never take money.
        drop_payment(payment, now)
        await watch_unwanted(uow.session, payment, due_at=now)
        return
    payment.status = "pending" if provider.status == "pending" else payment.status
    # Settled by the notification; else by this check, or at the latest when the hold is due.
    await schedule_reconcile(uow.session, payment, due_at=now + reconcile_after, attempt=1)
    if provider.status != "pending":
        await schedule_reconcile(uow.session, payment, due_at=now, attempt=0)
    assert appointment.hold_expires_at is not None
    uow.emit(
        AppointmentHeldV1(
            **appointment_facts(appointment),
            hold_expires_at=appointment.hold_expires_at,
            prepayment_required=True,
            payment_id=payment.id,
            confirmation_url=provider.confirmation_url,
            waitlist_offer_id=appointment.waitlist_offer_id,
        )
    )


def return_url_for(base: str, appointment_id: uuid.UUID) -> str:
    """YooKassa's ``return_url`` for one appointment: the configured page with
    ``appointment_id`` added, so the page the client comes back to can poll the booking."""
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "appointment_id"]
    query.append(("appointment_id", str(appointment_id)))
    return urlunsplit(parts._replace(query=urlencode(query)))


async def release_unpaid_hold(uow: UnitOfWork, appointment_id: uuid.UUID, now: datetime) -> None:
    """YooKassa could not create the payment: give the slot back quietly (nobody was told of
    the hold yet; the client gets the error in the response)."""
    appointment = await lock_appointment(uow.session, appointment_id)
    if appointment is None or appointment.status != Status.HELD:
        return
    appointment.status = Status.CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by = "system"
    appointment.cancel_reason = "payment_unavailable"
    appointment.updated_at = now
    appointment.version += 1
    payments = (
        await uow.session.exec(
            select(Payment).where(Payment.appointment_id == appointment_id, Payment.status == "new")
        )
    ).all()
    for payment in payments:
        payment.status = "not_created"
        payment.updated_at = now
    await cancel_timer(uow.session, kind=HOLD_EXPIRY, key=str(appointment_id))


class NextCall(StrEnum):
    """What YooKassa must be asked next to settle a payment (see :func:`settle_payment`)."""

    CAPTURE = "capture"  # authorised while the hold is the client's: take the money
    VOID = "void"  # authorised after the hold ended: release it (no money moves)


async def apply_payment(
    uow: UnitOfWork, provider: ProviderPayment, *, now: datetime
) -> NextCall | None:
    """Bring our payment in line with YooKassa's re-fetched one; say what to ask YooKassa next.

    Only the database changes here; :func:`settle_payment` makes the calls.
    """
    session = uow.session
    found = await find_payment(session, provider)
    pair = None if found is None else await lock_with_payment(session, found.id)
    if pair is None:
        logger.warning("YooKassa payment is not one of ours", extra={"provider_id": provider.id})
        return None
    appointment, payment = pair
    payment.provider_payment_id = provider.id
    if provider.amount != payment.amount:
        logger.error(
            "YooKassa payment amount differs from ours; not applied",
            extra={"payment_id": str(payment.id)},
        )
        return None
    seen_before = payment.provider_status
    if seen_before != provider.status:
        payment.provider_status = provider.status
        payment.updated_at = now
    if payment.cancel_wanted:
        return await _unwanted(uow, appointment, payment, provider, seen_before, now)
    if provider.status == "waiting_for_capture" and appointment.status == Status.HELD:
        payment.status = "waiting_for_capture"
        return NextCall.CAPTURE  # again after a failed capture, too
    if payment.status in FINAL_PAYMENT or payment.status == provider.status:
        return None
    payment.updated_at = now
    if provider.status == "pending":
        payment.status = "pending"
        return None
    if provider.status == "waiting_for_capture":  # the appointment is no longer held
        drop_payment(payment, now)
        return NextCall.VOID
    if provider.status == "canceled":
        payment.status = "canceled"
        payment.cancellation_party = provider.cancellation_party
        payment.cancellation_reason = provider.cancellation_reason
        _emit_failed(
            uow,
            appointment,
            payment,
            provider,
            reason=provider.cancellation_reason or "unknown",
            party=provider.cancellation_party,
            hold_expires_at=appointment.hold_expires_at
            if appointment.status == Status.HELD
            else None,
        )
        return None
    if provider.status != "succeeded":
        logger.warning("unknown YooKassa status %s", provider.status)
        return None
    if appointment.status != Status.HELD:
        await _refund_late(uow, appointment, payment, provider, now)
        return None
    payment.status = "succeeded"
    payment.paid_at = now
    _emit_succeeded(uow, appointment, payment, provider, now)
    appointment.status = Status.CONFIRMED
    appointment.confirmed_at = now
    appointment.updated_at = now
    appointment.version += 1
    await cancel_timer(session, kind=HOLD_EXPIRY, key=str(appointment.id))
    uow.emit(
        AppointmentConfirmedV1(
            **appointment_facts(appointment),
            payment_id=payment.id,
            amount_paid=rub(payment.amount),
            intake_required=await intake_required(await uow.connection(), appointment),
            reschedule_count=appointment.reschedule_count,
            waitlist_offer_id=appointment.waitlist_offer_id,
        )
    )
    return None


async def _unwanted(
    uow: UnitOfWork,
    appointment: Appointment,
    payment: Payment,
    provider: ProviderPayment,
    seen_before: str | None,
    now: datetime,
) -> NextCall | None:
    """A payment whose hold ended: it shows ``canceled`` already; YooKassa must agree."""
    if payment.status in OPEN_PAYMENT:
        drop_payment(payment, now)
    if provider.status == "waiting_for_capture":
        return NextCall.VOID
    if provider.status == "succeeded" and seen_before != "succeeded":
        # Captured before booking knew the hold had ended (a one-stage payment, or a capture
        # racing the cancellation): the money moved, so it goes back in full.
        await _refund_late(uow, appointment, payment, provider, now)
    elif provider.status == "canceled" and seen_before != "canceled":
        payment.cancellation_party = provider.cancellation_party
        payment.cancellation_reason = provider.cancellation_reason
        if seen_before == "waiting_for_capture":
            # The client paid after the hold ended and booking released the money: say so.
            _emit_failed(
                uow,
                appointment,
                payment,
                provider,
                reason="hold_ended",
                party="merchant",
                hold_expires_at=None,
            )
    return None


def _emit_failed(
    uow: UnitOfWork,
    appointment: Appointment,
    payment: Payment,
    provider: ProviderPayment,
    *,
    reason: str,
    party: str | None,
    hold_expires_at: datetime | None,
) -> None:
    uow.emit(
        PaymentFailedV1(
            payment_id=payment.id,
            provider_payment_id=provider.id,
            appointment_id=appointment.id,
            client_id=appointment.client_id,
            service_name=appointment.service_name,
            amount=rub(payment.amount),
            reason=reason,
            party=party,
            hold_expires_at=hold_expires_at,
        )
    )


def _emit_succeeded(
    uow: UnitOfWork,
    appointment: Appointment,
    payment: Payment,
    provider: ProviderPayment,
    now: datetime,
) -> None:
    uow.emit(
        PaymentSucceededV1(
            payment_id=payment.id,
            provider_payment_id=provider.id,
            appointment_id=appointment.id,
            client_id=appointment.client_id,
            service_name=appointment.service_name,
            starts_at=appointment.starts_at,
            specialist_time_zone=appointment.specialist_time_zone,
            amount=rub(payment.amount),
            paid_at=now,
            late=payment.late,
        )
    )


async def _refund_late(
    uow: UnitOfWork,
    appointment: Appointment,
    payment: Payment,
    provider: ProviderPayment,
    now: datetime,
) -> None:
    """Money taken for a hold that had ended: recorded, then refunded in full."""
    payment.status = "succeeded"
    payment.paid_at = now
    payment.late = True
    payment.updated_at = now
    _emit_succeeded(uow, appointment, payment, provider, now)
    await start_refund(
        uow,
        payment,
        appointment,
        amount=payment.amount,
        percent=100,
        reason="late_payment",
        now=now,
    )


async def settle_payment(
    uow: UnitOfWork, gateway: PaymentGateway, provider: ProviderPayment, *, now: datetime
) -> ProviderPayment:
    """Apply YooKassa's payment, then capture or void it as :func:`apply_payment` says, and
    apply the answer; returns YooKassa's last word. Keys are per payment and step, so a repeat
    (a redelivered notification, a retried timer) never captures or voids twice."""
    yookassa = gateway.client
    for _ in range(3):
        step = await apply_payment(uow, provider, now=now)
        if step is None:
            return provider
        key = f"{step.value}-{provider.id}"
        try:
            if step is NextCall.CAPTURE:
                provider = await yookassa.capture_payment(provider.id, idempotence_key=key)
            else:
                provider = await yookassa.cancel_payment(provider.id, idempotence_key=key)
        except YooKassaError as exc:
            # Refused: the payment moved meanwhile (YooKassa cancelled it, say). Ask again.
            logger.warning(
                "YooKassa refused to %s a payment; re-reading it",
                step.value,
                extra={"provider_id": provider.id, "code": exc.code},
            )
            provider = await yookassa.get_payment(provider.id)
    return provider


async def apply_refund(
    uow: UnitOfWork, refund: Refund, provider: ProviderRefund, *, now: datetime
) -> bool:
    """Record a refund's state at YooKassa; ``refund.succeeded`` once."""
    if refund.status in ("succeeded", "canceled"):
        return False
    refund.provider_refund_id = provider.id
    refund.updated_at = now
    if provider.status == "pending":
        refund.status = "pending"
        return True
    if provider.status == "canceled":
        refund.status = "canceled"
        await _retry_or_alert(uow, refund, provider, now)
        return True
    refund.status = "succeeded"
    refund.refunded_at = now
    payment = (
        await uow.session.exec(
            select(Payment).where(Payment.id == refund.payment_id).with_for_update()
        )
    ).one()
    payment.refunded_amount += refund.amount
    payment.updated_at = now
    appointment = await uow.session.get(Appointment, refund.appointment_id)
    assert appointment is not None
    uow.emit(
        RefundSucceededV1(
            refund_id=refund.id,
            provider_refund_id=provider.id,
            payment_id=payment.id,
            appointment_id=appointment.id,
            client_id=appointment.client_id,
            service_name=appointment.service_name,
            amount=rub(refund.amount),
            percent=refund.percent,
            reason=refund.reason,
            refunded_at=now,
        )
    )
    return True


async def _retry_or_alert(
    uow: UnitOfWork, refund: Refund, provider: ProviderRefund, now: datetime
) -> None:
    """YooKassa cancelled a refund: the money is still the client's due. Try again as a new
    refund (``canceled`` is final for the old key), later each time; after the last attempt a
    person must act, so the practice's admins are alerted (``booking.refund.failed``)."""
    payment = await uow.session.get(Payment, refund.payment_id)
    appointment = await uow.session.get(Appointment, refund.appointment_id)
    assert payment is not None and appointment is not None
    reason = provider.cancellation_reason or "unknown"
    if refund.attempt < REFUND_ATTEMPTS:
        retry = await start_refund(
            uow,
            payment,
            appointment,
            amount=refund.amount,
            percent=refund.percent,
            reason=refund.reason,
            now=now,
            attempt=refund.attempt + 1,
            retry_of=refund.id,
            due_at=now + REFUND_RETRY_AFTER * refund.attempt,
        )
        logger.warning(
            "YooKassa cancelled a refund; trying again",
            extra={"refund_id": str(refund.id), "retry_id": str(retry.id), "reason": reason},
        )
        return
    logger.error(
        "YooKassa cancelled a refund after every attempt; the admins are alerted",
        extra={"refund_id": str(refund.id), "reason": reason},
    )
    uow.emit(
        RefundFailedV1(
            refund_id=refund.id,
            provider_refund_id=provider.id,
            payment_id=payment.id,
            appointment_id=appointment.id,
            client_id=appointment.client_id,
            amount=rub(refund.amount),
            reason=reason,
            attempts=refund.attempt,
            failed_at=now,
        )
    )


async def open_at_provider(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    appointment: Appointment,
    payment: Payment,
    *,
    now: datetime,
) -> tuple[Appointment, Payment]:
    """Create a held appointment's payment at YooKassa (after the commit that holds the slot),
    then record it and announce the hold; the pair as they stand now. YooKassa's refusal or
    silence propagates (:class:`YooKassaError`, :class:`YooKassaUnavailable`)."""
    provider = await create_at_provider(gateway, uow.session, appointment, payment)
    pair = await lock_with_payment(uow.session, payment.id)
    assert pair is not None
    held, paying = pair
    await announce_hold(
        uow, held, paying, provider, now=now, reconcile_after=gateway.reconcile_after
    )
    return held, paying


async def apply_notification(
    uow: UnitOfWork, gateway: PaymentGateway, *, event: str, object_id_given: Any, now: datetime
) -> Literal["ok", "ignored"]:
    """A YooKassa notification (unsigned, so nothing in it is believed): the object it names is
    fetched from YooKassa, only when it is one booking made, and what YooKassa says is applied.
    ``ignored``: a malformed id, an object booking never made, one YooKassa does not know."""
    if not event.startswith(("payment.", "refund.")):
        logger.info("YooKassa event not used by booking", extra={"event": event[:64]})
        return "ok"
    provider_id = object_id(object_id_given)
    if provider_id is None or not await knows_provider_object(uow.session, event, provider_id):
        # Malformed, forged or another shop's: nothing to ask YooKassa about.
        logger.warning("notification names no object of ours", extra={"event": event[:64]})
        return "ignored"
    try:
        if event.startswith("payment."):
            provider = await gateway.client.get_payment(provider_id)
            await settle_payment(uow, gateway, provider, now=now)
        else:
            provider_refund = await gateway.client.get_refund(provider_id)
            refund = await refund_by_provider_id(uow.session, provider_refund.id)
            if refund is not None:
                await apply_refund(uow, refund, provider_refund, now=now)
    except YooKassaError as exc:
        if exc.status == 404:  # not a real object: forged or from another shop
            logger.warning("notification names an unknown object", extra={"event": event})
            return "ignored"
        raise
    except YooKassaUnavailable:
        raise ProviderUnavailable() from None
    return "ok"


# -- what a due timer asks YooKassa -----------------------------------------------------------


async def expire_hold(
    uow: UnitOfWork,
    practice: Practice,
    gateway: PaymentGateway,
    appointment_id: uuid.UUID,
    *,
    now: datetime,
) -> None:
    """A hold's time is up. A paid hold is never lost to a late notification: YooKassa is
    asked first, and a payment authorised or taken in time confirms the hold instead."""
    appointment = await lock_appointment(uow.session, appointment_id)
    if appointment is None or appointment.status != Status.HELD:
        return
    payment = await live_payment(uow.session, appointment.id)
    if payment is not None and payment.provider_payment_id is not None:
        try:
            provider = await gateway.client.get_payment(payment.provider_payment_id)
        except YooKassaError:  # unknown there: nothing was paid (unreachable: retried)
            provider = None
        if provider is not None and provider.status in ("waiting_for_capture", "succeeded"):
            await settle_payment(uow, gateway, provider, now=now)
            if appointment.status != Status.HELD:
                return
    await appointments.expire(uow, practice, appointment, now)


async def create_payment(
    uow: UnitOfWork, gateway: PaymentGateway, payment_id: uuid.UUID, *, attempt: int, now: datetime
) -> None:
    """A hold made outside an HTTP request (a waitlist offer accepted in Telegram): create its
    payment at YooKassa, unless the hold ended meanwhile."""
    pair = await lock_with_payment(uow.session, payment_id)
    if pair is None or pair[1].status != "new":
        return
    appointment, payment = pair
    if appointment.status != Status.HELD:
        payment.status = "not_created"  # its link was never shown: nobody can pay it
        return
    await open_at_provider(uow, gateway, appointment, payment, now=now)


async def settle_unwanted(
    uow: UnitOfWork, gateway: PaymentGateway, payment_id: uuid.UUID, *, attempt: int, now: datetime
) -> None:
    """The hold ended: make YooKassa agree (void an authorisation, refund money taken), and
    look again while the payment is still open there (a shop cannot cancel a pending one)."""
    pair = await lock_with_payment(uow.session, payment_id)
    if pair is None:
        return
    _, payment = pair
    if payment.provider_payment_id is None or not payment.cancel_wanted:
        return
    provider = await gateway.client.get_payment(payment.provider_payment_id)
    provider = await settle_payment(uow, gateway, provider, now=now)
    if provider.status == "pending" and attempt < UNWANTED_CHECKS:
        await watch_unwanted(
            uow.session, payment, due_at=now + gateway.check_after(attempt), attempt=attempt + 1
        )


async def reconcile_payment(
    uow: UnitOfWork, gateway: PaymentGateway, payment_id: uuid.UUID, *, attempt: int, now: datetime
) -> None:
    """No notification settled the payment in time: ask YooKassa, and again later while it is
    open there."""
    pair = await lock_with_payment(uow.session, payment_id)
    if pair is None:
        return
    _, payment = pair
    if (
        payment.status in FINAL_PAYMENT
        or payment.provider_payment_id is None
        or payment.cancel_wanted  # watched by its own timer
    ):
        return
    provider = await gateway.client.get_payment(payment.provider_payment_id)
    await settle_payment(uow, gateway, provider, now=now)
    if payment.status not in FINAL_PAYMENT and not payment.cancel_wanted:
        await schedule_reconcile(
            uow.session, payment, due_at=now + gateway.check_after(attempt + 1), attempt=attempt + 1
        )


async def submit_refund(
    uow: UnitOfWork, gateway: PaymentGateway, refund_id: uuid.UUID, *, attempt: int, now: datetime
) -> None:
    """Send a requested refund to YooKassa (the refund's id is the Idempotence-Key)."""
    refund = await lock_refund(uow.session, refund_id)
    if refund is None or refund.status != "requested":
        return
    payment = await uow.session.get(Payment, refund.payment_id)
    appointment = await uow.session.get(Appointment, refund.appointment_id)
    assert payment is not None and payment.provider_payment_id is not None
    assert appointment is not None
    provider = await gateway.client.create_refund(
        idempotence_key=str(refund.id),
        payment_id=payment.provider_payment_id,
        amount=refund.amount,
        description=f"Возврат: {appointment.service_name}",
        customer=await receipt_customer(uow.session, refund.client_id),
    )
    await apply_refund(uow, refund, provider, now=now)
    if refund.status == "pending":
        await _check_refund_later(uow, gateway, refund, 1, now)


async def reconcile_refund(
    uow: UnitOfWork, gateway: PaymentGateway, refund_id: uuid.UUID, *, attempt: int, now: datetime
) -> None:
    """A refund YooKassa had pending: ask again, and again later while it stays so."""
    refund = await lock_refund(uow.session, refund_id)
    if refund is None or refund.status != "pending" or refund.provider_refund_id is None:
        return
    provider = await gateway.client.get_refund(refund.provider_refund_id)
    await apply_refund(uow, refund, provider, now=now)
    if refund.status == "pending":
        await _check_refund_later(uow, gateway, refund, attempt + 1, now)


async def _check_refund_later(
    uow: UnitOfWork, gateway: PaymentGateway, refund: Refund, attempt: int, now: datetime
) -> None:
    await call_after_commit(
        uow.session,
        ProviderCall.RECONCILE_REFUND,
        refund.id,
        due_at=now + gateway.check_after(attempt),
        attempt=attempt,
    )

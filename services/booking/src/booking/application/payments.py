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
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from contracts.booking.v1 import (
    AppointmentConfirmedV1,
    AppointmentHeldV1,
    PaymentFailedV1,
    PaymentSucceededV1,
    RefundFailedV1,
    RefundSucceededV1,
)
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import cancel as cancel_timer
from servicekit.timers import schedule
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.clients import receipt_customer
from booking.adapters.tables import Appointment, Payment, Refund
from booking.adapters.yookassa import (
    ProviderPayment,
    ProviderRefund,
    YooKassaClient,
    YooKassaError,
)
from booking.application.appointments import HOLD_EXPIRY, lock, needs_intake
from booking.application.facts import appointment_facts, rub
from booking.application.money import OPEN_PAYMENT, drop_payment, start_refund, watch_unwanted
from booking.domain.appointments import Status
from booking.domain.schedule import zone_named

logger = logging.getLogger("booking.payments")

PAYMENT_RECONCILE = "payment_reconcile"
REFUND_RECONCILE = "refund_reconcile"
FINAL = ("succeeded", "canceled", "not_created")
#: Tries of one refund YooKassa keeps cancelling, the first included; the n-th retry waits n
#: times REFUND_RETRY_AFTER (a closed card or a bank's refusal rarely passes within minutes).
REFUND_ATTEMPTS = 3
REFUND_RETRY_AFTER = timedelta(minutes=30)


PAYMENT_CREATE = "payment_create"


async def create_at_provider(
    yookassa: YooKassaClient,
    session: AsyncSession,
    appointment: Appointment,
    payment: Payment,
    *,
    return_url: str,
) -> ProviderPayment:
    """Create the payment at YooKassa (our payment id is the Idempotence-Key, so a repeat of
    this call never makes a second payment). Called after the hold is committed."""
    customer = await receipt_customer(session, appointment.client_id)
    if customer is None:
        raise ValueError("a prepaid hold without the client's receipt contact")
    local = appointment.starts_at.astimezone(zone_named(appointment.specialist_time_zone))
    return await yookassa.create_payment(
        idempotence_key=str(payment.id),
        amount=payment.amount,
        description=f"{appointment.service_name}, {local:%d.%m.%Y %H:%M}",
        return_url=return_url_for(return_url, appointment.id),
        metadata={"appointment_id": str(appointment.id), "payment_id": str(payment.id)},
        customer=customer,
    )


async def schedule_reconcile(
    session: AsyncSession, payment: Payment, *, due_at: datetime, attempt: int
) -> None:
    """Ask YooKassa about a payment at ``due_at`` unless a notification settles it first.

    Each check is its own timer key: a firing timer cannot move itself.
    """
    await schedule(
        session,
        kind=PAYMENT_RECONCILE,
        key=f"{payment.id}:{attempt}",
        due_at=due_at,
        payload={"payment_id": str(payment.id), "attempt": attempt},
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
    appointment = await lock(uow.session, appointment_id)
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


async def find_payment(session: AsyncSession, provider: ProviderPayment) -> Payment | None:
    """Our payment row for a YooKassa payment (by its id, else by the metadata we sent)."""
    payment = (
        await session.exec(select(Payment).where(Payment.provider_payment_id == provider.id))
    ).first()
    if payment is not None:
        return payment
    try:
        ours = uuid.UUID(str(provider.metadata.get("payment_id", "")))
    except ValueError:
        return None
    payment = await session.get(Payment, ours)
    if payment is not None and payment.provider_payment_id in (None, provider.id):
        return payment
    return None


async def _lock_pair(session: AsyncSession, payment: Payment) -> tuple[Appointment, Payment]:
    # Appointment first, then payment: the order every other path (expiry, cancellation) uses.
    appointment = await lock(session, payment.appointment_id)
    assert appointment is not None
    locked = (
        await session.exec(
            select(Payment)
            .where(Payment.id == payment.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    return appointment, locked


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
    if found is None:
        logger.warning("YooKassa payment is not one of ours", extra={"provider_id": provider.id})
        return None
    appointment, payment = await _lock_pair(session, found)
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
    if payment.status in FINAL or payment.status == provider.status:
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
            intake_required=await needs_intake(session, appointment),
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
    uow: UnitOfWork, yookassa: YooKassaClient, provider: ProviderPayment, *, now: datetime
) -> ProviderPayment:
    """Apply YooKassa's payment, then capture or void it as :func:`apply_payment` says, and
    apply the answer; returns YooKassa's last word. Keys are per payment and step, so a repeat
    (a redelivered notification, a retried timer) never captures or voids twice."""
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


async def knows_provider_object(session: AsyncSession, event: str, provider_id: str) -> bool:
    """Whether a notification's object is one booking made (a payment or a refund row carries
    its id): only then is YooKassa asked about it."""
    if event.startswith("payment."):
        query = select(Payment.id).where(col(Payment.provider_payment_id) == provider_id)
    else:
        query = select(Refund.id).where(col(Refund.provider_refund_id) == provider_id)
    return (await session.exec(query)).first() is not None


async def refund_by_provider_id(session: AsyncSession, provider_refund_id: str) -> Refund | None:
    """Our refund row for a YooKassa refund id."""
    return (
        await session.exec(
            select(Refund)
            .where(col(Refund.provider_refund_id) == provider_refund_id)
            .with_for_update()
        )
    ).first()

"""Money steps shared by the appointment and payment use cases, and the one way booking asks
YooKassa for something: after the commit.

A use case never calls the network inside its transaction: what must reach YooKassa (create a
payment, look at one, void or refund one) is a :class:`ProviderCall` scheduled with
:func:`call_after_commit` — a timer due when the call should happen, committed with the state
that needs it, fired (and retried while YooKassa is out of reach) by the timer worker, whose
handlers (``booking.entrypoints.timers``) run the matching use case of
:mod:`booking.application.payments` on the row the timer names.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, schedule
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Appointment, Payment, Refund
from booking.domain.payments import OPEN_PAYMENT


class ProviderCall(StrEnum):
    """What booking asks YooKassa after a commit (the value is the timer kind)."""

    CREATE_PAYMENT = "payment_create"  # a hold made outside a request (Telegram)
    SETTLE_UNWANTED = "payment_cancel"  # a payment whose hold ended: void or refund it
    RECONCILE_PAYMENT = "payment_reconcile"  # a payment nobody told booking about in time
    SUBMIT_REFUND = "refund_submit"
    RECONCILE_REFUND = "refund_reconcile"

    @property
    def subject(self) -> str:
        """The payload key of the row the call is about."""
        refunds = (ProviderCall.SUBMIT_REFUND, ProviderCall.RECONCILE_REFUND)
        return "refund_id" if self in refunds else "payment_id"


async def call_after_commit(
    session: AsyncSession,
    call: ProviderCall,
    subject: uuid.UUID,
    *,
    due_at: datetime,
    attempt: int | None = None,
) -> None:
    """Ask YooKassa ``call`` about the payment or refund ``subject`` at ``due_at`` (now: as
    soon as this transaction commits). One timer per call and subject, and per ``attempt``
    for calls repeated until YooKassa has the object final (a firing timer cannot move
    itself, so each check is its own)."""
    payload: dict[str, str | int] = {call.subject: str(subject)}
    key = str(subject)
    if attempt is not None:
        payload["attempt"] = attempt
        key = f"{subject}:{attempt}"
    await schedule(session, kind=call.value, key=key, due_at=due_at, payload=payload)


def subject_of(call: ProviderCall, timer: Timer) -> tuple[uuid.UUID, int]:
    """The row a fired :func:`call_after_commit` timer is about, and its attempt (1 unless
    numbered)."""
    return uuid.UUID(timer.payload[call.subject]), int(timer.payload.get("attempt", 1))


async def start_refund(
    uow: UnitOfWork,
    payment: Payment,
    appointment: Appointment,
    *,
    amount: int,
    percent: int,
    reason: str,
    now: datetime,
    attempt: int = 1,
    retry_of: uuid.UUID | None = None,
    due_at: datetime | None = None,
) -> Refund:
    """A refund row; submitted to YooKassa after the commit (its id is the key)."""
    refund = Refund(
        id=uuid.uuid4(),
        payment_id=payment.id,
        appointment_id=appointment.id,
        client_id=appointment.client_id,
        amount=amount,
        percent=percent,
        reason=reason,
        status="requested",
        attempt=attempt,
        retry_of=retry_of,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(refund)
    await call_after_commit(
        uow.session, ProviderCall.SUBMIT_REFUND, refund.id, due_at=due_at or now
    )
    return refund


async def watch_unwanted(
    session: AsyncSession, payment: Payment, *, due_at: datetime, attempt: int = 1
) -> None:
    """Check at ``due_at`` on a payment whose hold ended, until YooKassa has it final: an
    authorisation is voided, money taken is refunded."""
    await call_after_commit(
        session,
        ProviderCall.SETTLE_UNWANTED,
        payment.id,
        due_at=due_at,
        attempt=None if attempt == 1 else attempt,
    )


async def schedule_reconcile(
    session: AsyncSession, payment: Payment, *, due_at: datetime, attempt: int
) -> None:
    """Ask YooKassa about a payment at ``due_at`` unless a notification settles it first."""
    await call_after_commit(
        session, ProviderCall.RECONCILE_PAYMENT, payment.id, due_at=due_at, attempt=attempt
    )


def drop_payment(payment: Payment, now: datetime) -> None:
    """The hold ended: the payment shows ``canceled`` at once and is never captured."""
    payment.cancel_wanted = True
    if payment.status in OPEN_PAYMENT:
        payment.status = "canceled" if payment.provider_payment_id else "not_created"
        payment.cancellation_party = "merchant"
        payment.cancellation_reason = "hold_ended"
    payment.updated_at = now

"""Money steps shared by the appointment and payment use cases: refunds and the watch on a
payment whose hold ended. Each only writes rows and timers; the YooKassa calls are the timers'.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import schedule
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Appointment, Payment, Refund

PAYMENT_CANCEL = "payment_cancel"
REFUND_SUBMIT = "refund_submit"

#: Payments that may still take money.
OPEN_PAYMENT = ("new", "pending", "waiting_for_capture")


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
    """A refund row; its timer submits it to YooKassa after the commit (its id is the key)."""
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
    await schedule(
        uow.session,
        kind=REFUND_SUBMIT,
        key=str(refund.id),
        due_at=due_at or now,
        payload={"refund_id": str(refund.id)},
    )
    return refund


async def watch_unwanted(
    session: AsyncSession, payment: Payment, *, due_at: datetime, attempt: int = 1
) -> None:
    """Check at ``due_at`` on a payment whose hold ended, until YooKassa has it final: an
    authorisation is voided, money taken is refunded. Each check is its own timer key."""
    await schedule(
        session,
        kind=PAYMENT_CANCEL,
        key=str(payment.id) if attempt == 1 else f"{payment.id}:{attempt}",
        due_at=due_at,
        payload={"payment_id": str(payment.id), "attempt": attempt},
    )


def drop_payment(payment: Payment, now: datetime) -> None:
    """The hold ended: the payment shows ``canceled`` at once and is never captured."""
    payment.cancel_wanted = True
    if payment.status in OPEN_PAYMENT:
        payment.status = "canceled" if payment.provider_payment_id else "not_created"
        payment.cancellation_party = "merchant"
        payment.cancellation_reason = "hold_ended"
    payment.updated_at = now

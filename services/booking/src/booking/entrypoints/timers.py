"""Timer handlers: hold expiry, waitlist offer expiry, the YooKassa calls made after a
commit (:class:`~booking.application.money.ProviderCall`), and Google Calendar's pushes, syncs
and periodic polls (:mod:`booking.application.calendar`).

Each handler runs in the transaction that marks its timer fired; a handler that raises (YooKassa
unreachable) is retried with backoff by the timer worker. :func:`timer_handlers` builds them
for one runtime, as closures over its practice, its YooKassa gateway and its clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Protocol

from servicekit.clock import Clock
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, TimerHandler

from booking.application import calendar, payments, waitlist
from booking.application.appointments import HOLD_EXPIRY
from booking.application.money import ProviderCall, subject_of
from booking.application.payments import PaymentGateway
from booking.application.practice import Practice


class ProviderCallHandler(Protocol):
    """A use case run when a :class:`ProviderCall` is due: the row it is about and the
    attempt."""

    def __call__(
        self,
        uow: UnitOfWork,
        gateway: PaymentGateway,
        subject: uuid.UUID,
        /,
        *,
        attempt: int,
        now: datetime,
    ) -> Awaitable[None]: ...


#: The use case of every call after a commit.
PROVIDER_CALLS: Mapping[ProviderCall, ProviderCallHandler] = {
    ProviderCall.CREATE_PAYMENT: payments.create_payment,
    ProviderCall.SETTLE_UNWANTED: payments.settle_unwanted,
    ProviderCall.RECONCILE_PAYMENT: payments.reconcile_payment,
    ProviderCall.SUBMIT_REFUND: payments.submit_refund,
    ProviderCall.RECONCILE_REFUND: payments.reconcile_refund,
}


def timer_handlers(
    practice: Practice,
    gateway: PaymentGateway,
    clock: Clock,
    sync: calendar.CalendarSync | None = None,
) -> dict[str, TimerHandler]:
    """Every timer kind booking schedules, with its handler."""

    def provider_call(call: ProviderCall, run: ProviderCallHandler) -> TimerHandler:
        async def handle(uow: UnitOfWork, timer: Timer) -> None:
            subject, attempt = subject_of(call, timer)
            await run(uow, gateway, subject, attempt=attempt, now=clock())

        return handle

    async def expire_hold(uow: UnitOfWork, timer: Timer) -> None:
        appointment_id = uuid.UUID(timer.payload["appointment_id"])
        await payments.expire_hold(uow, practice, gateway, appointment_id, now=clock())

    async def expire_offer(uow: UnitOfWork, timer: Timer) -> None:
        await waitlist.offer_timed_out(uow, practice, uuid.UUID(timer.payload["offer_id"]), clock())

    async def calendar_push(uow: UnitOfWork, timer: Timer) -> None:
        assert sync is not None
        appointment_id = uuid.UUID(timer.payload["appointment_id"])
        await calendar.push(uow, sync, appointment_id, attempts=timer.attempts, now=clock())

    async def calendar_sync(uow: UnitOfWork, timer: Timer) -> None:
        assert sync is not None
        await calendar.synchronize(uow, sync, uuid.UUID(timer.key), clock())

    async def calendar_poll(uow: UnitOfWork, timer: Timer) -> None:
        assert sync is not None
        specialist_id = uuid.UUID(timer.payload["specialist_id"])
        await calendar.poll(uow, sync, specialist_id, int(timer.payload["round"]), clock())

    calendar_timers: dict[str, TimerHandler] = (
        {
            calendar.PUSH: calendar_push,
            calendar.SYNC: calendar_sync,
            calendar.POLL: calendar_poll,
        }
        if sync is not None
        else {}
    )
    return {
        **calendar_timers,
        HOLD_EXPIRY: expire_hold,
        waitlist.OFFER_EXPIRY: expire_offer,
        **{call.value: provider_call(call, run) for call, run in PROVIDER_CALLS.items()},
    }

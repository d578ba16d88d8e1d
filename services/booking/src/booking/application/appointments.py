"""Appointment use cases after the booking: expire, cancel, reschedule, complete, mark a
no-show, confirm attendance; and what a booking and a reschedule share (the specialist's
occupancy around a start, the database's word on a taken slot).

Each runs inside the caller's unit of work (an HTTP request, a consumed event or a fired timer):
it changes rows through ``uow.session`` and records the contract event with ``uow.emit``, so the
state change and its event commit together. Nothing here calls the network; what must reach
YooKassa (cancel a payment, send a refund) is a call after the commit
(:func:`booking.application.money.call_after_commit`).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from contracts.booking.v1 import (
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentExpiredV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
)
from contracts.types import ActorRole
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import cancel as cancel_timer
from sqlalchemy.exc import DBAPIError

from booking.adapters.appointments import (
    is_contention_abort,
    is_exclusion_violation,
    live_payment,
    lock_appointment,
    lock_booking_day,
    no_show_count,
    paid_payment,
    stale_holds,
)
from booking.adapters.schedules import Occupancy, WorkingHours, read_occupancy, slot_policy
from booking.adapters.tables import Appointment, Refund, ServiceOffering, Specialist
from booking.application import waitlist
from booking.application.facts import appointment_facts, rub
from booking.application.money import drop_payment, start_refund, watch_unwanted
from booking.application.practice import Practice
from booking.domain.appointments import Action, Status, ensure_allowed
from booking.domain.policies import (
    CancellationTier,
    ensure_reschedulable,
    refund_amount,
    refund_percent_for,
)
from booking.domain.slots import SlotPolicy, SlotTaken, ensure_bookable

HOLD_EXPIRY = "hold_expiry"


class AppointmentNotFound(DomainError):
    """No such appointment (or none the caller may see)."""

    code = "not_found"


class SameTime(DomainError):
    """A reschedule to the time the appointment already has."""

    code = "same_time"


class ServiceOrSpecialistGone(DomainError):
    """The appointment's service or specialist no longer exists."""

    code = "not_found"


class TooEarly(DomainError):
    """The session has not started yet."""

    code = "too_early"


class TooLate(DomainError):
    """The session is over."""

    code = "too_late"


@dataclass(frozen=True)
class Actor:
    """Who causes a change."""

    role: ActorRole
    user_id: uuid.UUID | None = None


SYSTEM = Actor("system")


async def locked(uow: UnitOfWork, appointment_id: uuid.UUID) -> Appointment:
    """The appointment, locked for this transaction (:class:`AppointmentNotFound`)."""
    appointment = await lock_appointment(uow.session, appointment_id)
    if appointment is None:
        raise AppointmentNotFound()
    return appointment


def _touch(appointment: Appointment, now: datetime) -> None:
    appointment.updated_at = now
    appointment.version += 1


async def occupancy_for_booking(
    uow: UnitOfWork,
    practice: Practice,
    specialist: WorkingHours,
    starts_at: datetime,
    occupied: tuple[datetime, datetime],
    now: datetime,
    *,
    exclude: uuid.UUID | None = None,
    taken: Occupancy | None = None,
) -> Occupancy:
    """The specialist's schedule and bookings around ``occupied``, ready to check a start.

    Caps count a whole local day, so bookings of one capped day take turns (an advisory lock
    for the day, then a fresh read under it). Stale holds in the way are expired first: holds
    past their expiry whose timer has not fired yet give way to a new booking now.
    """
    conn = await uow.connection()
    if taken is None:
        taken = (await read_occupancy(conn, [specialist], *occupied, now=now, exclude=exclude))[
            specialist.user_id
        ]
    day = taken.schedule.local_date(starts_at)
    if taken.schedule.cap_on(day) is not None:
        await lock_booking_day(conn, specialist.user_id, day)
        taken = (await read_occupancy(conn, [specialist], *occupied, now=now, exclude=exclude))[
            specialist.user_id
        ]
    if taken.stale_hold_overlaps(occupied):
        for hold in await stale_holds(uow.session, specialist.user_id, occupied, now):
            # The new booking takes its time: not offered to the waitlist.
            await expire(uow, practice, hold, now, offer_to_waitlist=False)
    return taken


@contextlib.contextmanager
def slot_taken_on_conflict() -> Iterator[None]:
    """A write that takes time: the exclusion constraint refused the range, or concurrent
    overlapping inserts deadlocked on its checks (PostgreSQL aborts one): the slot is taken.
    Through the ORM (``DBAPIError``) or on plain asyncpg (``PostgresError``) alike."""
    try:
        yield
    except (DBAPIError, asyncpg.PostgresError) as exc:
        if is_exclusion_violation(exc) or is_contention_abort(exc):
            raise SlotTaken() from None
        raise


def _tiers(appointment: Appointment) -> list[CancellationTier]:
    return [
        CancellationTier(timedelta(minutes=t["min_notice_minutes"]), t["refund_percent"])
        for t in appointment.policy.get("cancellation_tiers", [])
    ]


async def _drop_open_payment(uow: UnitOfWork, appointment_id: uuid.UUID, now: datetime) -> None:
    """The appointment no longer needs its open payment: it shows ``canceled`` at once, and a
    call after the commit makes sure YooKassa never keeps money for it."""
    payment = await live_payment(uow.session, appointment_id)
    if payment is None:
        return
    drop_payment(payment, now)
    if payment.provider_payment_id is not None:
        await watch_unwanted(uow.session, payment, due_at=now)


# -- transitions ----------------------------------------------------------------------------


async def expire(
    uow: UnitOfWork,
    practice: Practice,
    appointment: Appointment,
    now: datetime,
    *,
    offer_to_waitlist: bool = True,
) -> None:
    """An unpaid hold ran out: free the slot (offer it to the waitlist), cancel its payment."""
    ensure_allowed(Action.EXPIRE, appointment.status)
    appointment.status = Status.EXPIRED
    _touch(appointment, now)
    payment = await live_payment(uow.session, appointment.id)
    await _drop_open_payment(uow, appointment.id, now)
    assert appointment.hold_expires_at is not None
    uow.emit(
        AppointmentExpiredV1(
            **appointment_facts(appointment),
            hold_expires_at=appointment.hold_expires_at,
            payment_id=payment.id if payment else None,
        )
    )
    await cancel_timer(uow.session, kind=HOLD_EXPIRY, key=str(appointment.id))
    if offer_to_waitlist:
        await waitlist.slot_freed(uow, practice, appointment, now)


async def cancel(
    uow: UnitOfWork,
    practice: Practice,
    appointment: Appointment,
    *,
    actor: Actor,
    reason: str | None,
    now: datetime,
) -> Refund | None:
    """Cancel a held or confirmed appointment; refund by the tiers (in full when the specialist
    or an admin cancels). Returns the refund started, if any."""
    ensure_allowed(Action.CANCEL, appointment.status)
    previous = appointment.status
    by_client = actor.role == "client"
    if by_client:
        percent = refund_percent_for(appointment.starts_at - now, _tiers(appointment))
    else:
        percent = 100
    paid = await paid_payment(uow.session, appointment.id)
    amount = refund_amount(paid.amount - paid.refunded_amount, percent) if paid else 0
    refund = None
    if paid is not None and amount > 0:
        reason_code = {
            "client": "client_cancellation",
            "specialist": "specialist_cancellation",
        }.get(actor.role, "admin_cancellation")
        refund = await start_refund(
            uow, paid, appointment, amount=amount, percent=percent, reason=reason_code, now=now
        )
    await _drop_open_payment(uow, appointment.id, now)
    appointment.status = Status.CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by = actor.role
    appointment.cancelled_by_user_id = actor.user_id
    appointment.cancel_reason = reason
    appointment.refund_percent = percent
    appointment.late_cancellation = by_client and percent == 0
    _touch(appointment, now)
    uow.emit(
        AppointmentCancelledV1(
            **appointment_facts(appointment),
            previous_status=previous,
            cancelled_by=actor.role,
            cancelled_by_user_id=actor.user_id,
            reason=reason,
            late_cancellation=appointment.late_cancellation,
            refund_percent=percent,
            refund_amount=rub(amount),
            payment_id=paid.id if paid else None,
            refund_id=refund.id if refund else None,
        )
    )
    await cancel_timer(uow.session, kind=HOLD_EXPIRY, key=str(appointment.id))
    await waitlist.slot_freed(uow, practice, appointment, now)
    return refund


async def reschedule(
    uow: UnitOfWork,
    practice: Practice,
    appointment: Appointment,
    *,
    starts_at: datetime,
    actor: Actor,
    now: datetime,
) -> None:
    """Move a confirmed appointment (the same row) to another free start, atomically: if the
    database refuses the new range the transaction rolls back and nothing moved."""
    ensure_allowed(Action.RESCHEDULE, appointment.status)
    policy_snapshot: dict[str, Any] = appointment.policy
    ensure_reschedulable(
        notice=appointment.starts_at - now,
        count=appointment.reschedule_count,
        min_notice=timedelta(minutes=policy_snapshot["reschedule_min_notice_minutes"]),
        max_count=policy_snapshot["max_reschedules"],
        by_client=actor.role == "client",
    )
    if starts_at == appointment.starts_at:
        raise SameTime()
    session = uow.session
    service = await session.get(ServiceOffering, appointment.service_id)
    specialist = await session.get(Specialist, appointment.specialist_id)
    if service is None or specialist is None:
        raise ServiceOrSpecialistGone()
    rules = slot_policy(service, appointment.duration_minutes)
    policy = SlotPolicy(
        duration=timedelta(minutes=appointment.duration_minutes),
        buffer_before=timedelta(minutes=appointment.buffer_before_minutes),
        buffer_after=timedelta(minutes=appointment.buffer_after_minutes),
        min_notice=rules.min_notice,
        horizon=rules.horizon,
        step=rules.step,
    )
    occupied = policy.occupied(starts_at)
    taken = await occupancy_for_booking(
        uow, practice, specialist, starts_at, occupied, now, exclude=appointment.id
    )
    ensure_bookable(taken.schedule, policy, taken.booked, now=now, start=starts_at)
    await waitlist.time_taken(uow, specialist_id=specialist.user_id, occupied=occupied, now=now)
    previous_start, previous_end = appointment.starts_at, appointment.ends_at
    appointment.starts_at, appointment.ends_at = starts_at, starts_at + policy.duration
    appointment.occupied_from, appointment.occupied_until = occupied
    appointment.reschedule_count += 1
    appointment.attendance_confirmed_at = None
    _touch(appointment, now)
    with slot_taken_on_conflict():
        await session.flush()
    uow.emit(
        AppointmentRescheduledV1(
            **appointment_facts(appointment),
            previous_starts_at=previous_start,
            previous_ends_at=previous_end,
            reschedule_count=appointment.reschedule_count,
            max_reschedules=policy_snapshot["max_reschedules"],
            rescheduled_by=actor.role,
            rescheduled_by_user_id=actor.user_id,
        )
    )
    await waitlist.time_freed(
        uow,
        practice,
        specialist_id=appointment.specialist_id,
        service_id=appointment.service_id,
        starts_at=previous_start,
        duration_minutes=appointment.duration_minutes,
        now=now,
    )


async def _mark(
    uow: UnitOfWork, appointment: Appointment, action: Action, actor: Actor, now: datetime
) -> None:
    ensure_allowed(action, appointment.status)
    if now < appointment.starts_at:
        raise TooEarly()
    appointment.status = Status.COMPLETED if action is Action.COMPLETE else Status.NO_SHOW
    appointment.marked_at = now
    appointment.marked_by_user_id = actor.user_id
    _touch(appointment, now)


async def complete(
    uow: UnitOfWork, appointment: Appointment, *, actor: Actor, now: datetime
) -> None:
    """The specialist says the session took place."""
    await _mark(uow, appointment, Action.COMPLETE, actor, now)
    assert actor.user_id is not None
    uow.emit(
        AppointmentCompletedV1(**appointment_facts(appointment), marked_by_user_id=actor.user_id)
    )


async def mark_no_show(
    uow: UnitOfWork, appointment: Appointment, *, actor: Actor, now: datetime
) -> None:
    """The specialist says the client did not come (no refund)."""
    await _mark(uow, appointment, Action.MARK_NO_SHOW, actor, now)
    await uow.session.flush()  # this one counts too
    count = await no_show_count(uow.session, appointment.client_id)
    assert actor.user_id is not None
    uow.emit(
        AppointmentNoShowV1(
            **appointment_facts(appointment),
            marked_by_user_id=actor.user_id,
            client_no_show_count=max(1, count),
        )
    )


async def confirm_attendance(
    uow: UnitOfWork, appointment: Appointment, *, via: str, now: datetime
) -> bool:
    """The client says they will come; ``False`` if they already had."""
    ensure_allowed(Action.CONFIRM_ATTENDANCE, appointment.status)
    if now >= appointment.ends_at:
        raise TooLate()
    if appointment.attendance_confirmed_at is not None:
        return False
    appointment.attendance_confirmed_at = now
    _touch(appointment, now)
    uow.emit(
        AppointmentAttendanceConfirmedV1(
            **appointment_facts(appointment),
            confirmed_via=via,
        )
    )
    return True

"""Appointment use cases: book, expire, cancel, reschedule, complete, mark a no-show, confirm.

Each runs inside the caller's unit of work (an HTTP request, a consumed event or a fired timer):
it changes rows through ``uow.session`` and records the contract event with ``uow.emit``, so the
state change and its event commit together. Nothing here calls the network; what must reach
YooKassa (cancel a payment, send a refund) is a timer due now, fired after the commit.
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
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
)
from contracts.types import ActorRole
from servicekit.db.driver import new_row
from servicekit.http.problems import Conflict, Msg, NotFound, validation_failed
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import cancel as cancel_timer
from servicekit.timers import schedule as schedule_timer
from sqlalchemy import func
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.appointments import is_contention_abort, is_exclusion_violation
from booking.adapters.clients import receipt_customer
from booking.adapters.schedules import (
    Occupancy,
    WorkingHours,
    read_booking_context,
    read_occupancy,
    slot_policy,
)
from booking.adapters.tables import Appointment, Payment, Refund, ServiceOffering, Specialist
from booking.application import people, waitlist
from booking.application.facts import appointment_facts, rub
from booking.application.money import OPEN_PAYMENT, drop_payment, start_refund, watch_unwanted
from booking.application.refusals import transition_refused_text
from booking.domain.appointments import Action, InvalidTransition, Status, ensure_allowed
from booking.domain.policies import (
    CancellationTier,
    check_reschedule,
    refund_amount,
    refund_percent_for,
)
from booking.domain.slots import SlotPolicy, Unavailable, check_slot

HOLD_EXPIRY = "hold_expiry"

_UNAVAILABLE_DETAIL = {
    Unavailable.NOTICE_TOO_SHORT: Msg(
        ru="Это время слишком близко: на эту услугу нужно записываться заранее.",
        en="This start is too soon: the service needs more notice.",
    ),
    Unavailable.BEYOND_HORIZON: Msg(
        ru="Запись на это время ещё не открыта.",
        en="This start is too far ahead to book yet.",
    ),
    Unavailable.OUTSIDE_WORKING_HOURS: Msg(
        ru="Специалист не принимает в это время.",
        en="The specialist does not offer this start time.",
    ),
    Unavailable.TIME_OFF: Msg(
        ru="В это время специалист не работает.",
        en="The specialist is off at this time.",
    ),
    Unavailable.DAY_FULL: Msg(
        ru="На этот день у специалиста всё занято.",
        en="The specialist's day is fully booked.",
    ),
    Unavailable.SLOT_TAKEN: Msg(ru="Это время уже занято.", en="This time is already taken."),
}


@dataclass(frozen=True)
class Actor:
    """Who causes a change."""

    role: ActorRole
    user_id: uuid.UUID | None = None


SYSTEM = Actor("system")


def slot_refused(reason: Unavailable) -> Conflict:
    """The 409 for a start time that cannot be booked."""
    return Conflict(
        _UNAVAILABLE_DETAIL[reason],
        code=reason.value,
        title=Msg(ru="Время недоступно", en="Slot unavailable"),
    )


def transition_refused(exc: InvalidTransition) -> Conflict:
    """The 409 for an action the appointment's status does not allow."""
    return Conflict(
        transition_refused_text(exc),
        code="invalid_transition",
        title=Msg(ru="Сейчас это невозможно", en="Not possible now"),
    )


def _allowed(action: Action, appointment: Appointment) -> None:
    try:
        ensure_allowed(action, appointment.status)
    except InvalidTransition as exc:
        raise transition_refused(exc) from None


async def lock(session: AsyncSession, appointment_id: uuid.UUID) -> Appointment | None:
    """The appointment, locked for this transaction (transitions never interleave)."""
    return (
        await session.exec(
            select(Appointment)
            .where(Appointment.id == appointment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()


def _touch(appointment: Appointment, now: datetime) -> None:
    appointment.updated_at = now
    appointment.version += 1


async def _occupancy_for_booking(
    uow: UnitOfWork,
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
    for the day, then a fresh read under it). Stale holds in the way are expired first.
    """
    conn = await uow.connection()
    if taken is None:
        taken = (await read_occupancy(conn, [specialist], *occupied, now=now, exclude=exclude))[
            specialist.user_id
        ]
    day = taken.schedule.local_date(starts_at)
    if taken.schedule.cap_on(day) is not None:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"booking-day:{specialist.user_id}:{day.isoformat()}",
        )
        taken = (await read_occupancy(conn, [specialist], *occupied, now=now, exclude=exclude))[
            specialist.user_id
        ]
    if taken.stale_hold_overlaps(occupied):
        await _expire_stale_holds(uow, specialist.user_id, occupied, now)
    return taken


async def _expire_stale_holds(
    uow: UnitOfWork, specialist_id: uuid.UUID, occupied: tuple[datetime, datetime], now: datetime
) -> None:
    """Holds past their expiry whose timer has not fired yet give way to a new booking now,
    unless YooKassa has their payment: it may have been paid in time, and only the expiry timer
    (which asks YooKassa first) may end such a hold."""
    at_provider = (
        select(Payment.id)
        .where(
            Payment.appointment_id == Appointment.id,
            col(Payment.provider_payment_id).is_not(None),
            col(Payment.status).in_(OPEN_PAYMENT),
        )
        .exists()
    )
    stale = (
        await uow.session.exec(
            select(Appointment)
            .where(
                Appointment.specialist_id == specialist_id,
                Appointment.status == Status.HELD,
                col(Appointment.hold_expires_at) <= now,
                col(Appointment.occupied_from) < occupied[1],
                col(Appointment.occupied_until) > occupied[0],
                ~at_provider,
            )
            .with_for_update()
        )
    ).all()
    for hold in stale:
        await expire(uow, hold, now, offer_to_waitlist=False)  # the new booking takes it


@contextlib.contextmanager
def _slot_taken_on_conflict() -> Iterator[None]:
    """A write that takes time: the exclusion constraint refused the range, or concurrent
    overlapping inserts deadlocked on its checks (PostgreSQL aborts one): the slot is taken.
    Through the ORM (``DBAPIError``) or on plain asyncpg (``PostgresError``) alike."""
    try:
        yield
    except (DBAPIError, asyncpg.PostgresError) as exc:
        if is_exclusion_violation(exc) or is_contention_abort(exc):
            raise slot_refused(Unavailable.SLOT_TAKEN) from None
        raise


def _tiers(appointment: Appointment) -> list[CancellationTier]:
    return [
        CancellationTier(timedelta(minutes=t["min_notice_minutes"]), t["refund_percent"])
        for t in appointment.policy.get("cancellation_tiers", [])
    ]


async def needs_intake(session: AsyncSession, appointment: Appointment) -> bool:
    """First session with this specialist (no earlier confirmed one) and no form yet."""
    from booking.application.intake import has_intake_form  # the intake module imports this one

    earlier = (
        await session.exec(
            select(func.count())
            .select_from(Appointment)
            .where(
                Appointment.client_id == appointment.client_id,
                Appointment.specialist_id == appointment.specialist_id,
                Appointment.id != appointment.id,
                col(Appointment.status).in_([Status.CONFIRMED, Status.COMPLETED, Status.NO_SHOW]),
            )
        )
    ).one()
    if earlier:
        return False
    return not await has_intake_form(session, appointment.client_id, appointment.specialist_id)


# -- booking --------------------------------------------------------------------------------


async def book(
    uow: UnitOfWork,
    *,
    client_id: uuid.UUID,
    service_id: uuid.UUID,
    specialist_id: uuid.UUID,
    starts_at: datetime,
    duration_minutes: int | None,
    now: datetime,
    hold_for: timedelta,
    waitlist_offer_id: uuid.UUID | None = None,
) -> tuple[Appointment, Payment | None]:
    """Take a slot. Without prepayment the appointment is confirmed at once; with it, it is
    held until ``now + hold_for`` and a payment row waits to be sent to YooKassa (the caller
    does that after the commit, then :func:`announce_hold`)."""
    # On the unit's connection: a booking that needs no ORM (no stale hold, no waitlist offer,
    # no prepayment) never builds a session.
    context = await read_booking_context(
        await uow.connection(),
        service_id=service_id,
        specialist_id=specialist_id,
        client_id=client_id,
        starts_at=starts_at,
        now=now,
    )
    service, specialist = context.service, context.specialist
    if service is None:
        raise NotFound(Msg(ru="Такой услуги нет.", en="No such service."))
    if not context.client_verified:
        raise people.email_not_verified()
    if specialist is None or context.occupancy is None:
        raise NotFound(
            Msg(
                ru="Такой специалист эту услугу не оказывает.",
                en="No such specialist gives this service.",
            )
        )
    if specialist.user_id == client_id:
        raise people.own_slot()
    duration = duration_minutes or service.durations[0]
    if duration not in service.durations:
        raise validation_failed(
            [
                {
                    "loc": ["body", "duration_minutes"],
                    "msg": Msg(ru="такой продолжительности нет", en="not offered"),
                    "type": "value_error",
                }
            ],
            Msg(
                ru="Продолжительность этой услуги в минутах может быть только такой: "
                f"{', '.join(map(str, service.durations))}.",
                en=f"The service lasts one of {service.durations} minutes.",
            ),
        )
    held = service.prepayment_required
    if held and await receipt_customer(uow.session, client_id) is None:
        raise Conflict(
            Msg(
                ru="Ваши контактные данные ещё не дошли до сервиса записи (они нужны для чека); "
                "попробуйте ещё раз через минуту.",
                en="Your contact details have not reached booking yet (a receipt needs them); "
                "try again in a moment.",
            ),
            code="client_unknown",
        )
    policy = slot_policy(service, duration)
    occupied = policy.occupied(starts_at)
    taken = await _occupancy_for_booking(
        uow, specialist, starts_at, occupied, now, taken=context.occupancy
    )
    reason = check_slot(taken.schedule, policy, taken.booked, now=now, start=starts_at)
    if reason is not None:
        raise slot_refused(reason)

    appointment = new_row(
        Appointment,
        id=uuid.uuid4(),
        client_id=client_id,
        specialist_id=specialist.user_id,
        service_id=service.id,
        service_name=service.name,
        specialist_name=specialist.display_name,
        specialist_time_zone=specialist.time_zone,
        format=service.format,
        duration_minutes=duration,
        price_amount=service.price_amount,
        buffer_before_minutes=service.buffer_before_minutes,
        buffer_after_minutes=service.buffer_after_minutes,
        starts_at=starts_at,
        ends_at=starts_at + policy.duration,
        occupied_from=occupied[0],
        occupied_until=occupied[1],
        status=Status.HELD if held else Status.CONFIRMED,
        hold_expires_at=now + hold_for if held else None,
        prepayment_required=held,
        policy={
            "cancellation_tiers": list(service.cancellation_tiers),
            "reschedule_min_notice_minutes": service.reschedule_min_notice_minutes,
            "max_reschedules": service.max_reschedules,
        },
        confirmed_at=None if held else now,
        waitlist_offer_id=waitlist_offer_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    # Offers for this time are locked (and withdrawn) before the row goes in: every path takes
    # offer locks before appointment rows, so a booking and an acceptance never deadlock.
    if context.offers_near or waitlist_offer_id is not None:
        await waitlist.time_taken(
            uow,
            specialist_id=specialist.user_id,
            occupied=occupied,
            now=now,
            accepted=waitlist_offer_id,
        )
    with _slot_taken_on_conflict():
        await uow.insert(appointment)
    if not held:
        uow.emit(
            AppointmentConfirmedV1(
                **appointment_facts(appointment),
                intake_required=context.intake_required,
                reschedule_count=0,
                waitlist_offer_id=waitlist_offer_id,
            )
        )
        return appointment, None
    payment = Payment(
        id=uuid.uuid4(),
        appointment_id=appointment.id,
        client_id=client_id,
        amount=service.price_amount,
        status="new",
        created_at=now,
        updated_at=now,
    )
    session = uow.session
    session.add(payment)
    assert appointment.hold_expires_at is not None
    await schedule_timer(
        session,
        kind=HOLD_EXPIRY,
        key=str(appointment.id),
        due_at=appointment.hold_expires_at,
        payload={"appointment_id": str(appointment.id)},
    )
    return appointment, payment


async def pay_again(uow: UnitOfWork, appointment: Appointment, now: datetime) -> Payment:
    """A new payment for a hold whose payment was declined, for the rest of the hold (its
    expiry does not move). YooKassa's ``canceled`` is final, so trying again needs a new one."""
    if appointment.status != Status.HELD or (
        appointment.hold_expires_at is not None and appointment.hold_expires_at <= now
    ):
        raise Conflict(
            Msg(
                ru="Время больше не закреплено за вами; выберите время заново.",
                en="The time is no longer held for you; please book again.",
            ),
            code="not_held",
        )
    if await live_payment(uow.session, appointment.id) is not None:
        raise Conflict(
            Msg(
                ru="Платёж уже открыт: оплатите его по ссылке из записи.",
                en="A payment is already open: pay it through the appointment's link.",
            ),
            code="payment_open",
        )
    previous = (
        await uow.session.exec(
            select(Payment)
            .where(Payment.appointment_id == appointment.id)
            .order_by(col(Payment.created_at).desc())
            .limit(1)
        )
    ).first()
    amount = previous.amount if previous is not None else appointment.price_amount
    payment = Payment(
        id=uuid.uuid4(),
        appointment_id=appointment.id,
        client_id=appointment.client_id,
        amount=amount,
        status="new",
        created_at=now,
        updated_at=now,
    )
    uow.session.add(payment)
    return payment


async def live_payment(session: AsyncSession, appointment_id: uuid.UUID) -> Payment | None:
    """The appointment's latest payment that may still take money."""
    return (
        await session.exec(
            select(Payment)
            .where(Payment.appointment_id == appointment_id, col(Payment.status).in_(OPEN_PAYMENT))
            .order_by(col(Payment.created_at).desc())
            .limit(1)
            .with_for_update()
        )
    ).first()


async def paid_payment(session: AsyncSession, appointment_id: uuid.UUID) -> Payment | None:
    """The payment that paid for the appointment (succeeded in time), if any."""
    return (
        await session.exec(
            select(Payment)
            .where(
                Payment.appointment_id == appointment_id,
                Payment.status == "succeeded",
                col(Payment.late).is_(False),
            )
            .with_for_update()
        )
    ).first()


async def _drop_open_payment(uow: UnitOfWork, appointment_id: uuid.UUID, now: datetime) -> None:
    """The appointment no longer needs its open payment: it shows ``canceled`` at once, and a
    timer due now makes sure YooKassa never keeps money for it."""
    payment = await live_payment(uow.session, appointment_id)
    if payment is None:
        return
    drop_payment(payment, now)
    if payment.provider_payment_id is not None:
        await watch_unwanted(uow.session, payment, due_at=now)


# -- transitions ----------------------------------------------------------------------------


async def expire(
    uow: UnitOfWork, appointment: Appointment, now: datetime, *, offer_to_waitlist: bool = True
) -> None:
    """An unpaid hold ran out: free the slot (offer it to the waitlist), cancel its payment."""
    _allowed(Action.EXPIRE, appointment)
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
        await waitlist.slot_freed(uow, appointment, now)


async def cancel(
    uow: UnitOfWork,
    appointment: Appointment,
    *,
    actor: Actor,
    reason: str | None,
    now: datetime,
) -> Refund | None:
    """Cancel a held or confirmed appointment; refund by the tiers (in full when the specialist
    or an admin cancels). Returns the refund started, if any."""
    _allowed(Action.CANCEL, appointment)
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
    await waitlist.slot_freed(uow, appointment, now)
    return refund


async def reschedule(
    uow: UnitOfWork,
    appointment: Appointment,
    *,
    starts_at: datetime,
    actor: Actor,
    now: datetime,
) -> None:
    """Move a confirmed appointment (the same row) to another free start, atomically: if the
    database refuses the new range the transaction rolls back and nothing moved."""
    _allowed(Action.RESCHEDULE, appointment)
    policy_snapshot: dict[str, Any] = appointment.policy
    refused = check_reschedule(
        notice=appointment.starts_at - now,
        count=appointment.reschedule_count,
        min_notice=timedelta(minutes=policy_snapshot["reschedule_min_notice_minutes"]),
        max_count=policy_snapshot["max_reschedules"],
        by_client=actor.role == "client",
    )
    if refused is not None:
        detail = (
            Msg(
                ru="Эту запись уже переносили столько раз, сколько позволяет услуга.",
                en="This appointment was already moved as often as the service allows.",
            )
            if refused.value == "reschedule_limit_reached"
            else Msg(
                ru="Переносить эту запись уже поздно.",
                en="It is too late to move this appointment.",
            )
        )
        raise Conflict(
            detail,
            code=refused.value,
            title=Msg(ru="Перенос невозможен", en="Reschedule refused"),
        )
    if starts_at == appointment.starts_at:
        raise Conflict(
            Msg(
                ru="Запись уже назначена на это время.",
                en="The appointment is already at this time.",
            ),
            code="same_time",
        )
    session = uow.session
    service = await session.get(ServiceOffering, appointment.service_id)
    specialist = await session.get(Specialist, appointment.specialist_id)
    if service is None or specialist is None:
        raise NotFound(
            Msg(
                ru="Этой услуги или этого специалиста больше нет.",
                en="The service or specialist no longer exists.",
            )
        )
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
    taken = await _occupancy_for_booking(
        uow, specialist, starts_at, occupied, now, exclude=appointment.id
    )
    reason = check_slot(taken.schedule, policy, taken.booked, now=now, start=starts_at)
    if reason is not None:
        raise slot_refused(reason)
    await waitlist.time_taken(uow, specialist_id=specialist.user_id, occupied=occupied, now=now)
    previous_start, previous_end = appointment.starts_at, appointment.ends_at
    appointment.starts_at, appointment.ends_at = starts_at, starts_at + policy.duration
    appointment.occupied_from, appointment.occupied_until = occupied
    appointment.reschedule_count += 1
    appointment.attendance_confirmed_at = None
    _touch(appointment, now)
    with _slot_taken_on_conflict():
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
        specialist_id=appointment.specialist_id,
        service_id=appointment.service_id,
        starts_at=previous_start,
        duration_minutes=appointment.duration_minutes,
        now=now,
    )


async def _mark(
    uow: UnitOfWork, appointment: Appointment, action: Action, actor: Actor, now: datetime
) -> None:
    _allowed(action, appointment)
    if now < appointment.starts_at:
        raise Conflict(
            Msg(ru="Сессия ещё не началась.", en="The session has not started yet."),
            code="too_early",
        )
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
    await uow.session.flush()
    count = (
        await uow.session.exec(
            select(func.count())
            .select_from(Appointment)
            .where(
                Appointment.client_id == appointment.client_id,
                Appointment.status == Status.NO_SHOW,
            )
        )
    ).one()
    assert actor.user_id is not None
    uow.emit(
        AppointmentNoShowV1(
            **appointment_facts(appointment),
            marked_by_user_id=actor.user_id,
            client_no_show_count=max(1, int(count)),
        )
    )


async def confirm_attendance(
    uow: UnitOfWork, appointment: Appointment, *, via: str, now: datetime
) -> bool:
    """The client says they will come; ``False`` if they already had."""
    _allowed(Action.CONFIRM_ATTENDANCE, appointment)
    if now >= appointment.ends_at:
        raise Conflict(
            Msg(ru="Сессия уже закончилась.", en="The session is over."), code="too_late"
        )
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

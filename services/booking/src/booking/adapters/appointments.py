"""Queries over appointments and their payments: the locks every change takes, the lists the
API reads, whether a client owes an intake form, and the database's refusals of a range.

Lock order: an appointment is locked before its payment, on every path (booking, expiry,
cancellation, payments applied, timers); :func:`lock_with_payment` is that order, written once.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime

import asyncpg
from servicekit.http.pagination import keyset_page
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Appointment, Client, Payment
from booking.domain.appointments import SESSIONS, Status
from booking.domain.payments import OPEN_PAYMENT, shown_order

#: SQLSTATE of an exclusion-constraint violation.
EXCLUSION_VIOLATION = "23P01"


def _has_sqlstate(exc: BaseException, *states: str) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlstate", None) in states:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def is_exclusion_violation(exc: BaseException) -> bool:
    """True when a database error is the no-overlap constraint refusing a row."""
    return _has_sqlstate(exc, EXCLUSION_VIOLATION)


def is_contention_abort(exc: BaseException) -> bool:
    """True when PostgreSQL aborted the insert because concurrent inserts of overlapping
    ranges waited on each other (deadlock, 40P01): the slot is contested, one of them wins."""
    return _has_sqlstate(exc, "40P01")


# -- locks ----------------------------------------------------------------------------------


async def lock_appointment(session: AsyncSession, appointment_id: uuid.UUID) -> Appointment | None:
    """The appointment, locked for this transaction (transitions never interleave)."""
    return (
        await session.exec(
            select(Appointment)
            .where(Appointment.id == appointment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()


async def lock_with_payment(
    session: AsyncSession, payment_id: uuid.UUID
) -> tuple[Appointment, Payment] | None:
    """A payment and its appointment, both locked and read afresh: the appointment first, then
    the payment (the order every path takes). ``None`` when there is no such payment."""
    payment = await session.get(Payment, payment_id)
    if payment is None:
        return None
    appointment = await lock_appointment(session, payment.appointment_id)
    locked = (
        await session.exec(
            select(Payment)
            .where(Payment.id == payment_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).one()
    assert appointment is not None  # a payment's appointment is never deleted
    return appointment, locked


async def live_payment(session: AsyncSession, appointment_id: uuid.UUID) -> Payment | None:
    """The appointment's latest payment that may still take money, locked (the appointment
    must be locked already)."""
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
    """The payment that paid for the appointment (succeeded in time), if any, locked (the
    appointment must be locked already)."""
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


# -- lists ----------------------------------------------------------------------------------


async def appointments_page(
    session: AsyncSession,
    *,
    client_id: uuid.UUID | None = None,
    specialist_id: uuid.UUID | None = None,
    statuses: Collection[str] | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Appointment], str | None]:
    """A page of a client's appointments or a specialist's calendar, by start (then id): a
    calendar reads in time order, and the order is stable."""
    query = select(Appointment)
    if client_id is not None:
        query = query.where(Appointment.client_id == client_id)
    if specialist_id is not None:
        query = query.where(Appointment.specialist_id == specialist_id)
    if statuses:
        query = query.where(col(Appointment.status).in_(list(statuses)))
    if start is not None:
        query = query.where(col(Appointment.starts_at) >= start)
    if end is not None:
        query = query.where(col(Appointment.starts_at) < end)
    return await keyset_page(
        session,
        query,
        order=col(Appointment.starts_at),
        tiebreak=col(Appointment.id),
        limit=limit,
        cursor=cursor,
    )


async def latest_payments(
    session: AsyncSession, appointment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Payment]:
    """Each appointment's payment its client sees (:func:`booking.domain.payments.shown_order`)."""
    if not appointment_ids:
        return {}
    rows = (
        await session.exec(
            select(Payment).where(col(Payment.appointment_id).in_(list(appointment_ids)))
        )
    ).all()
    ordered = sorted(rows, key=lambda r: shown_order(r.created_at, r.status))
    return {row.appointment_id: row for row in ordered}


async def client_names(
    session: AsyncSession, client_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The names booking knows of these clients."""
    if not client_ids:
        return {}
    rows = (await session.exec(select(Client).where(col(Client.user_id).in_(client_ids)))).all()
    return {c.user_id: c.name for c in rows}


# -- intake ---------------------------------------------------------------------------------

_SESSIONS = ", ".join(f"'{s.value}'" for s in sorted(SESSIONS))


def intake_required_sql(client: str, specialist: str, exclude: str = "NULL") -> str:
    """A boolean SQL expression: the client (SQL ``client``) owes the specialist (``specialist``)
    an intake form — no other appointment with them is a session
    (:data:`booking.domain.appointments.SESSIONS`; ``exclude`` is the appointment asking) and
    no form was given. The one statement of the rule, used in one round trip with a booking's
    other reads (``read_booking_context``) and on its own (:func:`intake_required`)."""
    return f"""(NOT EXISTS(SELECT 1 FROM appointments a
                   WHERE a.client_id = {client} AND a.specialist_id = {specialist}
                     AND a.status IN ({_SESSIONS})
                     AND a.id IS DISTINCT FROM {exclude}::uuid)
       AND NOT EXISTS(SELECT 1 FROM intake_forms f
                      WHERE f.client_id = {client} AND f.specialist_id = {specialist}))"""


INTAKE_REQUIRED_SQL = f"SELECT {intake_required_sql('$1', '$2', '$3')}"


async def intake_required(conn: asyncpg.Connection, appointment: Appointment) -> bool:
    """Whether ``appointment`` is the client's first session with its specialist and they
    have not given them an intake form."""
    return bool(
        await conn.fetchval(
            INTAKE_REQUIRED_SQL,
            appointment.client_id,
            appointment.specialist_id,
            appointment.id,
        )
    )


# -- what a booking finds in its way --------------------------------------------------------


async def lock_booking_day(conn: asyncpg.Connection, specialist_id: uuid.UUID, day: date) -> None:
    """Bookings of one specialist's capped local day take turns (a transaction-level advisory
    lock): a cap counts the whole day, which no constraint can check."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        f"booking-day:{specialist_id}:{day.isoformat()}",
    )


async def stale_holds(
    session: AsyncSession,
    specialist_id: uuid.UUID,
    occupied: tuple[datetime, datetime],
    now: datetime,
) -> Sequence[Appointment]:
    """Holds overlapping ``occupied`` past their expiry whose timer has not fired yet, locked;
    not those whose payment YooKassa has (it may have been paid in time: only the expiry
    timer, which asks YooKassa first, may end such a hold)."""
    at_provider = (
        select(Payment.id)
        .where(
            Payment.appointment_id == Appointment.id,
            col(Payment.provider_payment_id).is_not(None),
            col(Payment.status).in_(OPEN_PAYMENT),
        )
        .exists()
    )
    return (
        await session.exec(
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


async def no_show_count(session: AsyncSession, client_id: uuid.UUID) -> int:
    """How many of the client's appointments are marked no-shows (pending changes included)."""
    count = (
        await session.exec(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.client_id == client_id, Appointment.status == Status.NO_SHOW)
        )
    ).one()
    return int(count)

"""content's copy of booking's appointments: who is whose client, and the sessions a client's
trend shows beside their scores (ids and times only: nothing personal is copied).

A person is a specialist's client once an appointment between them has been confirmed (paid or
booked without prepayment), whatever happened to it later; a hold that expired or was
cancelled before confirmation makes nobody a client.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.booking.v1 import AppointmentFacts
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Appointment

#: Statuses a trend shows: sessions planned or held (not holds, expiries or cancellations).
SHOWN = ("confirmed", "completed", "no_show")


async def remember(
    uow: UnitOfWork,
    facts: AppointmentFacts,
    *,
    status: str,
    confirmed: bool,
    at: datetime,
) -> None:
    """Replace the copy with the state an event reports (an older event arriving late changes
    nothing)."""
    row = await uow.session.get(Appointment, facts.appointment_id, with_for_update=True)
    if row is not None and row.changed_at > at:
        return
    if row is None:
        uow.session.add(
            Appointment(
                appointment_id=facts.appointment_id,
                client_id=facts.client_id,
                specialist_id=facts.specialist_id,
                starts_at=facts.starts_at,
                ends_at=facts.ends_at,
                status=status,
                confirmed=confirmed,
                changed_at=at,
            )
        )
        return
    row.client_id, row.specialist_id = facts.client_id, facts.specialist_id
    row.starts_at, row.ends_at = facts.starts_at, facts.ends_at
    row.status = status
    row.confirmed = row.confirmed or confirmed
    row.changed_at = at


async def is_client_of(
    session: AsyncSession, client_id: uuid.UUID, specialist_id: uuid.UUID
) -> bool:
    """Whether ``client_id`` has (or had) a confirmed appointment with ``specialist_id``."""
    found = (
        await session.exec(
            select(Appointment.appointment_id)
            .where(
                Appointment.client_id == client_id,
                Appointment.specialist_id == specialist_id,
                col(Appointment.confirmed).is_(True),
            )
            .limit(1)
        )
    ).first()
    return found is not None


async def sessions_of(
    session: AsyncSession, client_id: uuid.UUID, specialist_id: uuid.UUID | None = None
) -> list[Appointment]:
    """A client's planned and held sessions, oldest first (with one specialist when given)."""
    query = select(Appointment).where(
        Appointment.client_id == client_id, col(Appointment.status).in_(SHOWN)
    )
    if specialist_id is not None:
        query = query.where(Appointment.specialist_id == specialist_id)
    rows = await session.exec(query.order_by(col(Appointment.starts_at)))
    return list(rows.all())

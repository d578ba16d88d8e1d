"""Queries over appointments that the domain's slot rules need."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Appointment
from booking.domain.appointments import OCCUPYING, Status
from booking.domain.slots import Booked

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


async def booked_for(
    session: AsyncSession,
    specialist_id: uuid.UUID,
    window_from: datetime,
    window_to: datetime,
    *,
    now: datetime,
    exclude: uuid.UUID | None = None,
) -> list[Booked]:
    """What occupies the specialist's time around the window (a day either side, for caps).

    A hold whose expiry has passed no longer counts, even before its timer has fired: booking
    expires it in the same transaction that takes its slot.
    """
    query = select(
        Appointment.starts_at, Appointment.occupied_from, Appointment.occupied_until
    ).where(
        Appointment.specialist_id == specialist_id,
        col(Appointment.status).in_([s.value for s in OCCUPYING]),
        col(Appointment.occupied_until) > window_from - timedelta(days=1),
        col(Appointment.occupied_from) < window_to + timedelta(days=1),
        or_(col(Appointment.status) != Status.HELD, col(Appointment.hold_expires_at) > now),
    )
    if exclude is not None:
        query = query.where(Appointment.id != exclude)
    rows = (await session.exec(query)).all()
    return [Booked(s, f, u) for s, f, u in rows]

"""A specialist's schedule beyond the weekly hours: other hours on a date, and time off."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork

from booking.adapters.tables import ScheduleOverride, TimeOff


class OverrideNotFound(DomainError):
    """The date has no override."""

    code = "not_found"


class TimeOffNotFound(DomainError):
    """No such time off of this specialist."""

    code = "not_found"


async def set_override(
    uow: UnitOfWork,
    specialist_id: uuid.UUID,
    on_date: date,
    *,
    hours: list[dict[str, Any]] | None,
    daily_cap: int | None,
    note: str | None,
) -> ScheduleOverride:
    """Other hours (``[]``: a day off; ``None``: the weekly ones) or cap on one local date."""
    row = await uow.session.get(ScheduleOverride, (specialist_id, on_date))
    if row is None:
        row = ScheduleOverride(specialist_id=specialist_id, on_date=on_date)
        uow.session.add(row)
    row.hours, row.daily_cap, row.note = hours, daily_cap, note
    return row


async def remove_override(uow: UnitOfWork, specialist_id: uuid.UUID, on_date: date) -> None:
    """Back to the weekly hours on that date."""
    row = await uow.session.get(ScheduleOverride, (specialist_id, on_date))
    if row is None:
        raise OverrideNotFound()
    await uow.session.delete(row)


async def add_time_off(
    uow: UnitOfWork,
    specialist_id: uuid.UUID,
    *,
    starts_at: datetime,
    ends_at: datetime,
    reason: str | None,
    now: datetime,
) -> TimeOff:
    """A span the specialist does not work (its reason is private)."""
    row = TimeOff(
        id=uuid.uuid4(),
        specialist_id=specialist_id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        created_at=now,
    )
    uow.session.add(row)
    return row


async def remove_time_off(
    uow: UnitOfWork, specialist_id: uuid.UUID, time_off_id: uuid.UUID
) -> None:
    """The specialist works that span after all."""
    row = await uow.session.get(TimeOff, time_off_id)
    if row is None or row.specialist_id != specialist_id:
        raise TimeOffNotFound()
    await uow.session.delete(row)

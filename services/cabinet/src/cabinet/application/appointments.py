"""cabinet's copy of booking's appointments (ids and times only): who is whose client, what a
diary entry may point at, the sessions on the mood trend's axis.

A person is a specialist's client once an appointment between them was confirmed, whatever
happened to it later; a hold that expired or was cancelled unconfirmed makes nobody a client.
"""

from __future__ import annotations

from datetime import datetime

from contracts.booking.v1 import AppointmentFacts
from servicekit.messaging.outbox import UnitOfWork

from cabinet.adapters.tables import AppointmentCopy


async def remember(
    uow: UnitOfWork, facts: AppointmentFacts, *, status: str, confirmed: bool, at: datetime
) -> None:
    """Replace the copy with the state an event reports (an older event arriving late changes
    nothing)."""
    row = await uow.session.get(AppointmentCopy, facts.appointment_id, with_for_update=True)
    if row is not None and row.changed_at > at:
        return
    if row is None:
        uow.session.add(
            AppointmentCopy(
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
    uow.session.add(row)

"""Who may read a client's health data besides the client: their specialist, with consent.

A specialist reads a client's runs and trend only for their own clients (a confirmed
appointment between them, in content's copy of booking's appointments; anyone else is 404) and
only while the client's health-data and transfer-to-the-specialist consents count (403
``consent_required`` otherwise).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.application import appointments, consents
from content.application.callers import Caller
from content.application.refusals import ClientNotFound


async def is_their_specialist(session: AsyncSession, caller: Caller, client_id: uuid.UUID) -> bool:
    """Whether ``caller`` is a specialist ``client_id`` has had a confirmed appointment with."""
    return caller.specialist and await appointments.is_client_of(session, client_id, caller.user_id)


async def require_client_data_access(
    session: AsyncSession, caller: Caller, client_id: uuid.UUID, now: datetime
) -> None:
    """The client themselves, or their specialist with the client's consent."""
    if caller.user_id == client_id:
        return
    if not await is_their_specialist(session, caller, client_id):
        raise ClientNotFound()
    await consents.require_sharing_with_specialist(session, client_id, now)

"""notify's copies of what other services know of people and appointments: queries.

Recipients (contacts, zone, language, roles) and consents come from cabinet's events,
appointments from booking's; preferences are notify's own.
"""

from __future__ import annotations

import uuid

from servicekit.security.fields import blind_index
from sqlalchemy import Text, cast
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import (
    AppointmentCopy,
    Consent,
    Preference,
    Recipient,
    TelegramChat,
)
from notify.domain.crisis import SeenAppointment


async def reach_of(
    session: AsyncSession, user_id: uuid.UUID
) -> tuple[Recipient | None, Preference | None, TelegramChat | None]:
    """A user's contacts, preferences and linked chat, in one round trip."""
    row = (
        await session.exec(
            select(Recipient, Preference, TelegramChat)
            .outerjoin(Preference, col(Preference.user_id) == col(Recipient.user_id))
            .outerjoin(TelegramChat, col(TelegramChat.user_id) == col(Recipient.user_id))
            .where(Recipient.user_id == user_id)
        )
    ).first()
    if row is None:
        return None, None, None
    recipient, prefs, chat = row
    return recipient, prefs, chat


async def admin_ids(session: AsyncSession) -> list[uuid.UUID]:
    """The users cabinet says are admins (notify's copy of their roles)."""
    found = await session.exec(
        select(Recipient.user_id)
        .where(cast(Recipient.roles, Text).like('%"admin"%'))
        .order_by(col(Recipient.user_id))
    )
    return list(found.all())


async def recipients_with_email(session: AsyncSession, email: str) -> list[Recipient]:
    """The recipients with this address (by its blind index: no plaintext look-up)."""
    index = blind_index(email, kind="email")
    return list((await session.exec(select(Recipient).where(Recipient.email_index == index))).all())


async def readers_of(session: AsyncSession, language: str, purpose: str) -> list[uuid.UUID]:
    """Users of ``language`` who granted the consent ``purpose``."""
    readers = await session.exec(
        select(Recipient.user_id)
        .join(Consent, col(Consent.user_id) == col(Recipient.user_id))
        .where(
            Consent.purpose == purpose,
            col(Consent.granted).is_(True),
            Recipient.language == language,
        )
    )
    return list(readers.all())


async def appointments_of_client(
    session: AsyncSession, client_id: uuid.UUID
) -> list[SeenAppointment]:
    """Every appointment of the client notify knows of (specialist, status, start)."""
    found = await session.exec(
        select(
            AppointmentCopy.specialist_id, AppointmentCopy.status, AppointmentCopy.starts_at
        ).where(AppointmentCopy.client_id == client_id)
    )
    return [SeenAppointment(specialist, status, starts) for specialist, status, starts in found]

"""notify's copies of what other services know of people and appointments: queries.

Recipients (contacts, zone, language, roles) and consents come from cabinet's events,
appointments from booking's; preferences are notify's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

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

Reach = tuple[Recipient | None, Preference | None, TelegramChat | None]


async def reach_of(session: AsyncSession, user_id: uuid.UUID) -> Reach:
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


async def reach_of_many(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Reach]:
    """:func:`reach_of` for many users in one round trip (``(None, None, None)``: unknown)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = await session.exec(
        select(Recipient, Preference, TelegramChat)
        .outerjoin(Preference, col(Preference.user_id) == col(Recipient.user_id))
        .outerjoin(TelegramChat, col(TelegramChat.user_id) == col(Recipient.user_id))
        .where(col(Recipient.user_id).in_(ids))
    )
    found: dict[uuid.UUID, Reach] = {r.user_id: (r, p, c) for r, p, c in rows}
    return {u: found.get(u, (None, None, None)) for u in ids}


async def appointment_copies(
    session: AsyncSession, appointment_ids: Iterable[uuid.UUID], *, share: bool = False
) -> dict[uuid.UUID, AppointmentCopy | None]:
    """notify's copies of these appointments, locked for update (``share``: for share) in id
    order, in one round trip (``None``: not known yet)."""
    ids = sorted(set(appointment_ids))
    if not ids:
        return {}
    rows = await session.exec(
        select(AppointmentCopy)
        .where(col(AppointmentCopy.appointment_id).in_(ids))
        .order_by(col(AppointmentCopy.appointment_id))
        .with_for_update(read=share)
        .execution_options(populate_existing=True)
    )
    found = {c.appointment_id: c for c in rows}
    return {a: found.get(a) for a in ids}


async def appointment_clients(
    session: AsyncSession, appointment_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """The clients of these appointments (unlocked: to read their reach with the copies)."""
    ids = list(set(appointment_ids))
    if not ids:
        return set()
    found = await session.exec(
        select(AppointmentCopy.client_id).where(col(AppointmentCopy.appointment_id).in_(ids))
    )
    return set(found.all())


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

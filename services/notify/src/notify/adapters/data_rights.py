"""The queries behind notify's answers to data-subject requests (notify.application.
data_rights): each user's rows per table as JSON-ready dicts (decrypted), and the statements
that delete or anonymise them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from servicekit.data_rights import iso, write
from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import (
    AppointmentCopy,
    Consent,
    CrisisAlert,
    CrisisRun,
    DeepLink,
    Delivery,
    Preference,
    Recipient,
    TelegramButton,
    TelegramChat,
    TelegramMessage,
    TelegramTap,
)

Rows = list[dict[str, Any]]


async def recipient_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """notify's copy of the user's contacts, zone and language."""
    r = await session.get(Recipient, user_id)
    if r is None:
        return []
    return [
        {
            "user_id": str(r.user_id),
            "email": r.email,
            "name": r.name,
            "phone": r.phone,
            "time_zone": r.time_zone,
            "language": r.language,
            "updated_at": iso(r.updated_at),
        }
    ]


async def preference_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The user's notification preferences and consents copy."""
    found: Rows = []
    p = await session.get(Preference, user_id)
    if p is not None:
        found.append(
            {
                "channels": list(p.channels),
                "quiet_start": iso(p.quiet_start),
                "quiet_end": iso(p.quiet_end),
                "unsubscribed_at": iso(p.unsubscribed_at),
            }
        )
    for c in (await session.exec(select(Consent).where(Consent.user_id == user_id))).all():
        found.append({"consent": c.purpose, "granted": c.granted, "changed_at": iso(c.changed_at)})
    return found


async def telegram_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The Telegram chat linked to the user."""
    chats = (await session.exec(select(TelegramChat).where(TelegramChat.user_id == user_id))).all()
    return [
        {
            "chat_id": c.chat_id,
            "username": c.username,
            "linked_at": iso(c.linked_at),
            "unreachable_at": iso(c.unreachable_at),
        }
        for c in chats
    ]


async def delivery_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """Every message planned or sent to the user, with what it said (its context)."""
    rows = (
        await session.exec(
            select(Delivery)
            .where(Delivery.user_id == user_id)
            .order_by(col(Delivery.created_at), col(Delivery.id))
        )
    ).all()
    return [
        {
            "id": str(d.id),
            "channel": d.channel,
            "template": d.template,
            "category": d.category,
            "language": d.language,
            "recipient": d.recipient,
            "status": d.status,
            "created_at": iso(d.created_at),
            "sent_at": iso(d.sent_at),
            "context": json.loads(d.context),
        }
        for d in rows
    ]


async def crisis_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """Crisis flags of the user's questionnaires and whom they alerted."""
    runs = (await session.exec(select(CrisisRun).where(CrisisRun.client_id == user_id))).all()
    return [
        {
            "run_id": str(r.run_id),
            "questionnaire_code": r.questionnaire_code,
            "completed_at": iso(r.completed_at),
            "route": r.route,
        }
        for r in runs
    ]


async def delete_personal(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Delete everything notify keeps to reach the user (rows go: no ciphertext is left):
    contacts, preferences, consents copy, Telegram chat and its messages, deliveries (sent or
    still waiting: nothing more is sent), the appointments copy, deep links."""
    chats = select(TelegramChat.id).where(TelegramChat.user_id == user_id)
    await write(session, delete(TelegramMessage).where(col(TelegramMessage.chat_ref).in_(chats)))
    await write(session, delete(TelegramTap).where(col(TelegramTap.user_id) == user_id))
    await write(session, delete(TelegramButton).where(col(TelegramButton.user_id) == user_id))
    await write(session, delete(TelegramChat).where(col(TelegramChat.user_id) == user_id))
    await write(session, delete(Delivery).where(col(Delivery.user_id) == user_id))
    await write(session, delete(AppointmentCopy).where(col(AppointmentCopy.client_id) == user_id))
    await write(session, delete(DeepLink).where(col(DeepLink.user_id) == user_id))
    await write(session, delete(Preference).where(col(Preference.user_id) == user_id))
    await write(session, delete(Consent).where(col(Consent.user_id) == user_id))
    await write(session, delete(Recipient).where(col(Recipient.user_id) == user_id))


async def anonymise_crisis_audit(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The crisis audit stays (who was alerted, when, whether it reached them) with the client
    replaced by a random id; returns the alerts kept."""
    anonymous = uuid.uuid4()
    await write(
        session,
        update(CrisisRun).where(col(CrisisRun.client_id) == user_id).values(client_id=anonymous),
    )
    kept = await write(
        session,
        update(CrisisAlert)
        .where(col(CrisisAlert.client_id) == user_id)
        .values(client_id=anonymous)
        .returning(col(CrisisAlert.id)),
    )
    return len(kept.all())

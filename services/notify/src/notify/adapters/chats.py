"""Telegram chats, the messages the bot sent to them, their buttons and taps: queries.

A chat is found by the blind index of its Telegram id (:func:`notify.adapters.tables.chat_index`);
other rows point at the chat's surrogate id and never carry the Telegram id.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import TelegramChat, TelegramMessage, TelegramTap, chat_index


async def find_chat(
    session: AsyncSession, chat_id: int, *, for_update: bool = False
) -> TelegramChat | None:
    """The chat with Telegram id ``chat_id`` (found by its blind index), if notify knows it."""
    query = select(TelegramChat).where(TelegramChat.chat_index == chat_index(chat_id))
    if for_update:
        query = query.with_for_update()
    return (await session.exec(query)).first()


# The next free moment to send at, one for every sender (the row made by migration 0010). A
# ``next_free`` further ahead than any queue of senders could push it means a clock went back
# (a test's, a host's): it restarts from now rather than stall.
_RESERVE = text(
    """
    WITH slot AS (
        UPDATE telegram_pace
        SET next_free = greatest(
            CASE
                WHEN next_free > CAST(:now AS timestamptz) + interval '10 seconds'
                THEN CAST(:now AS timestamptz)
                ELSE next_free
            END,
            CAST(:now AS timestamptz)
        ) + CAST(:interval AS interval)
        WHERE id = 1
        RETURNING next_free - CAST(:interval AS interval) AS at
    ),
    chat AS (
        UPDATE telegram_chats SET last_sent_at = slot.at FROM slot
        WHERE telegram_chats.id = CAST(:chat_ref AS uuid)
    )
    SELECT at FROM slot
    """
)


async def reserve_send_slot(
    session: AsyncSession, chat_ref: uuid.UUID | None, *, now: datetime, interval: timedelta
) -> datetime:
    """When this message may go to Telegram: the next free moment of the bot's pace (at least
    ``interval`` after the one reserved before, by any process; ``now`` if that has passed).
    The chat's spacing counts from that moment. Run it last before the commit: the pace row
    stays locked until then."""
    connection = await session.connection()
    found = await connection.execute(
        _RESERVE, {"now": now, "interval": interval, "chat_ref": chat_ref}
    )
    at: datetime = found.scalar_one()
    return at


async def linked_chat(
    session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False
) -> TelegramChat | None:
    """The Telegram chat linked to a user, if any."""
    query = select(TelegramChat).where(TelegramChat.user_id == user_id)
    if for_update:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def let_go_other_chats(session: AsyncSession, user_id: uuid.UUID, keep: uuid.UUID) -> None:
    """Unlink every chat of ``user_id`` but the chat row ``keep`` (a user has one chat)."""
    await session.exec(
        update(TelegramChat)
        .where(col(TelegramChat.user_id) == user_id, col(TelegramChat.id) != keep)
        .values(user_id=None, linked_at=None)
    )


async def retire_buttons(
    session: AsyncSession, chat_ref: uuid.UUID, message_id: int | None = None
) -> None:
    """The buttons of one message of a chat (or of all its messages) stop working, and later
    events no longer edit those messages."""
    query = update(TelegramMessage).where(col(TelegramMessage.chat_ref) == chat_ref)
    if message_id is not None:
        query = query.where(col(TelegramMessage.message_id) == message_id)
    await session.exec(query.values(has_buttons=False))


async def messages_with_buttons(session: AsyncSession, ref: str) -> list[TelegramMessage]:
    """The bot's messages about ``ref`` that still carry buttons."""
    found = await session.exec(
        select(TelegramMessage).where(
            TelegramMessage.ref == ref, col(TelegramMessage.has_buttons).is_(True)
        )
    )
    return list(found.all())


async def tap_in_progress(session: AsyncSession, button_token: str) -> uuid.UUID | None:
    """The action a button requested that has no outcome yet, if any."""
    found = await session.exec(
        select(TelegramTap.action_id).where(
            TelegramTap.button_token == button_token, col(TelegramTap.outcome).is_(None)
        )
    )
    return found.first()

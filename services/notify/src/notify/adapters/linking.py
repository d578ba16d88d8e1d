"""Linking a Telegram chat to its owner's account, once the owner confirmed it in the app.

Runs in the caller's unit of work (the confirmation request's). See :mod:`notify.domain.linking`
for who may link and when.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from contracts.notify.v1 import TelegramLinkedV1
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import update
from sqlmodel import col, select

from notify.adapters.deliveries import move_pending_to_email, plan_chat_message
from notify.adapters.tables import DeepLink, Recipient, TelegramChat, TelegramMessage
from notify.context import NotifyContext
from notify.domain.linking import awaits_confirmation


def deeplink_ref(deeplink_id: uuid.UUID) -> str:
    """The ``ref`` of the bot's replies about one deep link (waiting, then linked)."""
    return f"deeplink:{deeplink_id}"


def chat_language(chat: TelegramChat, recipient: Recipient | None) -> str:
    """The account's language, else the Telegram client's (en or ru), else Russian."""
    if recipient is not None:
        return recipient.language
    return "en" if (chat.language_code or "").startswith("en") else "ru"


async def link_chat(
    uow: UnitOfWork, ctx: NotifyContext, chat: TelegramChat, link: DeepLink, now: datetime
) -> None:
    """Link ``chat`` to the owner of ``link``, publish ``notify.telegram.linked``, tell the chat.

    The owner's previous chat is let go. A chat that was another account's stops being it: what
    still waited to go there for that account goes by email, and its old buttons stop working.
    """
    assert link.user_id is not None
    user_id = link.user_id
    session = uow.session
    previous = chat.user_id
    if previous is not None and previous != user_id:
        await session.exec(
            update(TelegramMessage)
            .where(col(TelegramMessage.chat_ref) == chat.id)
            .values(has_buttons=False)
        )
        before = await session.get(Recipient, previous)
        await move_pending_to_email(uow, ctx, previous, before.email if before else None)
    await session.exec(
        update(TelegramChat)
        .where(col(TelegramChat.user_id) == user_id, col(TelegramChat.id) != chat.id)
        .values(user_id=None, linked_at=None)
    )
    chat.user_id = user_id
    chat.linked_at = now
    chat.unreachable_at = None
    session.add(chat)
    link.confirmed_at = now
    session.add(link)
    uow.emit(
        TelegramLinkedV1(
            user_id=user_id,
            telegram_chat_id=chat.chat_id,
            telegram_username=chat.username,
            deeplink_id=link.id,
        )
    )
    recipient = await session.get(Recipient, user_id)
    await plan_chat_message(
        uow,
        ctx,
        chat_id=chat.chat_id,
        template="bot_linked",
        context={"name": recipient.name if recipient else None},
        language=chat_language(chat, recipient),
        user_id=user_id,
        ref=deeplink_ref(link.id),
    )


async def confirm_link(
    uow: UnitOfWork, ctx: NotifyContext, *, owner: uuid.UUID, deeplink_id: uuid.UUID
) -> tuple[DeepLink, TelegramChat] | None:
    """The owner confirms the chat that opened their link: it is linked now. ``None`` when
    ``deeplink_id`` is not the owner's link waiting for confirmation (someone else's, not opened,
    already confirmed, or opened longer ago than the confirmation window)."""
    session = uow.session
    link = (
        await session.exec(select(DeepLink).where(DeepLink.id == deeplink_id).with_for_update())
    ).first()
    now = ctx.clock()
    if (
        link is None
        or link.user_id != owner
        or not awaits_confirmation(
            action=link.action,
            used_at=link.used_at,
            used_by_chat_ref=link.used_by_chat_ref,
            confirmed_at=link.confirmed_at,
            now=now,
            window=timedelta(minutes=ctx.settings.telegram_link_confirm_minutes),
        )
    ):
        return None
    chat = await session.get(TelegramChat, link.used_by_chat_ref, with_for_update=True)
    if chat is None:
        return None
    await link_chat(uow, ctx, chat, link, now)
    return link, chat

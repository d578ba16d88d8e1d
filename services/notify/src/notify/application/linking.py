"""Linking a Telegram chat to its owner's account, confirming it, and taking it back.

Who may link and when: :mod:`notify.domain.linking`. A chat that opened the owner's
``link_account`` link waits (``notify.application.bot``) until the owner confirms it here.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from contracts.notify.v1 import TelegramLinkedV1
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.chats import let_go_other_chats, linked_chat, retire_buttons
from notify.adapters.deeplinks import deeplink_for_update
from notify.adapters.tables import DeepLink, Recipient, TelegramChat
from notify.application.planning import move_pending_to_email, plan_chat_message
from notify.application.ports import NotifyPorts
from notify.domain.formatting import language_for
from notify.domain.linking import awaits_confirmation


class TelegramLinkNotPending(DomainError):
    """No chat that opened the owner's link waits for their confirmation (someone else's link,
    not opened, already confirmed, or opened longer ago than the confirmation window)."""

    code = "telegram_link_not_pending"


class TelegramNotLinked(DomainError):
    """The user has no linked Telegram chat."""

    code = "telegram_not_linked"


def deeplink_ref(deeplink_id: uuid.UUID) -> str:
    """The ``ref`` of the bot's replies about one deep link (waiting, then linked)."""
    return f"deeplink:{deeplink_id}"


async def _link_chat(
    uow: UnitOfWork, notify: NotifyPorts, chat: TelegramChat, link: DeepLink, now: datetime
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
        await retire_buttons(session, chat.id)
        before = await session.get(Recipient, previous)
        await move_pending_to_email(uow, notify, previous, before.email if before else None)
    await let_go_other_chats(session, user_id, keep=chat.id)
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
        notify,
        chat_id=chat.chat_id,
        template="bot_linked",
        context={"name": recipient.name if recipient else None},
        language=language_for(recipient.language if recipient else None, chat.language_code),
        user_id=user_id,
        ref=deeplink_ref(link.id),
    )


async def confirm_link(
    uow: UnitOfWork, notify: NotifyPorts, *, owner: uuid.UUID, deeplink_id: uuid.UUID
) -> tuple[DeepLink, TelegramChat]:
    """The owner confirms the chat that opened their link: it is linked now (committed)."""
    session = uow.session
    link = await deeplink_for_update(session, deeplink_id)
    now = notify.clock()
    if (
        link is None
        or link.user_id != owner
        or not awaits_confirmation(
            action=link.action,
            used_at=link.used_at,
            used_by_chat_ref=link.used_by_chat_ref,
            confirmed_at=link.confirmed_at,
            now=now,
            window=timedelta(minutes=notify.settings.telegram_link_confirm_minutes),
        )
    ):
        raise TelegramLinkNotPending
    chat = await session.get(TelegramChat, link.used_by_chat_ref, with_for_update=True)
    if chat is None:
        raise TelegramLinkNotPending
    await _link_chat(uow, notify, chat, link, now)
    await uow.commit()
    return link, chat


async def unlink(uow: UnitOfWork, notify: NotifyPorts, user_id: uuid.UUID) -> None:
    """The user takes their chat back: it is unlinked, its old buttons stop working (a tap needs
    a linked chat), later events no longer edit messages there, and what waited to go to it goes
    by email instead (committed)."""
    chat = await linked_chat(uow.session, user_id, for_update=True)
    if chat is None:
        raise TelegramNotLinked
    chat.user_id = None
    chat.linked_at = None
    uow.session.add(chat)
    await retire_buttons(uow.session, chat.id)
    recipient = await uow.session.get(Recipient, user_id)
    await move_pending_to_email(uow, notify, user_id, recipient.email if recipient else None)
    await uow.commit()

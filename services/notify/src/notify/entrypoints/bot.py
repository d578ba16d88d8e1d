"""The Telegram bot: an aiogram 3 Dispatcher fed by the webhook route.

Handlers run inside the webhook's unit of work (passed as ``uow``) and only write rows and
events: a reply is a delivery like any other message (sent by the ``deliver`` timer), so it is
logged, rate-limited and retried. A tap's short notice (``answerCallbackQuery``) is returned to
the route, which answers it after the commit.

- ``/start <payload>``: the one-time deep link's action, once; an unknown, used or expired
  payload gets a friendly reply and nothing else. No payload links a chat by itself: an account
  link waits for its owner's confirmation in the app (``POST /me/telegram/confirm``), and a
  waitlist offer from a mail opens only in the owner's linked chat.
- a tap on an inline button: its opaque callback data must belong to the tapping chat's user;
  then ``notify.telegram.action_requested`` is published.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, User
from contracts.notify.v1 import DeeplinkActivatedV1, TelegramActionRequestedV1
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import col, select

from notify.adapters.deliveries import find_chat, plan_chat_message
from notify.adapters.linking import deeplink_ref
from notify.adapters.tables import DeepLink, Recipient, TelegramButton, TelegramChat, TelegramTap
from notify.context import NotifyContext
from notify.domain import rules
from notify.domain.tokens import is_button_token, is_deeplink_payload, token_hash

logger = logging.getLogger("notify.bot")

TAP_ANSWERS = {
    "ru": {
        "sent": "Запрос отправлен",
        "pending": "Запрос уже обрабатывается",
        "invalid": "Эта кнопка больше не действует",
    },
    "en": {
        "sent": "Request sent",
        "pending": "Already being processed",
        "invalid": "This button no longer works",
    },
}


@dataclass(frozen=True)
class TapAnswer:
    """What to answer a callback query with, after the commit."""

    callback_query_id: str
    text: str


def language_of(user: User | None, recipient: Recipient | None = None) -> str:
    """The linked user's language, else the Telegram client's (en or ru), else Russian."""
    if recipient is not None:
        return recipient.language
    code = (user.language_code or "") if user else ""
    return "en" if code.startswith("en") else "ru"


async def remember_chat(uow: UnitOfWork, user: User, now: datetime) -> TelegramChat:
    """The chat row of a private chat (``chat.id == from.id``), created on first contact."""
    chat = await find_chat(uow.session, user.id, for_update=True)
    if chat is None:
        chat = TelegramChat.for_chat_id(user.id)
    chat.username = user.username
    chat.language_code = user.language_code
    chat.unreachable_at = None  # they write to the bot: it is not blocked (any more)
    uow.session.add(chat)
    return chat


def build_dispatcher() -> Dispatcher:
    """A Dispatcher with notify's handlers (one per runtime: aiogram routers have one parent)."""
    router = Router(name="notify")

    @router.message(CommandStart(deep_link=True))
    async def start_with_payload(
        message: Message, command: CommandObject, uow: UnitOfWork, ctx: NotifyContext
    ) -> None:
        await run_deeplink(message, command.args or "", uow, ctx)

    @router.message(CommandStart())
    async def start(message: Message, uow: UnitOfWork, ctx: NotifyContext) -> None:
        if message.from_user is None:
            return
        chat = await remember_chat(uow, message.from_user, ctx.clock())
        recipient = await uow.session.get(Recipient, chat.user_id) if chat.user_id else None
        await plan_chat_message(
            uow,
            ctx,
            chat_id=message.chat.id,
            template="bot_hello",
            context={},
            language=language_of(message.from_user, recipient),
            user_id=chat.user_id,
        )

    @router.callback_query()
    async def tap(query: CallbackQuery, uow: UnitOfWork, ctx: NotifyContext) -> TapAnswer:
        return await request_action(query, uow, ctx)

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def run_deeplink(message: Message, payload: str, uow: UnitOfWork, ctx: NotifyContext) -> None:
    """Run the action bound to ``payload`` once; otherwise only reply that the link is spent.

    No payload links the chat: a ``link_account`` link makes the chat wait for its owner's
    confirmation in the app, and a waitlist offer opens only in the owner's linked chat.
    """
    user = message.from_user
    if user is None or message.chat.type != "private":
        return
    now = ctx.clock()
    chat = await remember_chat(uow, user, now)
    link = None
    if is_deeplink_payload(payload):
        link = (
            await uow.session.exec(
                select(DeepLink).where(DeepLink.token_hash == token_hash(payload)).with_for_update()
            )
        ).first()
    if link is None or link.used_at is not None or link.expires_at <= now:
        await _link_spent(uow, ctx, chat, user)
        return
    if link.action == "waitlist_offer":
        await _open_offer(uow, ctx, chat, link, user, now)
        return
    _use(link, chat, now)
    if link.action == "link_account":
        await _await_confirmation(uow, ctx, chat, link, user)
    else:
        await _activated(uow, ctx, chat, link, user)


def _use(link: DeepLink, chat: TelegramChat, now: datetime) -> None:
    link.used_at = now
    link.used_by_chat_ref = chat.id


async def _link_spent(uow: UnitOfWork, ctx: NotifyContext, chat: TelegramChat, user: User) -> None:
    """The only answer to an unknown, used or expired payload."""
    recipient = await uow.session.get(Recipient, chat.user_id) if chat.user_id else None
    await plan_chat_message(
        uow,
        ctx,
        chat_id=chat.chat_id,
        template="bot_link_invalid",
        context={},
        language=language_of(user, recipient),
        user_id=chat.user_id,
    )


async def _await_confirmation(
    uow: UnitOfWork, ctx: NotifyContext, chat: TelegramChat, link: DeepLink, user: User
) -> None:
    """An account link was opened: the chat waits until the owner confirms it in the app.

    The reply names no one: whoever holds the token learns nothing of the account.
    """
    recipient = await uow.session.get(Recipient, chat.user_id) if chat.user_id else None
    await plan_chat_message(
        uow,
        ctx,
        chat_id=chat.chat_id,
        template="bot_link_pending",
        context={"minutes": ctx.settings.telegram_link_confirm_minutes},
        language=language_of(user, recipient),
        user_id=chat.user_id,
        ref=deeplink_ref(link.id),
    )


async def _open_offer(
    uow: UnitOfWork,
    ctx: NotifyContext,
    chat: TelegramChat,
    link: DeepLink,
    user: User,
    now: datetime,
) -> None:
    """A waitlist offer opened from its email: in the owner's linked chat, the offer with its
    Accept button (and the link is used up).

    A mail can be forwarded: in any other chat the link links nothing, acts on nothing and is
    not used up; the reply points to the offer's page on the site (which asks to log in).
    """
    assert link.user_id is not None and link.details is not None
    details: dict[str, Any] = json.loads(link.details)
    if chat.user_id != link.user_id:
        recipient = await uow.session.get(Recipient, chat.user_id) if chat.user_id else None
        page = f"{ctx.settings.app_base_url.rstrip('/')}/waitlist/offers/{link.waitlist_offer_id}"
        await plan_chat_message(
            uow,
            ctx,
            chat_id=chat.chat_id,
            template="bot_offer_elsewhere",
            context={},
            language=language_of(user, recipient),
            user_id=chat.user_id,
            buttons=(rules.Button("open", url=page),),
        )
        return
    _use(link, chat, now)
    _emit_activated(uow, chat, link, user)
    recipient = await uow.session.get(Recipient, link.user_id)
    offer = rules.Button(
        "accept", action="accept_waitlist_offer", waitlist_offer_id=link.waitlist_offer_id
    )
    await plan_chat_message(
        uow,
        ctx,
        chat_id=chat.chat_id,
        template="waitlist_offer",
        context={**details, "telegram_link": None},
        language=language_of(user, recipient),
        user_id=link.user_id,
        buttons=(offer,),
        ref=rules.offer_ref(link.waitlist_offer_id) if link.waitlist_offer_id else None,
    )


def _emit_activated(uow: UnitOfWork, chat: TelegramChat, link: DeepLink, user: User) -> None:
    uow.emit(
        DeeplinkActivatedV1(
            deeplink_id=link.id,
            action=link.action,
            source=link.source,
            campaign=link.campaign,
            user_id=chat.user_id,
            telegram_chat_id=chat.chat_id,
            telegram_user_id=user.id,
            telegram_username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
            language_code=user.language_code,
        )
    )


async def _activated(
    uow: UnitOfWork, ctx: NotifyContext, chat: TelegramChat, link: DeepLink, user: User
) -> None:
    """Attribution or start-booking: publish ``deeplink.activated`` and greet."""
    _emit_activated(uow, chat, link, user)
    recipient = await uow.session.get(Recipient, chat.user_id) if chat.user_id else None
    language = language_of(user, recipient)
    if link.action == "start_booking":
        query = "&".join(
            f"{name}={value}"
            for name, value in (("service", link.service_id), ("specialist", link.specialist_id))
            if value
        )
        url = f"{ctx.settings.app_base_url.rstrip('/')}/booking" + (f"?{query}" if query else "")
        await plan_chat_message(
            uow,
            ctx,
            chat_id=chat.chat_id,
            template="bot_start_booking",
            context={},
            language=language,
            user_id=chat.user_id,
            buttons=(rules.Button("book", url=url),),
        )
        return
    await plan_chat_message(
        uow,
        ctx,
        chat_id=chat.chat_id,
        template="bot_hello",
        context={},
        language=language,
        user_id=chat.user_id,
    )


async def request_action(query: CallbackQuery, uow: UnitOfWork, ctx: NotifyContext) -> TapAnswer:
    """A tap: check the button belongs to this chat's user, then publish the request."""
    user = query.from_user
    chat = await find_chat(uow.session, user.id)
    recipient = await uow.session.get(Recipient, chat.user_id) if chat and chat.user_id else None
    answers = TAP_ANSWERS[language_of(user, recipient)]
    data = query.data or ""
    button = (
        await uow.session.get(TelegramButton, data, with_for_update=True)
        if is_button_token(data)
        else None
    )
    message = query.message
    if (
        button is None
        or chat is None
        or chat.user_id != button.user_id
        or message is None
        or message.chat.id != chat.chat_id
    ):
        return TapAnswer(query.id, answers["invalid"])
    pending = (
        await uow.session.exec(
            select(TelegramTap.action_id).where(
                TelegramTap.button_token == button.token, col(TelegramTap.outcome).is_(None)
            )
        )
    ).first()
    if pending is not None:
        return TapAnswer(query.id, answers["pending"])
    action_id = uuid.uuid4()
    now = ctx.clock()
    button.used_at = now
    uow.session.add(button)
    uow.session.add(
        TelegramTap(
            action_id=action_id,
            button_token=button.token,
            user_id=button.user_id,
            chat_ref=chat.id,
            message_id=message.message_id,
            action=button.action,
            appointment_id=button.appointment_id,
            waitlist_offer_id=button.waitlist_offer_id,
            created_at=now,
        )
    )
    uow.emit(
        TelegramActionRequestedV1(
            action_id=action_id,
            action=button.action,
            user_id=button.user_id,
            appointment_id=button.appointment_id,
            waitlist_offer_id=button.waitlist_offer_id,
        )
    )
    return TapAnswer(query.id, answers["sent"])

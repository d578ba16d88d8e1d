"""The Telegram bot's entrypoint: ``POST /api/notify/telegram/webhook`` feeds aiogram's
Dispatcher, whose handlers hand each update to its use case (:mod:`notify.application.bot`).

Only requests with the right ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time) are
handled; anything else is 401 and touches nothing. An update is handled once: its ``update_id``
goes into the inbox in the same transaction as its effects, so Telegram's redelivery of an update
we already committed changes nothing. A tap's short notice (``answerCallbackQuery``) is answered
after the commit.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from dataclasses import dataclass
from typing import Annotated

from aiogram import Dispatcher, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, Update, User
from fastapi import APIRouter, Depends, Header, Request
from pydantic import ValidationError
from servicekit.http.deps import RuntimeDep, UowDep
from servicekit.http.inputs import json_document
from servicekit.http.problems import Msg, Problem, Unauthorized
from servicekit.messaging import inbox
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.rendering import tap_answer
from notify.application import bot
from notify.application.ports import NotifyPorts

logger = logging.getLogger("notify.webhook")

WEBHOOK_CONSUMER = "notify.telegram-webhook"
_UPDATES = uuid.UUID("6f1d8a52-3c1e-4a57-9a8e-7b1f5a0c2d11")


def update_key(bot_id: int, update_id: int) -> uuid.UUID:
    """A stable inbox key for one update of one bot."""
    return uuid.uuid5(_UPDATES, f"{bot_id}:{update_id}")


def _user(user: User) -> bot.TelegramUser:
    return bot.TelegramUser(
        id=user.id,
        username=user.username,
        first_name=user.first_name,
        last_name=user.last_name,
        language_code=user.language_code,
    )


@dataclass(frozen=True)
class _TapReply:
    """What to answer a callback query with, after the commit."""

    callback_query_id: str
    text: str


def _dispatcher() -> Dispatcher:
    """A Dispatcher with notify's handlers (one per runtime: aiogram routers have one parent).
    Each handler receives the webhook's unit of work and the runtime's ports."""
    router = Router(name="notify")

    @router.message(CommandStart(deep_link=True))
    async def start_with_payload(
        message: Message, command: CommandObject, uow: UnitOfWork, notify: NotifyPorts
    ) -> None:
        if message.from_user is None:
            return
        await bot.open_deeplink(
            uow,
            notify,
            _user(message.from_user),
            private=message.chat.type == "private",
            payload=command.args or "",
        )

    @router.message(CommandStart())
    async def start(message: Message, uow: UnitOfWork, notify: NotifyPorts) -> None:
        if message.from_user is not None:
            await bot.greet(uow, notify, _user(message.from_user), message.chat.id)

    @router.callback_query()
    async def tap(query: CallbackQuery, uow: UnitOfWork, notify: NotifyPorts) -> _TapReply:
        tapped = query.message
        answer = await bot.press_button(
            uow,
            notify,
            _user(query.from_user),
            data=query.data or "",
            message=(tapped.chat.id, tapped.message_id) if tapped is not None else None,
        )
        return _TapReply(query.id, tap_answer(answer.outcome, answer.language))

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


class TelegramBot:
    """The bot of one runtime: its Dispatcher, fed by the webhook."""

    def __init__(self, notify: NotifyPorts) -> None:
        self.notify = notify
        self.dispatcher = _dispatcher()

    def accepts(self, secret: str | None) -> bool:
        """Whether a webhook call carries the configured secret token."""
        expected = self.notify.settings.telegram_webhook_secret
        return secret is not None and hmac.compare_digest(secret.encode(), expected.encode())

    async def receive(self, uow: UnitOfWork, body: bytes) -> None:
        """Handle one update, once (committed); then answer a tap's notice."""
        telegram = self.notify.telegram
        try:
            update = Update.model_validate(json_document(body), context={"bot": telegram.bot})
        except (ValidationError, ValueError) as exc:
            raise Problem(
                Msg(ru="Это не обновление Telegram (Update).", en="Not a Telegram Update."),
                status=422,
                code="validation_failed",
            ) from exc
        fresh = await inbox.claim(
            uow.session,
            consumer=WEBHOOK_CONSUMER,
            event_id=update_key(telegram.bot.id, update.update_id),
            event_type="telegram.update",
        )
        if not fresh:
            return
        result = await self.dispatcher.feed_update(
            telegram.bot, update, uow=uow, notify=self.notify
        )
        await uow.commit()
        if isinstance(result, _TapReply):
            try:
                await telegram.answer_callback(result.callback_query_id, result.text)
            except Exception as exc:  # the tap is recorded; its notice is cosmetic
                logger.warning("answerCallbackQuery failed: %r", exc)


async def _bot_of(runtime: RuntimeDep) -> TelegramBot:
    found = getattr(runtime, "bot", None)
    if not isinstance(found, TelegramBot):
        raise TypeError("notify's runtime has no Telegram bot")
    return found


BotDep = Annotated[TelegramBot, Depends(_bot_of)]

router = APIRouter(prefix="/telegram", tags=["telegram"])


@router.post(
    "/webhook",
    summary="Telegram webhook (secret token required)",
    responses={401: {"description": "Wrong or missing secret token"}},
)
async def webhook(
    telegram_bot: BotDep,
    uow: UowDep,
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> dict[str, bool]:
    if not telegram_bot.accepts(secret):
        raise Unauthorized(
            Msg(ru="Секрет вебхука неверен или не указан.", en="Wrong or missing webhook secret.")
        )
    await telegram_bot.receive(uow, await request.body())
    return {"ok": True}

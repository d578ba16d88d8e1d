"""``POST /api/notify/telegram/webhook``: updates from Telegram, fed to the bot's Dispatcher.

Only requests with the right ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time) are
handled; anything else is 401 and touches nothing. An update is handled once: its ``update_id``
goes into the inbox in the same transaction as its effects, so Telegram's redelivery of an update
we already committed changes nothing.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from typing import Annotated

from aiogram.types import Update
from fastapi import APIRouter, Header, Request
from pydantic import ValidationError
from servicekit.http.deps import UowDep
from servicekit.http.inputs import json_document
from servicekit.http.problems import Msg, Problem, Unauthorized
from servicekit.messaging import inbox

from notify.api.deps import NotifyRuntimeDep
from notify.entrypoints.bot import TapAnswer

router = APIRouter(prefix="/telegram", tags=["telegram"])
logger = logging.getLogger("notify.webhook")

WEBHOOK_CONSUMER = "notify.telegram-webhook"
_UPDATES = uuid.UUID("6f1d8a52-3c1e-4a57-9a8e-7b1f5a0c2d11")


def update_key(bot_id: int, update_id: int) -> uuid.UUID:
    """A stable inbox key for one update of one bot."""
    return uuid.uuid5(_UPDATES, f"{bot_id}:{update_id}")


@router.post(
    "/webhook",
    summary="Telegram webhook (secret token required)",
    responses={401: {"description": "Wrong or missing secret token"}},
)
async def webhook(
    runtime: NotifyRuntimeDep,
    uow: UowDep,
    request: Request,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> dict[str, bool]:
    expected = runtime.notify.settings.telegram_webhook_secret
    if secret is None or not hmac.compare_digest(secret.encode(), expected.encode()):
        raise Unauthorized(
            Msg(ru="Секрет вебхука неверен или не указан.", en="Wrong or missing webhook secret.")
        )
    ctx = runtime.notify
    bot = ctx.bot
    try:
        document = json_document(await request.body())
        update = Update.model_validate(document, context={"bot": bot})
    except (ValidationError, ValueError) as exc:
        raise Problem(
            Msg(ru="Это не обновление Telegram (Update).", en="Not a Telegram Update."),
            status=422,
            code="validation_failed",
        ) from exc
    fresh = await inbox.claim(
        uow.session,
        consumer=WEBHOOK_CONSUMER,
        event_id=update_key(bot.id, update.update_id),
        event_type="telegram.update",
    )
    if not fresh:
        return {"ok": True}
    result = await runtime.dispatcher.feed_update(bot, update, uow=uow, ctx=ctx)
    await uow.commit()
    if isinstance(result, TapAnswer):
        try:
            await ctx.telegram.answer_callback(result.callback_query_id, result.text)
        except Exception as exc:  # the tap is recorded; its toast is cosmetic
            logger.warning("answerCallbackQuery failed: %r", exc)
    return {"ok": True}

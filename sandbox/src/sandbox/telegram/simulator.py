"""Simulated users: their messages and button taps become Updates POSTed to the bot's webhook.

Delivery is as Telegram does it: a POST of the Update JSON with
``X-Telegram-Bot-Api-Secret-Token: <secret_token from setWebhook>``. A non-2XX answer or a failed
connection leaves the update pending (``getWebhookInfo.pending_update_count``) with
``last_error_message`` set; :meth:`UserSimulator.redeliver` retries the pending ones. Without a
webhook, updates wait for ``getUpdates``. A 2XX answer carrying a Bot API call (``{"method":
"sendMessage", …}``) is executed, as Telegram does with webhook replies.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from sandbox.telegram.botapi import DEFAULT_ALLOWED_UPDATES, BotApi
from sandbox.telegram.formatting import utf16_len
from sandbox.telegram.models import (
    ActionResult,
    CallbackQueryRecord,
    ChatMessage,
    Delivery,
    RawUpdateAction,
    StartAction,
    TapAction,
    TextAction,
    WebhookSecret,
)
from sandbox.telegram.store import BotState, ChatState, TelegramStore

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
"""The header carrying ``setWebhook``'s ``secret_token`` on every delivery."""


class SimulationError(Exception):
    """A user action that cannot happen (unknown user, no such message or button)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def update_type(update: dict[str, Any]) -> str:
    """The kind of an Update: its one field besides ``update_id``."""
    return next((key for key in update if key != "update_id"), "other")


class UserSimulator:
    """Acts as users towards one fake's bots and delivers the resulting Updates."""

    def __init__(
        self,
        store: TelegramStore,
        api: BotApi,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.api = api
        self.timeout = timeout
        self.transport = transport

    # ----------------------------------------------------------------- actions

    async def start(self, bot: BotState, user_id: int, action: StartAction) -> ActionResult:
        """The user opens ``t.me/<bot>?start=<payload>``: a ``/start <payload>`` message."""
        text = f"/start {action.payload}" if action.payload else "/start"
        chat = self._chat(bot, user_id)
        chat.blocked = False
        return await self._user_message(bot, chat, text, action.webhook_secret)

    async def text(self, bot: BotState, user_id: int, action: TextAction) -> ActionResult:
        """The user sends a text message (a leading ``/command`` gets a bot_command entity)."""
        chat = self._chat(bot, user_id)
        return await self._user_message(bot, chat, action.text, action.webhook_secret)

    async def tap(self, bot: BotState, user_id: int, action: TapAction) -> ActionResult:
        """The user taps an inline button: a ``callback_query`` Update on that message."""
        chat = self._chat(bot, action.chat_id if action.chat_id is not None else user_id)
        if chat.chat_id != user_id:
            raise SimulationError(404, f"user {user_id} is not in chat {chat.chat_id}")
        message, button = self._find_button(chat, action)
        data = button["callback_data"]
        query_id = bot.next_callback_query_id()
        bot.callback_queries[query_id] = CallbackQueryRecord(
            id=query_id,
            user_id=user_id,
            chat_id=chat.chat_id,
            message_id=message.message_id,
            data=data,
            date=self.store.now(),
        )
        update = {
            "update_id": bot.next_update_id(),
            "callback_query": {
                "id": query_id,
                "from": chat.user.as_user(),
                "message": self.api.message_object(bot, chat, message),
                "chat_instance": bot.chat_instance(chat.chat_id),
                "data": data,
            },
        }
        result = await self.deliver(bot, update, action.webhook_secret)
        result.callback_query_id = query_id
        return result

    async def raw(self, bot: BotState, action: RawUpdateAction) -> ActionResult:
        """Deliver an Update built by the caller (``update_id`` filled in when missing)."""
        update = {"update_id": bot.next_update_id(), **action.update}
        return await self.deliver(bot, update, action.webhook_secret)

    async def redeliver(self, bot: BotState) -> list[ActionResult]:
        """Retry every pending update through the webhook, oldest first (Telegram's retry)."""
        if bot.webhook is None:
            raise SimulationError(409, "no webhook is set")
        pending = list(bot.pending_updates)
        bot.pending_updates.clear()
        return [await self.deliver(bot, update, "correct") for update in pending]

    # ----------------------------------------------------------------- delivery

    async def deliver(
        self, bot: BotState, update: dict[str, Any], secret: WebhookSecret = "correct"
    ) -> ActionResult:
        """POST ``update`` to the webhook (or queue it for getUpdates) and report what happened."""
        webhook = bot.webhook
        if webhook is None:
            bot.pending_updates.append(update)
            return ActionResult(update=update, delivery=None, queued=True)
        kind = update_type(update)
        if kind not in set(webhook.allowed_updates or DEFAULT_ALLOWED_UPDATES):
            return ActionResult(update=update, delivery=None, queued=False, filtered=True)

        sent_secret = {
            "correct": webhook.secret_token,
            "wrong": f"{webhook.secret_token or 'no'}-but-wrong",
            "missing": None,
        }[secret]
        headers = {"Content-Type": "application/json"}
        if sent_secret is not None:
            headers[SECRET_HEADER] = sent_secret
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        body: str | None = None
        reply: Any = None
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, transport=self.transport, trust_env=False
            ) as client:
                response = await client.post(
                    webhook.url,
                    content=json.dumps(update, ensure_ascii=False).encode(),
                    headers=headers,
                )
            status_code, body = response.status_code, response.text[:2000]
            if response.is_success:
                reply = _json_or_none(response)
            else:
                error = f"Wrong response from the webhook: {status_code} {response.reason_phrase}"
        except httpx.TimeoutException:
            error = "Read timeout expired"
        except httpx.HTTPError as exc:
            error = f"Connection failed: {exc}" if str(exc) else "Connection refused"
        delivery = Delivery(
            update_id=update["update_id"],
            update_type=kind,
            url=webhook.url,
            secret_sent=sent_secret,
            status_code=status_code,
            error=error,
            response_body=body,
            at=datetime.now(UTC),
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        queued = False
        if error is not None and secret == "correct":
            bot.pending_updates.append(update)
            bot.last_error_date = self.store.now()
            bot.last_error_message = error
            queued = True
        if isinstance(reply, dict) and isinstance(reply.get("method"), str):
            delivery.reply_method = reply["method"]
            params = {k: v for k, v in reply.items() if k != "method"}
            await self.api.call(bot, reply["method"], params)
        bot.add_delivery(delivery)
        return ActionResult(update=update, delivery=delivery, queued=queued)

    # ----------------------------------------------------------------- helpers

    def _chat(self, bot: BotState, user_id: int) -> ChatState:
        chat = self.store.chat(bot, user_id)
        if chat is None:
            raise SimulationError(404, f"no user {user_id}; create it with POST /_sandbox/users")
        return chat

    async def _user_message(
        self, bot: BotState, chat: ChatState, text: str, secret: WebhookSecret
    ) -> ActionResult:
        chat.started = True
        entities: list[dict[str, Any]] = []
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities.append({"offset": 0, "length": utf16_len(command), "type": "bot_command"})
        message = ChatMessage(
            message_id=chat.take_message_id(),
            chat_id=chat.chat_id,
            sender="user",
            date=self.store.now(),
            text=text,
            entities=entities,
            source_text=text,
            method="user",
        )
        chat.add(bot, message)
        update = {
            "update_id": bot.next_update_id(),
            "message": self.api.message_object(bot, chat, message),
        }
        result = await self.deliver(bot, update, secret)
        result.message = message
        return result

    def _find_button(
        self, chat: ChatState, action: TapAction
    ) -> tuple[ChatMessage, dict[str, Any]]:
        def matches(button: dict[str, Any]) -> bool:
            return "callback_data" in button and (
                (action.callback_data is None or button["callback_data"] == action.callback_data)
                and (action.button_text is None or button["text"] == action.button_text)
            )

        if action.message_id is not None:
            message = chat.find(action.message_id)
            if message is None or message.sender != "bot":
                raise SimulationError(
                    404, f"no bot message {action.message_id} in chat {chat.chat_id}"
                )
            candidates = [message]
        else:
            candidates = [
                m for m in reversed(chat.messages) if m.sender == "bot" and m.deleted_date is None
            ]
        for message in candidates:
            button = next((b for b in message.buttons() if matches(b)), None)
            if button is not None:
                return message, button
        wanted = action.callback_data if action.callback_data is not None else action.button_text
        where = f"message {action.message_id}" if action.message_id else "any bot message"
        raise SimulationError(
            422, f"no inline button {wanted!r} with callback_data on {where} in chat {chat.chat_id}"
        )


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None

"""The Bot API itself: ``/bot<token>/<METHOD>`` with Telegram's envelope, errors and semantics.

Methods: getMe, sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage,
answerCallbackQuery, setWebhook, deleteWebhook, getWebhookInfo, getUpdates (names are
case-insensitive). Unknown token: 401 ``Unauthorized``; unknown method: 404 ``Not Found``.
Queued :class:`TelegramFault` s answer before the method runs.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox.kit import MAX_WAIT_SECONDS, poll_until
from sandbox.telegram.formatting import EntityParseError, parse_text
from sandbox.telegram.models import ChatMessage, SendRecord, WebhookConfig
from sandbox.telegram.params import (
    BotApiError,
    bad_request,
    get_bool,
    get_int,
    get_json,
    get_str,
    read_params,
)
from sandbox.telegram.store import BotState, ChatState, TelegramStore, accepted_in_last_second

MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
DELETE_WINDOW_SECONDS = 48 * 3600
"""A bot may delete a message of a private chat (its own or the user's) for 48 hours."""
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
DEFAULT_ALLOWED_UPDATES = frozenset(
    {"message", "edited_message", "callback_query", "my_chat_member", "other"}
)
"""Update types a webhook gets when ``allowed_updates`` is empty (the fake's subset)."""

_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_SENDING_METHODS = ("sendmessage", "editmessagetext", "editmessagereplymarkup")


@dataclass
class Answer:
    """A result with the optional ``description`` Telegram adds (e.g. "Webhook was set")."""

    result: Any
    description: str | None = None


Handler = Callable[[BotState, dict[str, Any]], Answer | Awaitable[Answer]]


class BotApi:
    """The Bot API methods over one :class:`TelegramStore`."""

    def __init__(self, store: TelegramStore) -> None:
        self.store = store
        self.methods: dict[str, Handler] = {
            "getme": self.get_me,
            "sendmessage": self.send_message,
            "editmessagetext": self.edit_message_text,
            "editmessagereplymarkup": self.edit_message_reply_markup,
            "deletemessage": self.delete_message,
            "answercallbackquery": self.answer_callback_query,
            "setwebhook": self.set_webhook,
            "deletewebhook": self.delete_webhook,
            "getwebhookinfo": self.get_webhook_info,
            "getupdates": self.get_updates,
        }

    async def call(self, bot: BotState, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        """Run one method call; ``(http_status, envelope)`` exactly as Telegram would answer."""
        name = method.lower()
        handler = self.methods.get(name)
        if handler is None:
            return 404, BotApiError(404, "Not Found").envelope()
        try:
            fault = self.store.take_fault(bot, name, params.get("chat_id"))
            if fault is not None:
                raise BotApiError(
                    fault.error_code, fault.description or "Error", retry_after=fault.retry_after
                )
            answer = handler(bot, params)
            if not isinstance(answer, Answer):
                answer = await answer
        except BotApiError as error:
            self._record_send(bot, name, params, None, error.error_code)
            return error.error_code, error.envelope()
        self._record_send(bot, name, params, answer.result, None)
        if name in _SENDING_METHODS:
            for hook in list(self.store.accept_hooks):  # a test's fault at the worst moment
                await hook(_CANONICAL[name], answer.result)
        envelope: dict[str, Any] = {"ok": True, "result": answer.result}
        if answer.description:
            envelope["description"] = answer.description
        return 200, envelope

    def _record_send(
        self, bot: BotState, name: str, params: dict[str, Any], result: Any, error: int | None
    ) -> None:
        if name not in _SENDING_METHODS:
            return
        try:
            chat_id = get_int(params, "chat_id")
        except BotApiError:
            chat_id = None
        message_id = result.get("message_id") if isinstance(result, dict) else None
        bot.sends.append(
            SendRecord(
                at=self.store.clock(),
                method=_CANONICAL[name],
                chat_id=chat_id,
                message_id=message_id,
                error_code=error,
            )
        )

    # ----------------------------------------------------------------- messages

    def get_me(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``getMe``: the bot as a User."""
        return Answer(bot.identity.get_me())

    def send_message(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``sendMessage`` to a simulated user's private chat."""
        chat = self._chat(bot, params)
        self._check_rate(bot, chat.chat_id)
        if chat.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        if not chat.started:
            raise BotApiError(403, "Forbidden: bot can't initiate conversation with a user")
        text, entities, source, parse_mode = self._text(params)
        markup = self._reply_markup(params)
        now = self.store.now()
        message = ChatMessage(
            message_id=chat.take_message_id(),
            chat_id=chat.chat_id,
            sender="bot",
            date=now,
            text=text,
            entities=entities,
            source_text=source,
            parse_mode=parse_mode,
            reply_markup=markup if markup and "inline_keyboard" in markup else None,
            method="sendMessage",
        )
        chat.add(bot, message)
        return Answer(self.message_object(bot, chat, message))

    def edit_message_text(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``editMessageText``; without ``reply_markup`` the inline keyboard goes."""
        chat, message = self._message_to_edit(bot, params)
        text, entities, source, parse_mode = self._text(params)
        markup = self._inline_markup(params)
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        message.history.append(message.version())
        message.method = "editMessageText"
        message.text, message.entities = text, entities
        message.source_text, message.parse_mode = source, parse_mode
        message.reply_markup = markup
        message.edit_date = self.store.now()
        return Answer(self.message_object(bot, chat, message))

    def edit_message_reply_markup(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``editMessageReplyMarkup``; without ``reply_markup`` the keyboard is removed."""
        chat, message = self._message_to_edit(bot, params)
        markup = self._inline_markup(params)
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        message.history.append(message.version())
        message.method = "editMessageReplyMarkup"
        message.reply_markup = markup
        message.edit_date = self.store.now()
        return Answer(self.message_object(bot, chat, message))

    def delete_message(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``deleteMessage``: gone for the user; the inspection API keeps it, marked deleted."""
        chat = self._chat(bot, params)
        message_id = get_int(params, "message_id", missing="message identifier is not specified")
        assert message_id is not None
        message = chat.find(message_id)
        if message is None:
            raise bad_request("message to delete not found")
        if self.store.now() - message.date >= DELETE_WINDOW_SECONDS:
            raise bad_request("message can't be deleted")
        if chat.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        message.deleted_date = self.store.now()
        return Answer(True)

    def answer_callback_query(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``answerCallbackQuery``: once per tap, as Telegram allows."""
        query_id = get_str(params, "callback_query_id")
        record = bot.callback_queries.get(query_id or "")
        if record is None or record.answered:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = get_str(params, "text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        record.answer = {
            "text": text,
            "show_alert": get_bool(params, "show_alert"),
            "url": get_str(params, "url"),
            "cache_time": get_int(params, "cache_time") or 0,
        }
        return Answer(True)

    # ----------------------------------------------------------------- webhook and updates

    def set_webhook(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``setWebhook``; http:// and any port are allowed, the fake lives on the loopback."""
        url = get_str(params, "url") or ""
        if not url:
            return self._drop_webhook(bot, get_bool(params, "drop_pending_updates"))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("invalid webhook URL specified")
        secret = get_str(params, "secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = get_int(params, "max_connections") or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("invalid max_connections specified")
        allowed = get_json(params, "allowed_updates", error="can't parse allowed updates")
        if allowed is not None and not (
            isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)
        ):
            raise bad_request("can't parse allowed updates")
        if bot.webhook is not None and "allowed_updates" not in params:
            allowed = bot.webhook.allowed_updates
        if get_bool(params, "drop_pending_updates"):
            bot.pending_updates.clear()
        same = bot.webhook is not None and bot.webhook.url == url
        bot.webhook = WebhookConfig(
            url=url,
            secret_token=secret,
            allowed_updates=allowed,
            max_connections=max_connections,
            ip_address=get_str(params, "ip_address"),
            set_at=self.store.now(),
        )
        return Answer(True, "Webhook is already set" if same else "Webhook was set")

    def delete_webhook(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``deleteWebhook`` (``drop_pending_updates`` honoured)."""
        return self._drop_webhook(bot, get_bool(params, "drop_pending_updates"))

    def _drop_webhook(self, bot: BotState, drop_pending: bool) -> Answer:
        if drop_pending:
            bot.pending_updates.clear()
        if bot.webhook is None:
            return Answer(True, "Webhook is already deleted")
        bot.webhook = None
        return Answer(True, "Webhook was deleted")

    def get_webhook_info(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``getWebhookInfo``: the WebhookInfo object."""
        info: dict[str, Any] = {
            "url": bot.webhook.url if bot.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.pending_updates),
        }
        if bot.webhook is not None:
            info["max_connections"] = bot.webhook.max_connections
            if bot.webhook.ip_address:
                info["ip_address"] = bot.webhook.ip_address
            if bot.webhook.allowed_updates:
                info["allowed_updates"] = bot.webhook.allowed_updates
            if bot.last_error_date is not None:
                info["last_error_date"] = bot.last_error_date
                info["last_error_message"] = bot.last_error_message
        return Answer(info)

    async def get_updates(self, bot: BotState, params: dict[str, Any]) -> Answer:
        """``getUpdates`` long polling; 409 while a webhook is set."""
        if bot.webhook is not None:
            raise BotApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = get_int(params, "offset") or 0
        limit = min(max(get_int(params, "limit") or 100, 1), 100)
        timeout = float(get_int(params, "timeout") or 0)
        if offset > 0:
            bot.pending_updates[:] = [u for u in bot.pending_updates if u["update_id"] >= offset]
        elif offset < 0:
            del bot.pending_updates[:offset]
        updates = await poll_until(
            lambda: list(bot.pending_updates[:limit]), bool, min(timeout, MAX_WAIT_SECONDS)
        )
        return Answer(updates)

    # ----------------------------------------------------------------- helpers

    def message_object(
        self, bot: BotState, chat: ChatState, message: ChatMessage
    ) -> dict[str, Any]:
        """The Bot API ``Message`` object of a stored message."""
        sender = bot.identity.as_user() if message.sender == "bot" else chat.user.as_user()
        obj: dict[str, Any] = {
            "message_id": message.message_id,
            "from": sender,
            "chat": chat.user.as_chat(),
            "date": message.date,
        }
        if message.edit_date is not None:
            obj["edit_date"] = message.edit_date
        obj["text"] = message.text
        if message.entities:
            obj["entities"] = message.entities
        if message.reply_markup:
            obj["reply_markup"] = message.reply_markup
        return obj

    def _chat(self, bot: BotState, params: dict[str, Any]) -> ChatState:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(str(raw).strip())
        except ValueError as exc:
            raise bad_request("chat not found") from exc
        chat = self.store.chat(bot, chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _message_to_edit(
        self, bot: BotState, params: dict[str, Any]
    ) -> tuple[ChatState, ChatMessage]:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._chat(bot, params)
        message_id = get_int(params, "message_id", missing="message identifier is not specified")
        assert message_id is not None
        message = chat.find(message_id)
        if message is None:
            raise bad_request("message to edit not found")
        if message.sender != "bot":
            raise bad_request("message can't be edited")
        if chat.blocked:
            raise BotApiError(403, "Forbidden: bot was blocked by the user")
        return chat, message

    def _check_rate(self, bot: BotState, chat_id: int) -> None:
        limits = self.store.rate_limits
        if limits is None:
            return
        now = self.store.clock()
        sends = [s for s in bot.sends if s.method == "sendMessage"]
        over_all = limits.overall_per_second is not None and (
            accepted_in_last_second(sends, now, None) >= limits.overall_per_second
        )
        over_chat = limits.per_chat_per_second is not None and (
            accepted_in_last_second(sends, now, chat_id) >= limits.per_chat_per_second
        )
        if over_all or over_chat:
            raise BotApiError(
                429,
                f"Too Many Requests: retry after {limits.retry_after}",
                retry_after=limits.retry_after,
            )

    def _text(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]], str, str | None]:
        source = get_str(params, "text") or ""
        parse_mode = get_str(params, "parse_mode") or None
        given = get_json(params, "entities", error="can't parse entities JSON object")
        try:
            text, entities = parse_text(source, parse_mode)
        except EntityParseError as error:
            raise bad_request(str(error).removeprefix("Bad Request: ")) from error
        except ValueError as error:
            raise bad_request(f"unsupported parse_mode {parse_mode}") from error
        if given is not None and not parse_mode:
            if not isinstance(given, list) or not all(isinstance(e, dict) for e in given):
                raise bad_request("can't parse entities JSON object")
            entities = given
        if not text.strip():
            raise bad_request("message text is empty")
        if len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return text, entities, source, parse_mode

    def _reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = get_json(
            params, "reply_markup", error="can't parse reply keyboard markup JSON object"
        )
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            return {"inline_keyboard": _validate_inline_keyboard(markup["inline_keyboard"])}
        if not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup

    def _inline_markup(self, params: dict[str, Any]) -> dict[str, Any] | None:
        markup = self._reply_markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise bad_request("inline keyboard expected")
        if markup is not None and not markup["inline_keyboard"]:
            return None
        return markup


_CANONICAL = {
    "sendmessage": "sendMessage",
    "editmessagetext": "editMessageText",
    "editmessagereplymarkup": "editMessageReplyMarkup",
}


def _validate_inline_keyboard(rows: Any) -> list[list[dict[str, Any]]]:
    """Telegram's checks on an inline keyboard; returns it without null fields."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    clean: list[list[dict[str, Any]]] = []
    for row in rows:
        clean_row: list[dict[str, Any]] = []
        for button in row:
            if not isinstance(button, dict):
                raise bad_request(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            button = {k: v for k, v in button.items() if v is not None}
            if not isinstance(button.get("text"), str) or not button["text"]:
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = [a for a in _BUTTON_ACTIONS if a in button]
            if len(actions) != 1:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the "
                    "inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                size = len(data.encode()) if isinstance(data, str) else 0
                if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                parts = urlsplit(url) if isinstance(url, str) else None
                if (
                    parts is None
                    or parts.scheme not in ("http", "https", "tg")
                    or not (parts.netloc or parts.scheme == "tg")
                ):
                    raise bad_request(
                        f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL"
                    )
            clean_row.append(button)
        if clean_row:
            clean.append(clean_row)
    return clean


def add_bot_api_routes(app: FastAPI, store: TelegramStore, api: BotApi) -> None:
    """Mount ``GET|POST /bot{token}/{method}`` on ``app``."""

    @app.api_route("/bot{token}/{method}", methods=["GET", "POST"], include_in_schema=False)
    async def bot_api(token: str, method: str, request: Request) -> JSONResponse:
        bot = store.bot_for_token(token)
        if bot is None:
            return JSONResponse(BotApiError(401, "Unauthorized").envelope(), status_code=401)
        if method.lower() not in api.methods:
            return JSONResponse(BotApiError(404, "Not Found").envelope(), status_code=404)
        try:
            params = await read_params(request)
        except BotApiError as error:
            return JSONResponse(error.envelope(), status_code=error.error_code)
        status_code, envelope = await api.call(bot, method, params)
        return JSONResponse(envelope, status_code=status_code)

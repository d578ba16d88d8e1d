"""What the Telegram fake keeps and shows: bots, simulated users, messages, webhook deliveries.

Bot API objects (Message, User, Chat, Update…) are plain dicts shaped exactly as Telegram sends
them; the pydantic models here are the fake's own inspection API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

WebhookSecret = Literal["correct", "wrong", "missing"]
"""Which ``X-Telegram-Bot-Api-Secret-Token`` a simulated delivery carries (for 401 tests)."""


@dataclass(frozen=True)
class BotIdentity:
    """A bot the fake serves: its token (plus accepted aliases) and what ``getMe`` answers."""

    token: str
    id: int
    username: str
    first_name: str = "Praktika Sandbox"
    aliases: tuple[str, ...] = ()

    def as_user(self) -> dict[str, Any]:
        """The bot as the ``from`` of its messages."""
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def get_me(self) -> dict[str, Any]:
        """The ``getMe`` result."""
        return {
            **self.as_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }


DEFAULT_BOT = BotIdentity(
    token="1000:sandbox-token",
    id=1000,
    username="praktika_sandbox_bot",
    aliases=("sandbox-token",),
)
"""The default bot. aiogram only accepts tokens shaped ``<digits>:<secret>``, hence
``1000:sandbox-token``; the bare ``sandbox-token`` is an alias for raw HTTP callers."""


# --------------------------------------------------------------------------- users and chats


class UserCreate(BaseModel):
    """``POST /_sandbox/users``: a Telegram user (and their private chat with every bot)."""

    model_config = ConfigDict(extra="forbid")

    id: int | None = Field(default=None, ge=1, description="None: the next free id from 100000001")
    first_name: str = Field(default="Test", min_length=1, max_length=64)
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = Field(default=None, examples=["ru", "en"])
    is_premium: bool | None = None
    started: bool = Field(
        default=True,
        description="Whether the user has opened the bot; false: sendMessage answers 403 "
        '"bot can\'t initiate conversation with a user" until the user writes',
    )


class SimulatedUser(BaseModel):
    """A user the tests act as."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool | None = None

    def as_user(self) -> dict[str, Any]:
        """The Bot API ``User`` object."""
        return {"id": self.id, "is_bot": False, **self.model_dump(exclude_none=True)}

    def as_chat(self) -> dict[str, Any]:
        """The Bot API ``Chat`` of this user's private chat (``chat.id == from.id``)."""
        chat = {"id": self.id, "type": "private", "first_name": self.first_name}
        chat.update(
            {k: v for k, v in (("last_name", self.last_name), ("username", self.username)) if v}
        )
        return chat


class MessageVersion(BaseModel):
    """One state of a message: as sent, or as it was before an edit."""

    text: str = Field(description="Plain text, after parse_mode parsing")
    entities: list[dict[str, Any]] = Field(default_factory=list)
    source_text: str = Field(description="The text parameter exactly as the bot sent it")
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    at: int = Field(description="Unix time of this version (date, or edit_date)")
    method: str = Field(description="sendMessage, editMessageText, editMessageReplyMarkup, or user")


class ChatMessage(BaseModel):
    """A message in a chat, its current state first and its earlier versions in ``history``."""

    message_id: int
    chat_id: int
    sender: Literal["bot", "user"]
    date: int
    edit_date: int | None = None
    text: str
    entities: list[dict[str, Any]] = Field(default_factory=list)
    source_text: str
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = Field(
        default=None, description="The inline keyboard, if any (other markups are not shown)"
    )
    method: str = Field(
        description="What produced the current state: sendMessage, editMessageText, "
        "editMessageReplyMarkup, or user"
    )
    history: list[MessageVersion] = Field(
        default_factory=list, description="Earlier versions, oldest first"
    )
    deleted_date: int | None = Field(
        default=None,
        description="Unix time of deleteMessage; the message stays here, gone for the user",
    )

    def buttons(self) -> list[dict[str, Any]]:
        """Every inline keyboard button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    def version(self) -> MessageVersion:
        """The current state as a :class:`MessageVersion`."""
        return MessageVersion(
            text=self.text,
            entities=self.entities,
            source_text=self.source_text,
            parse_mode=self.parse_mode,
            reply_markup=self.reply_markup,
            at=self.edit_date or self.date,
            method=self.method,
        )


class ChatSummary(BaseModel):
    """``GET /_sandbox/chats``: one chat as the bot sees it."""

    chat: dict[str, Any]
    user: SimulatedUser
    blocked: bool
    started: bool
    message_count: int
    bot_message_count: int
    last_message_id: int | None


class CallbackQueryRecord(BaseModel):
    """A button tap and the bot's ``answerCallbackQuery``, if it came."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    date: int
    answered: bool = False
    answer: dict[str, Any] | None = None


# --------------------------------------------------------------------------- user actions


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_secret: WebhookSecret = Field(
        default="correct",
        description="'wrong' or 'missing': deliver with a bad or no secret header (the update "
        "is not kept as pending when it fails)",
    )


class StartAction(_Action):
    """``POST /_sandbox/users/{id}/start``: the user opens ``t.me/<bot>?start=<payload>``."""

    payload: str | None = Field(default=None, description="None: a plain /start")


class TextAction(_Action):
    """``POST /_sandbox/users/{id}/text``: the user writes (``/cmd`` becomes a bot command)."""

    text: str = Field(min_length=1, max_length=4096)


class TapAction(_Action):
    """``POST /_sandbox/users/{id}/tap``: the user taps an inline button of a bot's message.

    The button is found by ``callback_data`` or by its ``button_text``; ``chat_id`` defaults to
    the user's private chat and ``message_id`` to the newest bot message having such a button.
    """

    chat_id: int | None = None
    message_id: int | None = None
    callback_data: str | None = None
    button_text: str | None = None

    @model_validator(mode="after")
    def _names_a_button(self) -> TapAction:
        if self.callback_data is None and self.button_text is None:
            raise ValueError("give callback_data or button_text")
        return self


class RawUpdateAction(_Action):
    """``POST /_sandbox/updates``: deliver any Update JSON (``update_id`` filled in if absent)."""

    update: dict[str, Any]


class Delivery(BaseModel):
    """One POST of an Update to the webhook, and what the webhook answered."""

    update_id: int
    update_type: str
    url: str
    secret_sent: str | None = Field(description="The X-Telegram-Bot-Api-Secret-Token sent")
    status_code: int | None = Field(description="None: the connection failed")
    error: str | None = None
    response_body: str | None = Field(default=None, description="First 2000 characters")
    reply_method: str | None = Field(
        default=None, description="A Bot API method the webhook answered with, executed"
    )
    at: datetime
    duration_ms: float

    @property
    def ok(self) -> bool:
        """Whether the webhook answered 2XX."""
        return self.status_code is not None and 200 <= self.status_code < 300


class ActionResult(BaseModel):
    """What a simulated user action produced and what became of its Update."""

    update: dict[str, Any]
    delivery: Delivery | None = Field(description="None: no webhook set (or update filtered)")
    queued: bool = Field(description="Kept as pending: no webhook, or the delivery failed")
    filtered: bool = Field(default=False, description="Dropped by the webhook's allowed_updates")
    message: ChatMessage | None = Field(default=None, description="The user's message, if any")
    callback_query_id: str | None = None


# --------------------------------------------------------------------------- webhook


class WebhookConfig(BaseModel):
    """What ``setWebhook`` stored."""

    url: str
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int = 40
    ip_address: str | None = None
    set_at: int


class WebhookView(BaseModel):
    """``GET /_sandbox/webhook``: the webhook, its pending updates and every delivery."""

    webhook: WebhookConfig | None
    pending_update_count: int
    last_error_date: int | None
    last_error_message: str | None
    deliveries: list[Delivery]


# --------------------------------------------------------------------------- faults, rates


class TelegramFault(BaseModel):
    """``POST /_sandbox/faults`` with ``error_code``: the next matching Bot API calls fail.

    The answer is the Bot API error envelope with that HTTP status. ``description`` defaults to
    Telegram's wording (429: "Too Many Requests: retry after N", 403: "Forbidden: bot was blocked
    by the user", …); 429 carries ``parameters.retry_after`` (default 5).
    """

    model_config = ConfigDict(extra="forbid")

    error_code: int = Field(ge=400, le=599)
    description: str | None = None
    retry_after: int | None = Field(default=None, ge=1)
    method: str | None = Field(default=None, description="e.g. sendMessage (any case); None: any")
    chat_id: int | None = Field(default=None, description="Only calls for this chat_id")
    bot: str | None = Field(default=None, description="Only this bot's token; None: any bot")
    times: int | None = Field(default=1, ge=1, description="None: until cleared")

    @model_validator(mode="after")
    def _defaults(self) -> TelegramFault:
        if self.error_code == 429 and self.retry_after is None:
            self.retry_after = 5
        if self.description is None:
            self.description = _DEFAULT_DESCRIPTIONS.get(self.error_code, "Error").format(
                retry_after=self.retry_after
            )
        return self


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class QueuedTelegramFault(TelegramFault):
    """A queued :class:`TelegramFault` with its id and remaining uses."""

    id: int
    remaining: int | None
    hits: int = 0


class RateLimits(BaseModel):
    """``PUT /_sandbox/rate_limits``: answer sendMessage with 429 beyond these rates (opt-in)."""

    model_config = ConfigDict(extra="forbid")

    overall_per_second: int | None = Field(default=None, ge=1, examples=[30])
    per_chat_per_second: int | None = Field(default=None, ge=1, examples=[1])
    retry_after: int = Field(default=1, ge=1)


class SendRecord(BaseModel):
    """A send or edit call as it reached the fake, with its time (for rate checks)."""

    at: float = Field(description="Unix time in seconds, microsecond resolution")
    method: str
    chat_id: int | None
    message_id: int | None = None
    error_code: int | None = Field(default=None, description="None: it succeeded")


class RateStats(BaseModel):
    """``GET /_sandbox/sends/stats``: the densest one-second windows of sendMessage calls."""

    count: int
    max_per_second_overall: int
    max_per_second_by_chat: dict[str, int]
    min_interval_seconds_by_chat: dict[str, float | None]

"""The Telegram fake's memory: bots, users, chats and their messages, webhooks, faults, sends.

One :class:`TelegramStore` per app instance. It is used from the app's event loop only (every
mutation runs without awaiting in between), so it needs no lock.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.telegram.models import (
    DEFAULT_BOT,
    BotIdentity,
    CallbackQueryRecord,
    ChatMessage,
    ChatSummary,
    Delivery,
    QueuedTelegramFault,
    RateLimits,
    SendRecord,
    SimulatedUser,
    TelegramFault,
    UserCreate,
    WebhookConfig,
)

FIRST_USER_ID = 100_000_001
#: Update ids start from a random point, as Telegram's do after a quiet week: a bot's consumer
#: remembers the ids it handled (notify's inbox), so a restarted fake counting from a fixed
#: number again would have its first updates taken for ones already handled.
UPDATE_ID_RANGE = (10_000_001, 1_000_000_000)
MAX_DELIVERIES_KEPT = 1000


@dataclass
class ChatState:
    """A private chat between one bot and one user."""

    user: SimulatedUser
    started: bool
    blocked: bool = False
    messages: list[ChatMessage] = field(default_factory=list)
    next_message_id: int = 1

    @property
    def chat_id(self) -> int:
        """In a private chat the chat id is the user's id."""
        return self.user.id

    def add(self, bot: BotState, message: ChatMessage) -> None:
        """Append a message to this chat and to the bot's timeline of all chats."""
        self.messages.append(message)
        bot.timeline.append(message)

    def take_message_id(self) -> int:
        """The next message id of this chat (shared by both sides, as in Telegram)."""
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def find(self, message_id: int) -> ChatMessage | None:
        """A message of this chat by id, unless it was deleted."""
        return next(
            (m for m in self.messages if m.message_id == message_id and m.deleted_date is None),
            None,
        )

    def summary(self) -> ChatSummary:
        """The chat as ``GET /_sandbox/chats`` lists it."""
        return ChatSummary(
            chat=self.user.as_chat(),
            user=self.user,
            blocked=self.blocked,
            started=self.started,
            message_count=len(self.messages),
            bot_message_count=sum(1 for m in self.messages if m.sender == "bot"),
            last_message_id=self.messages[-1].message_id if self.messages else None,
        )


@dataclass
class BotState:
    """Everything one bot has: its chats, webhook, pending updates, taps and sends."""

    identity: BotIdentity
    chats: dict[int, ChatState] = field(default_factory=dict)
    timeline: list[ChatMessage] = field(default_factory=list)
    webhook: WebhookConfig | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    callback_queries: dict[str, CallbackQueryRecord] = field(default_factory=dict)
    sends: list[SendRecord] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(secrets.SystemRandom().randrange(*UPDATE_ID_RANGE))
    )
    _callback_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_update_id(self) -> int:
        """A fresh ``update_id`` (increasing, as Telegram's)."""
        return next(self._update_ids)

    def next_callback_query_id(self) -> str:
        """A fresh callback query id (Telegram's are long numeric strings)."""
        return str(self.identity.id * 10**12 + next(self._callback_ids))

    def chat_instance(self, chat_id: int) -> str:
        """A stable ``chat_instance`` for callback queries from this chat."""
        return str((self.identity.id * 1_000_003 + chat_id) % 10**18)

    def add_delivery(self, delivery: Delivery) -> None:
        """Remember a webhook delivery (the newest :data:`MAX_DELIVERIES_KEPT`)."""
        self.deliveries.append(delivery)
        del self.deliveries[:-MAX_DELIVERIES_KEPT]

    def clear(self) -> None:
        """Forget chats' contents, updates, taps and sends; keep the webhook registration."""
        self.chats.clear()
        self.timeline.clear()
        self.last_error_date = None
        self.last_error_message = None
        self.pending_updates.clear()
        self.deliveries.clear()
        self.callback_queries.clear()
        self.sends.clear()


class TelegramStore:
    """All state of one Telegram fake: its bots (by token), users, faults and rate limits."""

    def __init__(
        self,
        bots: Sequence[BotIdentity] = (DEFAULT_BOT,),
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not bots:
            raise ValueError("the Telegram fake needs at least one bot")
        self.clock = clock
        self.bots = [BotState(identity) for identity in bots]
        self._by_token: dict[str, BotState] = {}
        for bot in self.bots:
            for token in (bot.identity.token, *bot.identity.aliases):
                if token in self._by_token:
                    raise ValueError(f"token {token!r} is used twice")
                self._by_token[token] = bot
        self.users: dict[int, SimulatedUser] = {}
        self.faults: list[QueuedTelegramFault] = []
        self._fault_ids = itertools.count(1)
        self.rate_limits: RateLimits | None = None
        # Awaited after a sending method (sendMessage, editMessageText, ...) succeeded and before
        # the bot hears so: ``hook(method, result)``. Tests inject a fault at that moment.
        self.accept_hooks: list[Callable[[str, Any], Awaitable[None]]] = []

    def now(self) -> int:
        """Unix time in whole seconds, as Bot API dates are."""
        return int(self.clock())

    # ----------------------------------------------------------------- bots

    def bot_for_token(self, token: str) -> BotState | None:
        """The bot a request's token belongs to, if any."""
        return self._by_token.get(token)

    def select_bot(self, token: str | None) -> BotState:
        """The bot an inspection call means: by token, or the first bot; ``KeyError`` if unknown."""
        if token is None:
            return self.bots[0]
        bot = self._by_token.get(token)
        if bot is None:
            raise KeyError(f"no bot with token {token!r}")
        return bot

    # ----------------------------------------------------------------- users

    def add_user(self, spec: UserCreate) -> tuple[SimulatedUser, bool]:
        """Create (or update, keeping chats) a user and their private chats; ``(user, created)``."""
        user_id = spec.id or max([FIRST_USER_ID - 1, *self.users]) + 1
        user = SimulatedUser(id=user_id, **spec.model_dump(exclude={"id", "started"}))
        created = user_id not in self.users
        self.users[user_id] = user
        for bot in self.bots:
            chat = bot.chats.get(user_id)
            if chat is None:
                bot.chats[user_id] = ChatState(user=user, started=spec.started)
            else:
                chat.user = user
        return user, created

    def chat(self, bot: BotState, chat_id: int) -> ChatState | None:
        """The private chat of ``bot`` with user ``chat_id``, if that user exists."""
        chat = bot.chats.get(chat_id)
        if chat is None and chat_id in self.users:
            chat = bot.chats[chat_id] = ChatState(user=self.users[chat_id], started=True)
        return chat

    # ----------------------------------------------------------------- faults

    def add_fault(self, spec: TelegramFault) -> QueuedTelegramFault:
        """Queue a Bot API fault behind the ones already waiting."""
        fault = QueuedTelegramFault(
            **spec.model_dump(), id=next(self._fault_ids), remaining=spec.times
        )
        self.faults.append(fault)
        return fault

    def pending_faults(self) -> list[QueuedTelegramFault]:
        """Faults still waiting, in the order they will be tried."""
        return [f.model_copy() for f in self.faults]

    def clear_faults(self) -> None:
        """Drop every waiting Bot API fault."""
        self.faults.clear()

    def take_fault(self, bot: BotState, method: str, chat_id: Any) -> QueuedTelegramFault | None:
        """Consume one use of the first fault matching this call, if any."""
        for fault in self.faults:
            if fault.bot is not None and self._by_token.get(fault.bot) is not bot:
                continue
            if fault.method is not None and fault.method.lower() != method.lower():
                continue
            if fault.chat_id is not None and str(fault.chat_id) != str(chat_id):
                continue
            fault.hits += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
            return fault.model_copy()
        return None

    # ----------------------------------------------------------------- reset

    def reset(self) -> None:
        """Forget users, chats, updates, faults and rate limits; keep bots and their webhooks."""
        self.users.clear()
        for bot in self.bots:
            bot.clear()
        self.clear_faults()
        self.rate_limits = None


def rate_stats(records: Sequence[SendRecord]) -> dict[str, Any]:
    """The densest one-second windows over ``records``, overall and per chat, and the smallest
    gap between two calls to one chat (the raw material of ``GET /_sandbox/sends/stats``)."""
    times = sorted(r.at for r in records)
    by_chat: dict[str, list[float]] = {}
    for record in records:
        by_chat.setdefault(str(record.chat_id), []).append(record.at)
    return {
        "count": len(times),
        "max_per_second_overall": _densest_second(times),
        "max_per_second_by_chat": {c: _densest_second(sorted(t)) for c, t in by_chat.items()},
        "min_interval_seconds_by_chat": {
            c: (
                round(min(b - a for a, b in itertools.pairwise(sorted(t))), 6)
                if len(t) > 1
                else None
            )
            for c, t in by_chat.items()
        },
    }


def _densest_second(times: Sequence[float]) -> int:
    """Most timestamps inside any half-open window ``[t, t + 1s)``."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def accepted_in_last_second(records: Sequence[SendRecord], now: float, chat_id: int | None) -> int:
    """Successful calls within the second before ``now`` (to ``chat_id``, or all).

    ``records`` are in arrival order, so the scan stops at the first one older than a second.
    """
    count = 0
    for record in reversed(records):
        if now - record.at >= 1.0:
            break
        if record.error_code is None and (chat_id is None or record.chat_id == chat_id):
            count += 1
    return count

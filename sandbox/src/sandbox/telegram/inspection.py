"""The Telegram fake's inspection API under ``/_sandbox/`` (besides kit's requests/faults/reset).

Every route takes ``?bot=<token>`` to pick a bot; without it, the first (default) bot.

- ``GET    /_sandbox/``                                   HTML page: chats as bubbles with buttons

- ``GET    /_sandbox/bots``                               bots, their tokens and webhook URLs
- ``GET    /_sandbox/users`` / ``POST /_sandbox/users``    simulated users ({id, first_name, …})
- ``POST   /_sandbox/users/{user_id}/start``  {payload}    ``/start <payload>`` → webhook
- ``POST   /_sandbox/users/{user_id}/text``   {text}       a text message → webhook
- ``POST   /_sandbox/users/{user_id}/tap``    {chat_id, message_id, callback_data | button_text}
- ``POST   /_sandbox/updates``                {update}     any Update → webhook
  (all four take ``webhook_secret``: ``correct`` | ``wrong`` | ``missing``)
- ``GET    /_sandbox/chats``; ``GET /_sandbox/chats/{chat_id}/messages?sender=&count=&wait=``
- ``GET    /_sandbox/messages?chat_id=&sender=&count=&wait=``   every chat, oldest first
- ``POST|DELETE /_sandbox/chats/{chat_id}/block``       the user blocks / unblocks the bot
- ``GET    /_sandbox/callback_queries[/{id}?wait=]``      taps and the bot's answers
- ``GET    /_sandbox/webhook``; ``POST /_sandbox/webhook/redeliver``
- ``GET    /_sandbox/sends?chat_id=&method=``; ``GET /_sandbox/sends/stats?method=``
- ``GET|PUT|DELETE /_sandbox/rate_limits``              opt-in automatic 429s
- ``POST   /_sandbox/faults`` ``{"error_code": 429, "retry_after": 3, "method": "sendMessage",
  "chat_id": null, "times": 1}`` (kit's HTTP faults work too)
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Body, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse

from sandbox.kit import MAX_WAIT_SECONDS, poll_until
from sandbox.pages import PAGE_PATH, Newest, newest_first, render_page
from sandbox.telegram.models import (
    ActionResult,
    CallbackQueryRecord,
    ChatMessage,
    ChatSummary,
    RateLimits,
    RateStats,
    RawUpdateAction,
    SendRecord,
    SimulatedUser,
    StartAction,
    TapAction,
    TextAction,
    UserCreate,
    WebhookView,
)
from sandbox.telegram.rendering import entities_html
from sandbox.telegram.simulator import SimulationError, UserSimulator
from sandbox.telegram.store import BotState, ChatState, TelegramStore, rate_stats

Sender = Literal["bot", "user"]

_BOT = Query(default=None, description="Token of the bot; default: the first bot")
_WAIT = Query(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS, description="Long-poll seconds")
_COUNT = Query(default=1, ge=1, description="With wait: how many messages to wait for")
PAGE_CHATS = 50
"""How many chats the page shows: those with the latest messages."""
PAGE_MESSAGES = 100
"""How many of a chat's newest messages the page shows."""


def add_inspection_routes(app: FastAPI, store: TelegramStore, users: UserSimulator) -> None:
    """Mount the Telegram-specific ``/_sandbox/`` routes on ``app``."""

    def pick(token: str | None) -> BotState:
        try:
            return store.select_bot(token)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, exc.args[0]) from exc

    def chat_of(bot: BotState, chat_id: int) -> ChatState:
        chat = store.chat(bot, chat_id)
        if chat is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no chat {chat_id}")
        return chat

    async def act(coro: Any) -> ActionResult:
        try:
            result: ActionResult = await coro
        except SimulationError as exc:
            raise HTTPException(exc.status_code, exc.detail) from exc
        return result

    @app.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, bot: str | None = _BOT) -> HTMLResponse:
        """Every chat of the bot as a person sees it: bubbles, buttons, taps, edits."""
        chosen = pick(bot)
        taps: dict[tuple[int, int], list[CallbackQueryRecord]] = {}
        for tap in chosen.callback_queries.values():
            taps.setdefault((tap.chat_id, tap.message_id), []).append(tap)
        chats = [chosen.chats[k] for k in sorted(chosen.chats)]
        active = sorted(chats, key=lambda c: c.messages[-1].date if c.messages else 0, reverse=True)
        return render_page(
            request,
            "telegram.html",
            title=f"Telegram sandbox: @{chosen.identity.username}",
            bot=chosen,
            bots=store.bots,
            chats=Newest(active[:PAGE_CHATS], len(active)),
            messages_shown=PAGE_MESSAGES,
            taps=taps,
            formatted=entities_html,
            deliveries=newest_first(chosen.deliveries),
        )

    @app.get("/_sandbox/bots")
    async def list_bots() -> list[dict[str, Any]]:
        """Every bot: token, aliases, id, username and its webhook URL."""
        return [
            {
                "token": b.identity.token,
                "aliases": list(b.identity.aliases),
                "id": b.identity.id,
                "username": b.identity.username,
                "webhook_url": b.webhook.url if b.webhook else None,
            }
            for b in store.bots
        ]

    # ----------------------------------------------------------------- users

    @app.get("/_sandbox/users")
    async def list_users() -> list[SimulatedUser]:
        """Simulated users, by id."""
        return [store.users[k] for k in sorted(store.users)]

    @app.post("/_sandbox/users", status_code=status.HTTP_201_CREATED)
    async def create_user(spec: UserCreate, response: Response) -> SimulatedUser:
        """Create a user (201) or update one with that id (200); their chats open with it."""
        user, created = store.add_user(spec)
        response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return user

    @app.post("/_sandbox/users/{user_id}/start")
    async def user_start(
        user_id: int, action: StartAction | None = Body(default=None), bot: str | None = _BOT
    ) -> ActionResult:
        """The user sends ``/start <payload>`` (a deep link); the Update goes to the webhook."""
        return await act(users.start(pick(bot), user_id, action or StartAction()))

    @app.post("/_sandbox/users/{user_id}/text")
    async def user_text(user_id: int, action: TextAction, bot: str | None = _BOT) -> ActionResult:
        """The user sends a text; the Update goes to the webhook."""
        return await act(users.text(pick(bot), user_id, action))

    @app.post("/_sandbox/users/{user_id}/tap")
    async def user_tap(user_id: int, action: TapAction, bot: str | None = _BOT) -> ActionResult:
        """The user taps an inline button; the callback_query Update goes to the webhook."""
        return await act(users.tap(pick(bot), user_id, action))

    @app.post("/_sandbox/updates")
    async def post_update(action: RawUpdateAction, bot: str | None = _BOT) -> ActionResult:
        """Deliver an arbitrary Update JSON to the webhook."""
        return await act(users.raw(pick(bot), action))

    # ----------------------------------------------------------------- chats and messages

    @app.get("/_sandbox/chats")
    async def list_chats(bot: str | None = _BOT) -> list[ChatSummary]:
        """Every private chat of the bot, by chat id."""
        chosen = pick(bot)
        return [chosen.chats[k].summary() for k in sorted(chosen.chats)]

    @app.get("/_sandbox/chats/{chat_id}/messages")
    async def chat_messages(
        chat_id: int,
        sender: Sender | None = None,
        count: int = _COUNT,
        wait: float = _WAIT,
        bot: str | None = _BOT,
    ) -> list[ChatMessage]:
        """The chat's messages, oldest first, with edits in ``history``; ``wait`` long-polls."""
        chat = chat_of(pick(bot), chat_id)
        return await poll_until(
            lambda: [m for m in chat.messages if sender is None or m.sender == sender],
            lambda found: len(found) >= count,
            wait,
        )

    @app.get("/_sandbox/messages")
    async def all_messages(
        chat_id: int | None = None,
        sender: Sender | None = None,
        count: int = _COUNT,
        wait: float = _WAIT,
        bot: str | None = _BOT,
    ) -> list[ChatMessage]:
        """Messages of every chat in the order they happened; ``wait`` long-polls for ``count``."""
        chosen = pick(bot)
        return await poll_until(
            lambda: [
                m
                for m in chosen.timeline
                if (sender is None or m.sender == sender)
                and (chat_id is None or m.chat_id == chat_id)
            ],
            lambda found: len(found) >= count,
            wait,
        )

    @app.post("/_sandbox/chats/{chat_id}/block")
    async def block(chat_id: int, bot: str | None = _BOT) -> ChatSummary:
        """The user blocks the bot: sends and edits to the chat answer 403 until /start."""
        chat = chat_of(pick(bot), chat_id)
        chat.blocked = True
        return chat.summary()

    @app.delete("/_sandbox/chats/{chat_id}/block")
    async def unblock(chat_id: int, bot: str | None = _BOT) -> ChatSummary:
        """The user unblocks the bot."""
        chat = chat_of(pick(bot), chat_id)
        chat.blocked = False
        return chat.summary()

    # ----------------------------------------------------------------- callback queries

    @app.get("/_sandbox/callback_queries")
    async def list_callback_queries(bot: str | None = _BOT) -> list[CallbackQueryRecord]:
        """Every tap, oldest first, with the bot's answerCallbackQuery if it came."""
        return list(pick(bot).callback_queries.values())

    @app.get("/_sandbox/callback_queries/{query_id}")
    async def get_callback_query(
        query_id: str, wait: float = _WAIT, bot: str | None = _BOT
    ) -> CallbackQueryRecord:
        """One tap; ``wait`` long-polls until the bot has answered it."""
        chosen = pick(bot)
        if query_id not in chosen.callback_queries:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no callback query {query_id}")
        record = chosen.callback_queries[query_id]
        return await poll_until(lambda: record, lambda r: r.answered, wait)

    # ----------------------------------------------------------------- webhook

    @app.get("/_sandbox/webhook")
    async def webhook(bot: str | None = _BOT) -> WebhookView:
        """The webhook setWebhook registered, pending updates and every delivery, oldest first."""
        chosen = pick(bot)
        return WebhookView(
            webhook=chosen.webhook,
            pending_update_count=len(chosen.pending_updates),
            last_error_date=chosen.last_error_date,
            last_error_message=chosen.last_error_message,
            deliveries=chosen.deliveries,
        )

    @app.post("/_sandbox/webhook/redeliver")
    async def redeliver(bot: str | None = _BOT) -> list[ActionResult]:
        """Retry the pending updates now (Telegram would on its own schedule)."""
        try:
            return await users.redeliver(pick(bot))
        except SimulationError as exc:
            raise HTTPException(exc.status_code, exc.detail) from exc

    # ----------------------------------------------------------------- sends and rates

    @app.get("/_sandbox/sends")
    async def sends(
        chat_id: int | None = None, method: str | None = None, bot: str | None = _BOT
    ) -> list[SendRecord]:
        """sendMessage/edit calls with their arrival time and outcome, oldest first."""
        return [
            s
            for s in pick(bot).sends
            if (chat_id is None or s.chat_id == chat_id)
            and (method is None or s.method.lower() == method.lower())
        ]

    @app.get("/_sandbox/sends/stats")
    async def send_stats(
        method: str = Query(default="sendMessage"),
        ok_only: bool = Query(default=False, description="Count only calls that succeeded"),
        bot: str | None = _BOT,
    ) -> RateStats:
        """Densest one-second windows (overall, per chat) and the smallest per-chat gap."""
        records = [
            s
            for s in pick(bot).sends
            if s.method.lower() == method.lower() and (not ok_only or s.error_code is None)
        ]
        return RateStats(**rate_stats(records))

    @app.get("/_sandbox/rate_limits")
    async def get_rate_limits() -> RateLimits | None:
        """The enforced limits, or null when off (the default)."""
        return store.rate_limits

    @app.put("/_sandbox/rate_limits")
    async def put_rate_limits(limits: RateLimits) -> RateLimits:
        """Answer sendMessage beyond these rates with 429 and ``retry_after``."""
        store.rate_limits = limits
        return limits

    @app.delete("/_sandbox/rate_limits", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_rate_limits() -> Response:
        """Stop enforcing rate limits."""
        store.rate_limits = None
        return Response(status_code=status.HTTP_204_NO_CONTENT)

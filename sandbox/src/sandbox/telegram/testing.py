"""Driving the Telegram fake from any package's tests: run it, act as users, read what was sent.

Typical use in notify's tests::

    async with running_telegram_fake() as tg:          # free loopback port, this event loop
        bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
        await tg.create_user(555, first_name="Ivan", language_code="ru")
        result = await tg.start(555, "link_abc")         # POSTs the Update to the webhook
        (reply,) = await tg.messages(555, count=1, wait=10)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from sandbox.serving import LOOPBACK, serve_app
from sandbox.telegram.fake import create_telegram_app, telegram_store
from sandbox.telegram.models import DEFAULT_BOT, BotIdentity, WebhookSecret
from sandbox.telegram.store import TelegramStore


@dataclass
class TelegramSandbox:
    """A running Telegram fake and an HTTP client for its inspection API (calls raise on 4xx/5xx).

    ``base_url`` is what ``TelegramAPIServer.from_base`` wants; ``token`` the default bot's.
    """

    base_url: str
    http: httpx.AsyncClient
    token: str = DEFAULT_BOT.token
    app: FastAPI | None = None

    @property
    def store(self) -> TelegramStore:
        """The fake's state, when it runs in this process."""
        if self.app is None:
            raise RuntimeError("the fake runs elsewhere; use the HTTP inspection API")
        return telegram_store(self.app)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    async def create_user(self, user_id: int | None = None, **fields: Any) -> dict[str, Any]:
        """``POST /_sandbox/users``; ``fields``: first_name, username, language_code, started…"""
        body = {"id": user_id, **fields} if user_id is not None else fields
        result: dict[str, Any] = await self._call("POST", "/_sandbox/users", json=body)
        return result

    async def start(
        self, user_id: int, payload: str | None = None, *, webhook_secret: WebhookSecret = "correct"
    ) -> dict[str, Any]:
        """The user sends ``/start <payload>``; the ActionResult (update, delivery…)."""
        body = {"payload": payload, "webhook_secret": webhook_secret}
        result: dict[str, Any] = await self._call(
            "POST", f"/_sandbox/users/{user_id}/start", json=body
        )
        return result

    async def send_text(
        self, user_id: int, text: str, *, webhook_secret: WebhookSecret = "correct"
    ) -> dict[str, Any]:
        """The user sends ``text``; the ActionResult."""
        body = {"text": text, "webhook_secret": webhook_secret}
        result: dict[str, Any] = await self._call(
            "POST", f"/_sandbox/users/{user_id}/text", json=body
        )
        return result

    async def tap(
        self,
        user_id: int,
        *,
        callback_data: str | None = None,
        button_text: str | None = None,
        message_id: int | None = None,
        webhook_secret: WebhookSecret = "correct",
    ) -> dict[str, Any]:
        """The user taps a button (newest bot message having it, unless ``message_id``)."""
        body = {
            "callback_data": callback_data,
            "button_text": button_text,
            "message_id": message_id,
            "webhook_secret": webhook_secret,
        }
        result: dict[str, Any] = await self._call(
            "POST", f"/_sandbox/users/{user_id}/tap", json=body
        )
        return result

    async def messages(
        self, chat_id: int, *, sender: str | None = "bot", count: int = 1, wait: float = 0
    ) -> list[dict[str, Any]]:
        """Messages of a chat (the bot's by default), oldest first; ``wait`` for ``count``."""
        params: dict[str, Any] = {"count": count, "wait": wait}
        if sender:
            params["sender"] = sender
        result: list[dict[str, Any]] = await self._call(
            "GET", f"/_sandbox/chats/{chat_id}/messages", params=params
        )
        return result

    async def block(self, chat_id: int) -> None:
        """The user blocks the bot (sendMessage answers 403)."""
        await self._call("POST", f"/_sandbox/chats/{chat_id}/block")

    async def fault(self, error_code: int, **fields: Any) -> dict[str, Any]:
        """Queue a Bot API fault, e.g. ``fault(429, retry_after=2, method="sendMessage")``."""
        result: dict[str, Any] = await self._call(
            "POST", "/_sandbox/faults", json={"error_code": error_code, **fields}
        )
        return result

    async def webhook(self) -> dict[str, Any]:
        """``GET /_sandbox/webhook``: config, pending count, deliveries."""
        result: dict[str, Any] = await self._call("GET", "/_sandbox/webhook")
        return result

    async def reset(self) -> None:
        """Forget users, chats, faults and sends (the webhook registration stays)."""
        await self._call("POST", "/_sandbox/reset")


@contextlib.asynccontextmanager
async def running_telegram_fake(
    bots: Sequence[BotIdentity] = (DEFAULT_BOT,),
    *,
    host: str = LOOPBACK,
    port: int = 0,
    **app_options: Any,
) -> AsyncIterator[TelegramSandbox]:
    """Run a fresh Telegram fake (free loopback port by default) in this event loop."""
    app = create_telegram_app(bots, **app_options)
    async with (
        serve_app(app, host, port) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False) as http,
    ):
        yield TelegramSandbox(base_url=base_url, http=http, token=bots[0].token, app=app)


def densest_second(times: Sequence[float]) -> int:
    """Most of ``times`` (seconds) inside any window ``[t, t + 1 s)``: the busiest second of a run
    of sends, to hold against Telegram's ≈ 30 messages a second."""
    ordered, best, start = sorted(times), 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best

"""The Telegram Bot API through aiogram 3: sending and editing messages, and what errors mean.

The API server's base URL is configuration, so the same code talks to the sandbox fake or to
``https://api.telegram.org``. 429 waits ``retry_after``; 5xx and network errors are retried with
backoff; 403 means the user blocked the bot (permanent for that chat); other 4xx are permanent.
Every Bot API call is a client span ``telegram <method>`` (servicekit.tracing), named after the
method: the URL holds the bot's token and is never recorded, nor a chat id or a text.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from opentelemetry.trace import SpanKind
from servicekit.tracing import tracer

from notify.domain.attempts import Outcome, Permanent, Sent, Transient


@dataclass(frozen=True)
class InlineButton:
    """A rendered inline button: a label and either a URL or opaque callback data."""

    text: str
    url: str | None = None
    callback_data: str | None = None


class TracedCalls(BaseRequestMiddleware):
    """aiogram's request middleware: each Bot API call in a client span."""

    def __init__(self, api_base: str) -> None:
        self.host = urlsplit(api_base).hostname or ""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = method.__api_method__
        with tracer.start_as_current_span(
            f"telegram {name}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": "POST",
                "server.address": self.host,
                "rpc.system": "telegram-bot-api",
                "rpc.method": name,
            },
        ):
            # A refusal raises (TelegramAPIError): the span records it and ends as an error.
            return await make_request(bot, method)


def make_bot(token: str, api_base: str, timeout: float = 15.0) -> Bot:
    """An aiogram Bot talking to ``api_base`` (``https://api.telegram.org`` or the sandbox)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/")))
    session.timeout = timeout
    session.middleware(TracedCalls(api_base))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def keyboard(rows: Sequence[Sequence[InlineButton]]) -> InlineKeyboardMarkup | None:
    """An inline keyboard, or ``None`` for no buttons."""
    if not any(rows):
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=b.text, url=b.url, callback_data=b.callback_data)
                for b in row
            ]
            for row in rows
            if row
        ]
    )


class RateLimiter:
    """Spaces calls at least ``1/rate`` seconds apart in this process (≈30 messages/s)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next call may go."""
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


def _outcome(exc: TelegramAPIError) -> Outcome:
    if isinstance(exc, TelegramRetryAfter):
        return Transient(
            f"telegram 429: {exc.message}", retry_after=timedelta(seconds=exc.retry_after)
        )
    if isinstance(exc, TelegramForbiddenError):
        return Permanent(f"telegram 403: {exc.message}", blocked=True)
    if isinstance(exc, TelegramServerError | TelegramNetworkError):
        return Transient(f"telegram: {type(exc).__name__}: {exc.message}")
    return Permanent(f"telegram: {type(exc).__name__}: {exc.message}")


class TelegramGateway:
    """Sends and edits messages, one call at a time under the global rate limit."""

    def __init__(self, bot: Bot, limiter: RateLimiter) -> None:
        self.bot = bot
        self.limiter = limiter

    async def send(
        self, chat_id: int, text: str, buttons: Sequence[Sequence[InlineButton]] = ()
    ) -> Outcome:
        """``sendMessage``; the outcome carries the new message's id."""
        await self.limiter.wait()
        try:
            message = await self.bot.send_message(
                chat_id, text, reply_markup=keyboard(buttons), disable_web_page_preview=True
            )
        except TelegramAPIError as exc:
            return _outcome(exc)
        except (TimeoutError, OSError) as exc:
            return Transient(f"telegram: {type(exc).__name__}: {exc}")
        return Sent(str(message.message_id))

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        buttons: Sequence[Sequence[InlineButton]] = (),
    ) -> Outcome:
        """``editMessageText`` (removing the keyboard unless ``buttons`` are given)."""
        await self.limiter.wait()
        try:
            await self.bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=keyboard(buttons),
                disable_web_page_preview=True,
            )
        except TelegramBadRequest as exc:
            if "message is not modified" in exc.message:
                return Sent(str(message_id))  # the edit was done before (a retry)
            return _outcome(exc)
        except TelegramAPIError as exc:
            return _outcome(exc)
        except (TimeoutError, OSError) as exc:
            return Transient(f"telegram: {type(exc).__name__}: {exc}")
        return Sent(str(message_id))

    async def answer_callback(self, callback_query_id: str, text: str) -> None:
        """``answerCallbackQuery``: the short notice a tap shows; failures are not retried."""
        await self.bot.answer_callback_query(callback_query_id, text=text)

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.bot.session.close()

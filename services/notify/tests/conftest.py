"""notify's test fixtures: the service on its own database and vhost, the SMTP sink (and the
Telegram fake) on free loopback ports, a producer that publishes like booking/cabinet/content,
and a tap on notify's own exchange."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from contracts.envelope import EventEnvelope
from contracts.registry import spec_of
from contracts.testing import example_envelope
from notify.bootstrap import build_runtime, definition
from notify.config import NotifySettings
from pydantic import BaseModel
from sandbox.telegram import TelegramSandbox, running_telegram_fake
from sandbox.testing import RunningSmtpSink, running_smtp_sink
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import (
    EventTap,
    FakeClock,
    RunningService,
    TokenMint,
    outbox_drained,
    running_service,
    tapping,
    temporary_vhost,
)


class Producer:
    """Publishes envelopes to a producer's exchange exactly as that producer's relay would."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None

    async def publish(self, envelope: EventEnvelope[Any]) -> EventEnvelope[Any]:
        spec = spec_of(type(envelope.payload))
        if self._channel is None:
            self._connection = await aio_pika.connect(self.amqp_url)
            self._channel = await self._connection.channel(publisher_confirms=True)
        exchange = await self._channel.declare_exchange(
            spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(
            aio_pika.Message(
                body=envelope.model_dump_json().encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(envelope.event_id),
                correlation_id=envelope.correlation_id,
                type=envelope.event_type,
            ),
            routing_key=spec.routing_key,
        )
        return envelope

    async def event(self, model: type[BaseModel], **fields: Any) -> EventEnvelope[Any]:
        """Publish a new example event of ``model`` with ``fields``."""
        return await self.publish(example_envelope(model, **fields))

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


class LateASGITransport(httpx.AsyncBaseTransport):
    """The Telegram fake's way into notify's app, which exists only after the fake is running
    (notify needs the fake's URL): requests go to ``self.app`` in process."""

    def __init__(self) -> None:
        self.app: Any = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.app is None:
            return httpx.Response(503)
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


WEBHOOK_URL = "http://notify.test/api/notify/telegram/webhook"
WEBHOOK_SECRET = "test-webhook-secret_0123456789"


@contextlib.asynccontextmanager
async def running_telegram() -> AsyncIterator[tuple[TelegramSandbox, LateASGITransport]]:
    transport = LateASGITransport()
    async with running_telegram_fake(webhook_transport=transport) as tg:
        yield tg, transport


@dataclass
class Notify:
    """The running service and what tests drive it with."""

    svc: RunningService
    producer: Producer
    smtp: RunningSmtpSink
    tokens: TokenMint
    events: EventTap
    clock: FakeClock
    amqp_url: str
    tg: TelegramSandbox | None = None

    @property
    def telegram(self) -> TelegramSandbox:
        assert self.tg is not None, "this notify runs without the Telegram fake"
        return self.tg

    @property
    def client(self) -> Any:
        return self.svc.client

    async def all_published(self) -> None:
        """Return once every event notify recorded so far has reached ``events``: its outbox is
        drained, then a marker passes through the tap's queue behind them. After this, "no such
        event" is a fact, not a guess."""
        await outbox_drained(self.svc.database_url)
        await self.events.flush()

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.svc.database_url))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()


@pytest.fixture(scope="session")
def tokens() -> TokenMint:
    return TokenMint()


@pytest.fixture(scope="session")
async def amqp_url() -> AsyncIterator[str]:
    async with temporary_vhost() as url:
        yield url


@pytest.fixture(scope="session")
async def smtp() -> AsyncIterator[RunningSmtpSink]:
    async with running_smtp_sink() as sink:
        yield sink


def notify_settings(smtp: RunningSmtpSink, **extra: Any) -> dict[str, Any]:
    return {
        "smtp_host": smtp.smtp_host,
        "smtp_port": smtp.smtp_port,
        "smtp_timeout_seconds": 10.0,
        "delivery_backoff_seconds": 1.0,
        "delivery_backoff_max_seconds": 5.0,
        "delivery_max_attempts": 4,
        "telegram_chat_interval_seconds": 0.0,
        **extra,
    }


@contextlib.asynccontextmanager
async def running_notify(
    *,
    amqp_url: str,
    tokens: TokenMint,
    smtp: RunningSmtpSink,
    clock: FakeClock | None = None,
    telegram: tuple[TelegramSandbox, LateASGITransport] | None = None,
    database_url: str | None = None,
    **settings: Any,
) -> AsyncIterator[Notify]:
    clock = clock or FakeClock()
    extra: dict[str, Any] = {}
    if telegram is not None:
        extra = {
            "telegram_api_base": telegram[0].base_url,
            "telegram_bot_token": telegram[0].token,
            "telegram_webhook_secret": WEBHOOK_SECRET,
            "telegram_webhook_url": WEBHOOK_URL,
        }
    async with (
        running_service(
            definition,
            build_runtime,
            NotifySettings,
            amqp_url=amqp_url,
            tokens=tokens,
            clock=clock,
            database_url=database_url,
            **notify_settings(smtp, **extra, **settings),
        ) as svc,
        tapping(amqp_url, "notify.events") as events,
    ):
        producer = Producer(amqp_url)
        tg = None
        if telegram is not None:
            tg, transport = telegram
            transport.app = svc.app
            bot = svc.runtime.notify.telegram.bot  # type: ignore[attr-defined]
            await bot.set_webhook(WEBHOOK_URL, secret_token=WEBHOOK_SECRET)  # as the CLI does
        try:
            yield Notify(svc, producer, smtp, tokens, events, clock, amqp_url, tg)
        finally:
            await producer.close()


@contextlib.asynccontextmanager
async def notify_under_telegram_limits(
    tokens: TokenMint, smtp: RunningSmtpSink, *, messages_per_second: float
) -> AsyncIterator[Notify]:
    """notify on its own vhost with Telegram's per-chat spacing (1 s) and ``messages_per_second``
    as its pace, beside its own Telegram fake."""
    async with (
        temporary_vhost() as amqp_url,
        running_telegram() as telegram,
        running_notify(
            amqp_url=amqp_url,
            tokens=tokens,
            smtp=smtp,
            telegram=telegram,
            telegram_chat_interval_seconds=1.0,
            telegram_messages_per_second=messages_per_second,
        ) as n,
    ):
        yield n


@pytest.fixture(scope="session")
async def notify(amqp_url: str, tokens: TokenMint, smtp: RunningSmtpSink) -> AsyncIterator[Notify]:
    async with (
        running_telegram() as telegram,
        running_notify(amqp_url=amqp_url, tokens=tokens, smtp=smtp, telegram=telegram) as n,
    ):
        yield n


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}@example.org"


async def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return it."""
    async with asyncio.timeout(timeout):
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)

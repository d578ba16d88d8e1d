"""Test helpers any package's tests use: throwaway databases and vhosts, a cuttable TCP proxy.

Tests never touch the databases or vhost of a running local stack: each test session creates
``test_<prefix>_<random>`` databases and a ``praktika-test-<random>`` RabbitMQ vhost and drops
them at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aio_pika
import aio_pika.abc
import asyncpg
import httpx
from contracts.cabinet.v1 import UserRegisteredV1
from contracts.envelope import parse_envelope
from contracts.registry import spec_of
from contracts.testing import example_envelope
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from servicekit.clock import Clock
from servicekit.db.engine import asyncpg_dsn
from servicekit.db.migrations import upgrade
from servicekit.http.app import create_app
from servicekit.messaging.sealing import EventSealer, capability_keyring
from servicekit.runtime import ServiceDefinition, ServiceRuntime
from servicekit.security.fields import Keyring
from servicekit.security.signing import generate_signing_key, issue_access_token, public_jwks
from servicekit.settings import (
    DEV_BLIND_INDEX_KEY,
    DEV_CAPABILITY_KEY,
    DEV_FIELD_KEY,
    ServiceSettings,
)
from servicekit.tracing import instrument_httpx

#: What a test reads events with: the development keys every service under test holds, the
#: capability key included (as cabinet and notify hold it).
TEST_SEALER = EventSealer(
    Keyring([DEV_FIELD_KEY], DEV_BLIND_INDEX_KEY), capability_keyring([DEV_CAPABILITY_KEY])
)


def opened_message(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """A published message (an AMQP body, an outbox row's body) as its consumers read it: JSON
    with the sealed parts opened and merged back into ``payload``. For tests' event taps."""
    return dict(json.loads(parse_envelope(body, opener=TEST_SEALER).model_dump_json()))


PG_ADMIN_DSN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672")
RABBITMQCTL = os.environ.get("RABBITMQCTL", shutil.which("rabbitmqctl") or "rabbitmqctl")


def _database_url(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


@contextlib.asynccontextmanager
async def temporary_database(prefix: str) -> AsyncIterator[str]:
    """A fresh empty database; yields its SQLAlchemy (asyncpg) URL; dropped afterwards."""
    name = f"test_{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield _database_url(name)
    finally:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def migrated_database(prefix: str, migrations_dir: Path) -> AsyncIterator[str]:
    """A fresh database migrated to head with a service's Alembic migrations."""
    async with temporary_database(prefix) as url:
        await asyncio.to_thread(upgrade, migrations_dir, url)
        yield url


def _ctl(*args: str) -> None:
    subprocess.run([RABBITMQCTL, "-q", *args], check=True, capture_output=True, timeout=60)


@contextlib.asynccontextmanager
async def temporary_vhost() -> AsyncIterator[str]:
    """A fresh RabbitMQ vhost for guest; yields its AMQP URL; deleted afterwards."""
    vhost = f"praktika-test-{secrets.token_hex(4)}"
    await asyncio.to_thread(_ctl, "add_vhost", vhost)
    await asyncio.to_thread(_ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"{AMQP_BASE}/{quote(vhost, safe='')}"
    finally:
        await asyncio.to_thread(_ctl, "delete_vhost", vhost)


async def terminate_connections(database_url: str) -> int:
    """``pg_terminate_backend`` every connection to a *test* database (as a restart does to
    them); returns how many. Refuses any database not made by :func:`temporary_database`."""
    name = database_url.rsplit("/", 1)[1].split("?", 1)[0]
    if not name.startswith("test_"):
        raise ValueError(f"refusing to terminate connections to {name!r}: not a test database")
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        killed = [r["pid"] for r in pids]
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", killed)
        # Wait until they are gone, so the clients' sockets are closed when this returns.
        for _ in range(200):
            if not await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", killed
            ):
                break
            await asyncio.sleep(0.01)
        return len(killed)
    finally:
        await conn.close()


class TcpProxy:
    """A loopback TCP proxy a test can cut (drop every connection, refuse new ones), stall
    (accept, never answer) and restore.

    Put it between a client and RabbitMQ or PostgreSQL to make the broker or the database
    "unreachable" without touching the servers other tests use.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stalled = False

    async def start(self) -> int:
        """Listen on a free loopback port (the same port again after a restore)."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self._stalled:
                    continue  # swallowed: the other side never hears of it
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stalled:  # accept, read, never answer
            self._writers.add(writer)
            task = asyncio.create_task(self._swallow(reader))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while await reader.read(65536):
                pass

    def stall(self) -> None:
        """Hang: connections stay open and new ones are accepted, but nothing passes either way
        (a server that accepts and never answers). :meth:`cut` then :meth:`restore` ends it."""
        self._stalled = True

    async def cut(self) -> None:
        """Stop listening and drop every open connection (clients see the broker vanish)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        """Accept connections again on the same port (and pass traffic again after a stall)."""
        self._stalled = False
        await self.start()

    async def close(self) -> None:
        """Cut for good."""
        await self.cut()


class FakeClock:
    """A service's clock a test drives: frozen at ``start`` (``set``/``advance`` move it), or, with
    ``start=None``, real time shifted by an offset that ``advance`` grows.

    One per test (a fixture), never shared across tests: a test's moves must not leak into the
    next one's.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.frozen = start
        self.offset = timedelta()

    def __call__(self) -> datetime:
        if self.frozen is not None:
            return self.frozen
        return datetime.now(UTC) + self.offset

    @property
    def now(self) -> datetime:
        return self()

    def set(self, moment: datetime) -> None:
        """Freeze at ``moment``."""
        self.frozen = moment

    def advance(self, delta: timedelta | None = None, /, **parts: float) -> datetime:
        """Move forward by ``delta`` or ``timedelta(**parts)``; returns the new time."""
        step = (delta or timedelta()) + timedelta(**parts)
        if self.frozen is not None:
            self.frozen += step
        else:
            self.offset += step
        return self()


@dataclass
class EventTap:
    """What producers published, as it arrived on the broker: a private queue bound to ``#`` of
    each tapped exchange (see :func:`tapping`), every body opened as its consumers read it."""

    events: list[dict[str, Any]] = field(default_factory=list)
    # The AMQP headers of each event, in the same order (a traced one carries ``traceparent``).
    headers: list[dict[str, Any]] = field(default_factory=list)
    _channel: Any = None
    _queue: Any = None
    _flushes: set[str] = field(default_factory=set)

    def of(self, event_type: str, **match: Any) -> list[dict[str, Any]]:
        """Arrived events of a type whose payload has the given field values."""
        return [
            e
            for e in self.events
            if e["event_type"] == event_type
            and all(str(e["payload"].get(k)) == str(v) for k, v in match.items())
        ]

    async def wait_for(
        self, event_type: str, count: int = 1, *, timeout: float = 20.0, **match: Any
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` such events arrived; returns them."""
        await wait_until(lambda: len(self.of(event_type, **match)) >= count, timeout=timeout)
        return self.of(event_type, **match)

    async def flush(self, timeout: float = 20.0) -> None:
        """Return once everything routed to the tap before this call has been received: a marker
        goes through the same FIFO queue behind it. With the producer's outbox drained first
        (:func:`outbox_drained`), "nothing else arrived" is then a fact, not a guess."""
        marker = uuid.uuid4().hex
        await self._channel.default_exchange.publish(
            aio_pika.Message(body=b"", message_id=marker, type="tap.flush"),
            routing_key=self._queue.name,
        )
        await wait_until(lambda: marker in self._flushes, timeout=timeout)

    async def _on(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            if message.type == "tap.flush":
                self._flushes.add(str(message.message_id))
            else:
                self.events.append(opened_message(message.body))
                self.headers.append(dict(message.headers or {}))


@contextlib.asynccontextmanager
async def tapping(amqp_url: str, *exchanges: str) -> AsyncIterator[EventTap]:
    """An :class:`EventTap` on ``exchanges`` (e.g. ``"booking.events"``) for the block."""
    tap = EventTap()
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for name in exchanges:
            exchange = await channel.declare_exchange(
                name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            await queue.bind(exchange, routing_key="#")
        tap._channel, tap._queue = channel, queue
        await queue.consume(tap._on)
        yield tap
    finally:
        await connection.close()


async def outbox_drained(database_url: str, timeout: float = 20.0) -> None:
    """Wait until the service behind ``database_url`` has published every event it recorded
    (no outbox row is left unpublished): a definite signal, not a sleep."""

    async def empty() -> bool:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            left = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
        return int(left) == 0

    await wait_until(empty, timeout=timeout, interval=0.05)


async def wait_until(predicate: object, *, timeout: float = 20.0, interval: float = 0.05) -> None:
    """Await ``predicate()`` (sync or async) until it is truthy; ``TimeoutError`` otherwise."""
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()  # type: ignore[operator]
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(interval)


@dataclass
class RunningService:
    """A service started in-process for a test: runtime, app, HTTP client, database URL."""

    name: str
    runtime: ServiceRuntime
    app: FastAPI
    client: httpx.AsyncClient
    database_url: str


@dataclass
class TokenMint:
    """Mints access tokens that services started by :func:`running_service` accept."""

    signing_key: dict[str, Any] = field(default_factory=generate_signing_key)
    issuer: str = "praktika-cabinet"
    audience: str = "praktika"

    @property
    def jwks_json(self) -> str:
        """The public JWKS, as the ``jwt_public_jwks`` setting wants it."""
        return json.dumps(public_jwks([self.signing_key]))

    def token(
        self,
        *roles: str,
        sub: uuid.UUID | None = None,
        lang: str | None = None,
        sid: uuid.UUID | None = None,
    ) -> str:
        """An access token for ``sub`` (random when omitted) with ``roles`` (client by default),
        in session ``sid`` (random when omitted) and, when given, the user's language as the
        ``lang`` claim (as cabinet issues it)."""
        return issue_access_token(
            self.signing_key,
            subject=sub or uuid.uuid4(),
            roles=list(roles or ("client",)),
            issuer=self.issuer,
            audience=self.audience,
            session_id=sid,
            extra_claims=None if lang is None else {"lang": lang},
        )

    def auth(
        self, *roles: str, sub: uuid.UUID | None = None, lang: str | None = None
    ) -> dict[str, str]:
        """``Authorization`` header for :meth:`token`."""
        return {"Authorization": f"Bearer {self.token(*roles, sub=sub, lang=lang)}"}


@contextlib.asynccontextmanager
async def running_service(
    definition: ServiceDefinition,
    build_runtime: Callable[..., ServiceRuntime],
    settings_class: type[ServiceSettings],
    *,
    amqp_url: str,
    tokens: TokenMint,
    clock: Clock | None = None,
    jwks_url: str | None = None,
    database_url: str | None = None,
    **settings: Any,
) -> AsyncIterator[RunningService]:
    """Run a service in this process on its own migrated database and the given vhost.

    ``build_runtime`` is the service's own (``<svc>.bootstrap.build_runtime``); extra keyword
    arguments become settings (e.g. the sandbox fakes' URLs). The consumers are subscribed before
    this yields. Tokens from ``tokens`` are accepted, and with ``jwks_url`` also those signed by
    the keys served there (cabinet's JWKS). With ``database_url`` the service runs on that
    database as it is (a test that migrated it itself, say from an older revision).
    """
    async with contextlib.AsyncExitStack() as stack:
        url: str = (
            database_url
            if database_url is not None
            else await stack.enter_async_context(
                migrated_database(definition.name, definition.migrations_dir)
            )
        )
        config = settings_class(
            database_url=url,
            amqp_url=amqp_url,
            environment="test",
            jwks_url=jwks_url,
            jwt_public_jwks=tokens.jwks_json,
            relay_poll_seconds=0.2,
            timers_poll_seconds=0.2,
            # The retention loop holds a connection of its own and purges every 10 minutes, longer
            # than any test: off unless a test asks (``runtime.housekeeping.purge()`` still works).
            # A session keeps a dozen services alive; each leader's connection counted against
            # PostgreSQL's 100 beside a running `make run`.
            **{"run_housekeeping": False, **settings},
        )
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        runtime = build_runtime(config, **kwargs)
        app = create_app(runtime)
        await runtime.start()
        try:
            async with asyncio.timeout(30):
                await runtime.wait_consuming()
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{definition.name}"
            ) as client:
                yield RunningService(definition.name, runtime, app, client, url)
        finally:
            await runtime.stop()


# -- traces -----------------------------------------------------------------------------------


class _SpanGate(SpanProcessor):
    """Passes finished spans to an in-memory exporter while a test records them; between such
    tests nothing is kept (the process's provider stays installed: OpenTelemetry allows one)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self._processor = SimpleSpanProcessor(self.exporter)
        self.open = False

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        if self.open:
            self._processor.on_end(span)

    def shutdown(self) -> None:
        self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@functools.cache
def _span_gate() -> _SpanGate:
    # Process-wide by nature: OpenTelemetry's global tracer provider is set once per process.
    gate = _SpanGate()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": "praktika-tests"}))
        trace.set_tracer_provider(provider)
    provider.add_span_processor(gate)
    instrument_httpx()
    return gate


@contextlib.contextmanager
def recording_spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on, as ``OTEL_TRACES_EXPORTER`` would turn it on, with every span finished inside
    the block kept in memory (``exporter.get_finished_spans()``); httpx calls are instrumented."""
    gate = _span_gate()
    gate.exporter.clear()
    gate.open = True
    try:
        yield gate.exporter
    finally:
        gate.open = False
        gate.exporter.clear()


async def announce_users(
    amqp_url: str, users: dict[uuid.UUID, str], *, name: str = "Тест", language: str = "ru"
) -> None:
    """Tell a stack about ``users`` (id → role) as cabinet does: ``cabinet.user.registered`` with
    the email verified, published to ``cabinet.events`` (publisher-confirmed), without cabinet."""
    spec = spec_of(UserRegisteredV1)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        for user_id, role in users.items():
            envelope = example_envelope(
                UserRegisteredV1,
                user_id=user_id,
                email=f"user-{user_id.hex[:12]}@example.org",
                email_verified=True,
                name=name,
                time_zone="Europe/Moscow",
                language=language,
                roles=[role],
                registered_at=datetime.now(UTC),
            )
            await exchange.publish(
                aio_pika.Message(
                    envelope.model_dump_json().encode(),
                    message_id=str(envelope.event_id),
                    type=envelope.event_type,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=spec.routing_key,
            )
    finally:
        await connection.close()


@dataclass
class StandInDelivery:
    """An AMQP delivery as :class:`~servicekit.messaging.consumer.MessageProcessor` reads one
    (body, headers, an open channel, settlement), for tests that feed a processor directly to
    count what one micro-batch does; ``settled`` records ``ack``/``reject`` in order."""

    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    delivery_tag: int | None = None
    # Open, as the channel of a message being handled is (a closed one's batch never commits).
    channel: Any = field(default_factory=lambda: _OpenChannel())
    exchange: str = ""
    routing_key: str = ""
    message_id: str | None = None
    type: str | None = None
    settled: list[str] = field(default_factory=list)

    async def ack(self, multiple: bool = False) -> None:
        self.settled.append("ack")

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append("reject")


@dataclass
class _OpenChannel:
    is_closed: bool = False

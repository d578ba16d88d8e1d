"""The outbox relay: publishes committed outbox rows to RabbitMQ, in order, at least once.

How it works, and why:

* **One active relay per database.** A replica becomes the leader by taking a PostgreSQL
  session-level advisory lock on its LISTEN connection; the others wait and retry. If the leader
  dies its connection drops, the lock is released and a standby takes over. A single publisher
  is what keeps events in commit-claim order (several concurrent relays would interleave).
  Rows are still claimed with ``FOR UPDATE SKIP LOCKED`` so a relay that lost the lock without
  noticing can never publish the same rows concurrently with the new leader.
* **Claim → publish → mark in one transaction.** A batch is selected in ``seq`` order and locked,
  published, and marked ``published_at`` (its body dropped) after the broker confirmed every
  message; then the transaction commits. A crash between publish and mark rolls the marks
  back, so the batch is published again: at-least-once, deduplicated by each consumer's inbox.
* **Pipelined confirms.** Messages of a batch are handed to one channel in order (aiormq writes
  frames under a FIFO lock) and their confirms are awaited together, so throughput is not one
  round trip per event. If any message fails, only the prefix before it is marked; the rest is
  retried after a backoff, in the same order. The relay publishes with aio-pika itself, not
  through FastStream's ``RabbitBroker.publish``: the same batches through FastStream cost about
  a quarter more CPU per event and the relay an eighth of its rate (bench/faststream_publish.py;
  docs/events.md, "FastStream and servicekit").
* **Shards.** Every message carries its aggregate's ``shard`` header, which routes it to the
  same partition queue of every consumer (:mod:`servicekit.messaging.topology`).
* **Wake-ups.** ``NOTIFY outbox`` from the insert trigger wakes the relay at commit; a poll every
  ``poll_seconds`` covers notifications lost while disconnected.
* **Failures.** A broker outage is noticed by a cheap probe (a connection attempt every
  ``probe_seconds``, no rows claimed), forever; writes keep succeeding meanwhile and the backlog
  drains in order within a second of the broker's return. A broker that answers but refuses a
  batch is retried with exponential backoff (capped).

* **Traces.** A row written in traced work carries its trace context (``trace_context``): its
  message is published in a ``send`` span child of it, whose ``traceparent``/``tracestate`` go
  in the message's headers for the consumer (:mod:`servicekit.tracing`). Untraced rows cost
  nothing more.

Published rows are deleted after their retention by :mod:`servicekit.housekeeping`, a task of
its own: the relay only publishes (and keeps the lag gauges current).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode

from servicekit.clock import utcnow
from servicekit.db.tables import OUTBOX_CHANNEL
from servicekit.messaging.topology import SHARD_HEADER, shard_of
from servicekit.metrics import ServiceMetrics
from servicekit.tracing import (
    context_from,
    current_trace_context,
    messaging_attributes,
    start_span,
)

logger = logging.getLogger("servicekit.relay")

AfterPublish = Callable[[Sequence[Any]], Awaitable[None]]

# The relay's statements (outbox columns: servicekit.db.tables.outbox).
_CLAIM = """
SELECT seq, event_id, event_type, exchange, routing_key, correlation_id, body::text AS body,
    trace_context::text AS trace_context, body->>'aggregate_id' AS aggregate_id
FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED
"""
# The body goes at once: a published row is kept (for retention and audit of what was sent
# when) without the message, so the outbox never keeps even sealed personal data for long.
_MARK = "UPDATE outbox SET published_at = $2, body = NULL WHERE seq = ANY($1::bigint[])"
_FAIL = "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1"
_LAG = "SELECT count(*), min(created_at) FROM outbox WHERE published_at IS NULL"


def _lock_key(service: str) -> int:
    # A stable signed 64-bit key per service for pg_try_advisory_lock.
    h = 1469598103934665603
    for ch in f"outbox-relay:{service}".encode():
        h = ((h ^ ch) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h - (1 << 64) if h >= (1 << 63) else h


class OutboxRelay:
    """Publishes a service's outbox. ``await relay.run()`` until cancelled."""

    def __init__(
        self,
        *,
        service: str,
        dsn: str,
        amqp_url: str,
        exchanges: Sequence[str],
        metrics: ServiceMetrics | None = None,
        batch_size: int = 200,
        poll_seconds: float = 1.0,
        max_backoff: float = 30.0,
        probe_seconds: float = 0.5,
        after_publish: AfterPublish | None = None,
    ) -> None:
        self.service = service
        self.dsn = dsn
        self.amqp_url = amqp_url
        self.exchange_names = list(exchanges)
        self.metrics = metrics or ServiceMetrics()
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff = max_backoff
        self.after_publish = after_publish  # test seam: runs after confirms, before marking
        self.is_leader = False
        self._wake = asyncio.Event()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._failures = 0
        self._unreachable = False  # the last failure was the broker being out of reach
        self.probe_seconds = probe_seconds
        self.connect_timeout = 10.0
        self._work: asyncpg.Connection | None = None
        # One statement at a time on it: the loop and a /metrics scrape (lag) both use it.
        self._work_lock = asyncio.Lock()
        self._last_lag_check = 0.0

    # -- leadership and wake-ups ------------------------------------------------------------
    async def run(self) -> None:
        """Run forever: become leader, then publish whenever there is something to publish."""
        try:
            while True:
                listen: asyncpg.Connection | None = None
                try:
                    listen = await asyncpg.connect(self.dsn)
                    while not await listen.fetchval(
                        "SELECT pg_try_advisory_lock($1)", _lock_key(self.service)
                    ):
                        self._set_leader(False)
                        await self._update_lag()
                        await asyncio.sleep(self.poll_seconds)
                    self._set_leader(True)
                    await listen.add_listener(OUTBOX_CHANNEL, self._on_notify)
                    logger.info("outbox relay is leader", extra={"service_name": self.service})
                    await self._lead(listen)
                except Exception as exc:  # database gone, listen connection dropped, ...
                    logger.warning("relay interrupted, restarting: %r", exc)
                    await asyncio.sleep(self._backoff(1))
                finally:
                    self._set_leader(False)
                    await self._close_work()
                    if listen is not None and not listen.is_closed():
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(listen.close(), 2)
        finally:
            await self._close_broker()
            await self._close_work()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def _set_leader(self, value: bool) -> None:
        self.is_leader = value
        self.metrics.relay_leader.set(1 if value else 0)

    async def _lead(self, listen: asyncpg.Connection) -> None:
        while True:
            if listen.is_closed():
                raise asyncpg.InterfaceError("listen connection closed")
            self._wake.clear()
            published, failed = await self.publish_pending()
            await self._maybe_update_lag()
            if failed:
                await self._pause_after_failure()
                continue
            if published >= self.batch_size:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _pause_after_failure(self) -> None:
        """Wait before trying a failed batch again. A broker that could not be reached is probed
        (a connection attempt, no rows claimed, nothing written) every ``probe_seconds``, and the
        backlog goes out as soon as it answers: within a second of its return, however long the
        outage. A broker that answered but refused the batch gets the exponential backoff."""
        loop = asyncio.get_running_loop()
        backoff_until = loop.time() + self._backoff(self._failures)
        outage = self._unreachable
        while True:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await self._ensure_broker()
            except Exception:  # still away
                outage = True
                await self._close_broker()
                await asyncio.sleep(self.probe_seconds * (0.5 + random.random() / 2))
                continue
            if not outage and (left := backoff_until - loop.time()) > 0:
                await asyncio.sleep(left)
            return

    def _backoff(self, failures: int) -> float:
        base = min(self.max_backoff, 0.25 * (2 ** min(failures, 10)))
        return float(base * (0.5 + random.random() / 2))

    # -- broker -----------------------------------------------------------------------------
    async def _ensure_broker(self) -> dict[str, AbstractExchange]:
        if self._channel is not None and not self._channel.is_closed and self._exchanges:
            return self._exchanges
        await self._close_broker()
        self._connection = await aio_pika.connect(self.amqp_url, timeout=self.connect_timeout)
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchanges = {}
        for name in self.exchange_names:
            self._exchanges[name] = await self._channel.declare_exchange(
                name, aio_pika.ExchangeType.TOPIC, durable=True
            )
        return self._exchanges

    async def _close_broker(self) -> None:
        conn, self._connection, self._channel, self._exchanges = self._connection, None, None, {}
        if conn is not None and not conn.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    # -- one batch --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _working(self) -> AsyncIterator[asyncpg.Connection]:
        # Plain asyncpg for the relay's own statements: it runs several per batch, and through
        # SQLAlchemy they cost a few ms of CPU per trickling event.
        async with self._work_lock:
            if self._work is None or self._work.is_closed():
                self._work = await asyncpg.connect(self.dsn)
            yield self._work

    async def _close_work(self) -> None:
        work, self._work = self._work, None
        if work is not None and not work.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(work.close(), 2)

    async def publish_pending(self) -> tuple[int, bool]:
        """Publish one batch. Returns (rows published, whether a failure stopped the batch)."""
        async with self._working() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self.batch_size)
            if not rows:
                return 0, False
            ok, error = await self._publish_rows(rows)
            if ok and self.after_publish is not None:
                await self.after_publish(rows[:ok])
            if ok:
                await conn.execute(_MARK, [r["seq"] for r in rows[:ok]], utcnow())
                self.metrics.outbox_published.inc(ok)
            if error is not None:
                await conn.execute(_FAIL, rows[ok]["seq"], error[:2000])
        if error is not None:
            self._failures += 1
            self.metrics.outbox_failures.inc()
            logger.warning(
                "relay publish failed; will retry",
                extra={
                    "event_id": str(rows[ok]["event_id"]),
                    "error": error[:500],
                    "failures": self._failures,
                },
            )
            self._unreachable = (
                error.startswith("connect:") or self._channel is None or self._channel.is_closed
            )
            await self._close_broker()
            return ok, True
        self._failures = 0
        return ok, False

    async def _publish_rows(self, rows: Sequence[asyncpg.Record]) -> tuple[int, str | None]:
        try:
            exchanges = await self._ensure_broker()
        except Exception as exc:  # broker down, auth, timeout...
            return 0, f"connect: {exc!r}"
        tasks: list[asyncio.Future[Any]] = []
        spans: list[Span | None] = []  # the send span of each traced row (None: untraced)
        results: list[Any] | None = None
        try:
            for r in rows:
                exchange = exchanges.get(r["exchange"])
                if exchange is None:
                    # A row for an exchange this relay was not told about: a programming error.
                    return len(tasks), f"unknown exchange {r['exchange']!r}"
                span, trace_headers = _send_span(r)
                spans.append(span)
                # The aggregate's shard routes it to one partition of every consumer (topology).
                headers: dict[str, Any] = {
                    SHARD_HEADER: shard_of(r["aggregate_id"] or str(r["event_id"])),
                    **(trace_headers or {}),
                }
                message = aio_pika.Message(
                    body=r["body"].encode(),
                    headers=headers,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=str(r["event_id"]),
                    correlation_id=r["correlation_id"],
                    type=r["event_type"],
                    app_id=self.service,
                    timestamp=utcnow(),
                )
                # Tasks are created in row order; aiormq's FIFO channel lock keeps that order on
                # the wire, and the broker keeps it in every queue.
                tasks.append(
                    asyncio.ensure_future(
                        exchange.publish(message, r["routing_key"], mandatory=False)
                    )
                )
            results = await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            _end_spans(spans, results)
        for i, res in enumerate(results):
            if isinstance(res, BaseException):
                return i, repr(res)
        return len(results), None

    # -- metrics ------------------------------------------------------------------------------
    async def _maybe_update_lag(self) -> None:
        if asyncio.get_running_loop().time() - self._last_lag_check >= 1.0:
            await self._update_lag()

    async def _update_lag(self) -> tuple[int, float]:
        self._last_lag_check = asyncio.get_running_loop().time()
        async with self._working() as conn:
            count, oldest = await conn.fetchrow(_LAG)
        age = 0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds())
        self.metrics.outbox_pending.set(count)
        self.metrics.outbox_oldest_age.set(age)
        return int(count), age

    async def lag(self) -> tuple[int, float]:
        """(unpublished rows, age in seconds of the oldest) right now; also sets the gauges."""
        return await self._update_lag()


def _send_span(row: asyncpg.Record) -> tuple[Span | None, dict[str, Any] | None]:
    """The ``send`` span of a traced row and the headers carrying it; ``(None, None)`` for an
    untraced one."""
    raw = row["trace_context"]
    parent = context_from(json.loads(raw)) if raw else None
    if parent is None:
        return None, None
    span = start_span(
        f"send {row['exchange']}",
        kind=SpanKind.PRODUCER,
        parent=parent,
        attributes=messaging_attributes(
            "send",
            exchange=row["exchange"],
            routing_key=row["routing_key"],
            message_id=str(row["event_id"]),
            conversation_id=row["correlation_id"],
        ),
    )
    with trace.use_span(span):
        headers = current_trace_context()
    return span, dict(headers) if headers else None


def _end_spans(spans: Sequence[Span | None], results: Sequence[Any] | None) -> None:
    for i, span in enumerate(spans):
        if span is None:
            continue
        outcome = None if results is None or i >= len(results) else results[i]
        if isinstance(outcome, BaseException):
            span.record_exception(outcome)
            span.set_status(StatusCode.ERROR, type(outcome).__name__)
        span.end()

"""Event consumers: one quorum queue per purpose, handlers by event type, exactly-once effects.

A service declares::

    user_events = EventConsumer("notify", "user-events")

    @user_events.handles(UserRegisteredV1)
    async def remember_user(uow: UnitOfWork, event: EventEnvelope[UserRegisteredV1]) -> None:
        ...  # state changes through uow.session; uow.emit(...) for events it causes

and the runtime subscribes it. For every message the consumer:

1. opens the message's sealed parts with the service's keys
   (:mod:`servicekit.messaging.sealing`), parses the envelope and validates the payload against
   ``contracts`` — a malformed message, one sealed under keys this service does not hold,
   an unknown type or version, or a type nobody here handles is dead-lettered at once with the
   reason (retrying cannot fix it);
2. opens a unit of work, records ``(queue, event_id)`` in the inbox and runs the handler in that
   same transaction; a duplicate is acknowledged without a second effect;
3. handles messages of one aggregate (the envelope's ``aggregate_id``) one after another in the
   order they arrived, and different aggregates concurrently, in micro-batches that share a
   transaction (see :class:`MessageProcessor`); a consumer's optional ``batch_scope`` is
   entered once per micro-batch around its handlers (read what the batch needs at once, write
   what they buffered in bulk: :data:`BatchScope`);
   Each handler runs in a ``process`` span (kind consumer) child of the message's W3C
   ``traceparent`` header (:mod:`servicekit.tracing`);
4. on a handler error, rejects with requeue so the message is tried again, up to the queue's
   delivery limit; the last failure is dead-lettered with the error as its reason. Messages behind
   a failing one keep flowing (prefetch > 1, handlers run concurrently);
5. on a *transient* error (the database is away: :func:`servicekit.db.faults.is_transient`, the
   classification HTTP answers 503 for) counts no attempt: the message stays unsettled, the
   consumer pauses and probes the database with backoff, and tries it again when the database
   answers. An outage never dead-letters a good message.

Dead-lettering publishes the original body and properties to the service's DLX with headers
``x-error`` / ``x-error-at`` / ``x-original-*`` (publisher-confirmed), *then* acks the original:
a crash in between duplicates the message in the DLQ rather than losing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from contracts.envelope import ContractError, EventEnvelope, parse_envelope
from contracts.registry import spec_of
from opentelemetry.trace import Span, SpanKind
from pydantic import BaseModel

from servicekit.clock import utcnow
from servicekit.correlation import correlation_scope
from servicekit.db.faults import is_transient
from servicekit.messaging import inbox
from servicekit.messaging.copies import resent
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.messaging.sealing import EventSealer
from servicekit.messaging.topology import QueueSpec, queue_for
from servicekit.metrics import ServiceMetrics
from servicekit.tracing import attached, context_from, messaging_attributes, tracer

logger = logging.getLogger("servicekit.consumer")

Handler = Callable[[UnitOfWork, EventEnvelope[Any]], Awaitable[None]]
BatchScope = Callable[
    [UnitOfWork, Sequence[EventEnvelope[Any]]], contextlib.AbstractAsyncContextManager[None]
]
"""Optional, per consumer: entered once per micro-batch, in its transaction, around the handlers
of the batch's fresh events (after the inbox claim, before the commit). A service uses it to read
what the whole batch needs in a few queries and to write what the handlers buffered in bulk on the
way out (:attr:`EventConsumer.batch_scope`)."""


class PermanentFailure(Exception):
    """Raise from a handler when retrying cannot help: the message goes to the DLQ at once."""


class _ChannelLost(Exception):
    """The channel a batch's messages came on closed before the commit: the broker has put them
    back (for this replica or another), so the batch must not commit (it would race the next
    consumer of the partition) and cannot be settled."""


@dataclass
class EventConsumer:
    """Handlers of one queue, ``<service>.<purpose>``.

    A service declares it once (often at module level) and registers its handlers at import;
    after that it is a definition nobody changes. A runtime runs its own copy
    (:meth:`for_runtime`) with the runtime's settings, so two runtimes in one process (tests)
    never share a consumer's state.
    """

    service: str
    purpose: str
    delivery_limit: int = 5
    partitions: int = 1
    handlers: dict[tuple[str, int], Handler] = field(default_factory=dict)
    models: list[type[BaseModel]] = field(default_factory=list)
    batch_scope: BatchScope | None = None  # see BatchScope; None: handlers run bare

    def handles(self, model: type[BaseModel]) -> Callable[[Handler], Handler]:
        """Register the handler of one (event type, version)."""
        spec = spec_of(model)

        def register(fn: Handler) -> Handler:
            key = (spec.event_type, spec.version)
            if key in self.handlers:
                raise ValueError(f"{self.queue_name} already handles {key}")
            self.handlers[key] = fn
            self.models.append(model)
            return fn

        return register

    @property
    def queue_name(self) -> str:
        """``<service>.<purpose>``."""
        return f"{self.service}.{self.purpose}"

    def for_runtime(self, *, delivery_limit: int, partitions: int = 1) -> EventConsumer:
        """A copy of this definition with one runtime's settings (its own handler table)."""
        return replace(
            self,
            delivery_limit=delivery_limit,
            partitions=partitions,
            handlers=dict(self.handlers),
            models=list(self.models),
        )

    def queue(self) -> QueueSpec:
        """The queue spec (bindings follow the registered handlers)."""
        return queue_for(
            self.service,
            self.purpose,
            self.models,
            delivery_limit=self.delivery_limit,
            partitions=self.partitions,
        )


def delivery_count(message: AbstractIncomingMessage) -> int:
    """How many times the broker delivered this message before (quorum ``x-delivery-count``)."""
    raw = (message.headers or {}).get("x-delivery-count", 0)
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0


@dataclass
class _Item:
    message: AbstractIncomingMessage
    envelope: EventEnvelope[Any]
    handler: Handler
    done: asyncio.Future[None]
    fresh: bool = False  # first time this consumer sees the event


@dataclass
class _Partition:
    pending: list[_Item] = field(default_factory=list)
    draining: bool = False


@dataclass
class _Frontier:
    """Settled delivery tags of one channel: every tag up to ``through`` is settled; ``above``
    holds the settled ones beyond it."""

    channel: Any
    through: int = 0
    above: set[int] = field(default_factory=set)
    stuck: bool = False  # a gap that never closed: single acks only on this channel


_MAX_ABOVE = 4096


class _Acks:
    """Acknowledges a micro-batch with as few frames as is safe.

    Delivery tags of a channel count up from 1. When a batch's tags, with everything settled
    before, leave no gap from the start, one ``basic.ack(multiple=True)`` at the highest of them
    settles them all; tags beyond a gap (a message of another partition still running) are
    acked one by one, at once — an ack is never held back, so a slow or retrying message never
    stalls the others. A tag this processor never settles (a gap that stays) only means no
    more multiple acks on that channel: conservative, never wrong.
    """

    def __init__(self) -> None:
        self._channels: dict[int, _Frontier] = {}

    def _frontier(self, message: AbstractIncomingMessage) -> _Frontier | None:
        tag = message.delivery_tag
        if tag is None:
            return None
        channel = message.channel
        frontier = self._channels.get(id(channel))
        if frontier is None or frontier.channel is not channel:
            # A new channel (a reconnect): forget the closed ones.
            self._channels = {
                key: f for key, f in self._channels.items() if not f.channel.is_closed
            }
            frontier = self._channels[id(channel)] = _Frontier(channel)
        return frontier

    def settled(self, message: AbstractIncomingMessage) -> None:
        """``message`` was settled by its own frame (a reject, a dead-lettering ack)."""
        frontier = self._frontier(message)
        if frontier is not None:
            self._advance(frontier, [message.delivery_tag or 0])

    @staticmethod
    def _advance(frontier: _Frontier, tags: list[int]) -> None:
        if frontier.stuck:
            return
        frontier.above.update(tags)
        while frontier.through + 1 in frontier.above:
            frontier.through += 1
            frontier.above.discard(frontier.through)
        if len(frontier.above) > _MAX_ABOVE:  # a tag settled elsewhere: stop tracking
            frontier.stuck = True
            frontier.above.clear()

    async def ack(self, messages: list[AbstractIncomingMessage]) -> None:
        """Acknowledge ``messages`` (all of one successful batch)."""
        by_channel: dict[int, list[AbstractIncomingMessage]] = {}
        for message in messages:
            by_channel.setdefault(id(message.channel), []).append(message)
        for group in by_channel.values():
            frontier = self._frontier(group[0])
            if frontier is None:
                for message in group:
                    await message.ack()
                continue
            self._advance(frontier, [m.delivery_tag or 0 for m in group])
            covered = [m for m in group if (m.delivery_tag or 0) <= frontier.through]
            if covered:
                await max(covered, key=lambda m: m.delivery_tag or 0).ack(multiple=True)
            for message in group:
                if (message.delivery_tag or 0) > frontier.through:
                    await message.ack()


class MessageProcessor:
    """Runs an :class:`EventConsumer` over raw AMQP messages (called by the broker adapter).

    Messages are spread over ``partitions`` by ``aggregate_id`` (so one aggregate always lands in
    the same partition, in arrival order). Each partition handles what has piled up since its last
    transaction as one micro-batch: one inbox insert for the batch, the handlers in arrival order,
    one commit, then the acks. Under light load a batch is one message; under heavy load the
    commit and round trips are shared. If any handler of a batch fails, the transaction is rolled
    back and the batch is re-run one message per transaction, so only the culprit is retried.
    Handlers must therefore keep their effects inside the unit of work (no calls out).
    """

    def __init__(
        self,
        consumer: EventConsumer,
        uow_factory: UnitOfWorkFactory,
        dead_letter: Callable[[AbstractIncomingMessage, str, str | None], Awaitable[None]],
        metrics: ServiceMetrics | None = None,
        *,
        partitions: int = 4,
        max_batch: int = 100,
        retry_delay: Callable[[int], float] = lambda n: min(2.0, 0.05 * 2**n),
        sealer: EventSealer | None = None,
        transient_retries: int = 3,
    ) -> None:
        self.consumer = consumer
        self.sealer = sealer or uow_factory.sealer
        self.queue = consumer.queue()
        self.uow_factory = uow_factory
        self.dead_letter = dead_letter
        self.metrics = metrics or ServiceMetrics()
        self.retry_delay = retry_delay
        self.max_batch = max_batch
        self.transient_retries = transient_retries
        self.max_pause_probe = 2.0
        self._database_gate = asyncio.Lock()
        self._partitions = [_Partition() for _ in range(max(1, partitions))]
        self._acks = _Acks()

    async def settle_aside(self, message: AbstractIncomingMessage) -> None:
        """Acknowledge a message that is not an event for the handlers (a partition probe)."""
        await message.ack()
        self._acks.settled(message)

    def _count(self, event_type: str, outcome: str) -> None:
        self.metrics.consumed.labels(self.queue.name, event_type, outcome).inc()

    def _partition(self, envelope: EventEnvelope[Any]) -> _Partition:
        key = envelope.aggregate_id or str(envelope.event_id)
        return self._partitions[zlib.crc32(key.encode()) % len(self._partitions)]

    async def process(self, message: AbstractIncomingMessage) -> None:
        """Handle one message and settle it (ack, requeue or dead-letter). Never raises."""
        try:
            envelope = parse_envelope(message.body, opener=self.sealer)
        except ContractError as exc:
            await self._dead(message, f"invalid_event: {exc}", message.type or "?")
            return
        handler = self.consumer.handlers.get((envelope.event_type, envelope.version))
        if handler is None:
            await self._dead(
                message,
                f"no_handler: {self.queue.name} does not handle "
                f"{envelope.event_type} v{envelope.version}",
                envelope.event_type,
            )
            return
        # Queued before the first suspension, so the partition sees arrival order.
        item = _Item(message, envelope, handler, asyncio.get_running_loop().create_future())
        partition = self._partition(envelope)
        partition.pending.append(item)
        if not partition.draining:
            partition.draining = True
            asyncio.create_task(self._drain(partition))  # noqa: RUF006 - awaited via item.done
        await item.done

    async def _drain(self, partition: _Partition) -> None:
        try:
            while partition.pending:
                batch = partition.pending[: self.max_batch]
                del partition.pending[: self.max_batch]
                try:
                    await self._run_batch(batch)
                except Exception:  # never leave a delivery unsettled
                    logger.exception("batch processing crashed; requeueing its messages")
                    for item in batch:
                        if not item.done.done():
                            with contextlib.suppress(Exception):
                                await item.message.reject(requeue=True)
                                self._acks.settled(item.message)
                            item.done.set_result(None)
        finally:
            partition.draining = False

    async def _run_batch(self, batch: list[_Item]) -> None:
        suspicious = 0  # "transient" failures while the database answered the probe
        while True:
            error = await self._try_batch(batch)
            if error is None:
                break
            if isinstance(error, _ChannelLost):  # rolled back; the broker redelivers them
                for item in batch:
                    if not item.done.done():
                        item.done.set_result(None)
                return
            if not is_transient(error) or suspicious >= self.transient_retries:
                if len(batch) > 1:
                    for item in batch:  # isolate the failing message
                        await self._run_batch([item])
                    return
                await self._failed(batch[0], error)
                return
            # The database (or a connection to it) is away: not the message's fault. It stays
            # unsettled (no delivery counted) and is tried again once the database answers.
            if not await self._wait_for_database(error):
                suspicious += 1
            else:
                suspicious = 0
        await self._acks.ack([item.message for item in batch])
        for item in batch:
            self._count(item.envelope.event_type, "handled" if item.fresh else "duplicate")
            if not item.fresh:
                logger.info(
                    "duplicate event ignored",
                    extra={"event_id": str(item.envelope.event_id), "queue": self.queue.name},
                )
            item.done.set_result(None)

    async def _try_batch(self, batch: list[_Item]) -> Exception | None:
        try:
            async with self.uow_factory() as uow:
                fresh = await inbox.claim_many(
                    uow.session,
                    consumer=self.queue.name,
                    events=[(i.envelope.event_id, i.envelope.event_type) for i in batch],
                )
                for item in batch:
                    item.fresh = item.envelope.event_id in fresh
                    fresh.discard(item.envelope.event_id)  # a duplicate within the batch
                run = [item for item in batch if item.fresh]
                scope = self.consumer.batch_scope
                async with (
                    scope(uow, [i.envelope for i in run]) if scope else contextlib.nullcontext()
                ):
                    for item in run:
                        env = item.envelope
                        with (
                            correlation_scope(env.correlation_id, env.event_id),
                            self._span(item),
                        ):
                            await item.handler(uow, env)
                if any(item.message.channel.is_closed for item in batch):
                    raise _ChannelLost
                await uow.commit()
        except Exception as exc:
            return exc
        return None

    def _span(self, item: _Item) -> contextlib.AbstractContextManager[Span]:
        """The ``process`` span of one handler run, child of the message's ``traceparent``
        (a root span when it has none); the handler's events and timers continue it."""
        message, envelope = item.message, item.envelope
        return tracer.start_as_current_span(
            f"process {self.queue.name}",
            context=context_from(message.headers),
            kind=SpanKind.CONSUMER,
            attributes=messaging_attributes(
                "process",
                exchange=message.exchange or "",
                routing_key=message.routing_key,
                message_id=str(envelope.event_id),
                conversation_id=envelope.correlation_id,
                subscription=self.queue.name,
            ),
        )

    async def _wait_for_database(self, error: Exception) -> bool:
        """Pause until the database answers; ``True`` if it did not at first (an outage).

        One probe loop per processor (``SELECT 1`` through the unit of work, backing off up to
        ``max_pause_probe`` seconds); every partition waits behind it, so consumption pauses
        while the database is away and resumes by itself. Messages held meanwhile stay
        unacknowledged (bounded by the prefetch); RabbitMQ's ``consumer_timeout`` (30 min by
        default) bounds how long an outage can be waited out before the broker redelivers them.
        """
        async with self._database_gate:
            delay, away = 0.1, False
            while True:
                try:
                    async with asyncio.timeout(5), self.uow_factory() as uow:
                        await (await uow.connection()).fetchval("SELECT 1")
                except Exception as exc:
                    if not is_transient(exc):
                        return away
                    if not away:
                        logger.warning(
                            "database unreachable; consumer paused until it is back",
                            extra={"queue": self.queue.name, "error": repr(error)[:500]},
                        )
                    away = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_pause_probe)
                    continue
                if away:
                    logger.info(
                        "database is back; consumer resumes", extra={"queue": self.queue.name}
                    )
                return away

    async def _failed(self, item: _Item, exc: Exception) -> None:
        message, envelope = item.message, item.envelope
        try:
            with (
                correlation_scope(envelope.correlation_id, envelope.event_id),
                attached(context_from(message.headers)),  # its log lines carry the trace id
            ):
                if isinstance(exc, PermanentFailure):
                    await self._dead(message, f"permanent_failure: {exc}", envelope.event_type)
                    return
                attempt = delivery_count(message) + 1
                reason = f"handler_error after {attempt} attempts: {type(exc).__name__}"
                if attempt >= self.queue.delivery_limit:
                    logger.error(
                        "event failed on its last attempt; dead-lettering",
                        extra={
                            "event_id": str(envelope.event_id),
                            "queue": self.queue.name,
                            "error": f"{reason}: {exc}",
                        },
                    )
                    # An exception's text may quote what it failed on (a value, a row): in the
                    # DLQ it travels sealed like the payload (x-error-detail), never in clear.
                    await self._dead(
                        message, reason, envelope.event_type, detail=f"{type(exc).__name__}: {exc}"
                    )
                    return
                logger.warning(
                    "event handler failed; will retry",
                    extra={
                        "event_id": str(envelope.event_id),
                        "queue": self.queue.name,
                        "attempt": attempt,
                        "error": f"{type(exc).__name__}: {exc}",
                    },
                )
                self._count(envelope.event_type, "retried")
                await asyncio.sleep(self.retry_delay(attempt))
                await message.reject(requeue=True)
                self._acks.settled(message)
        finally:
            if not item.done.done():
                item.done.set_result(None)

    async def _dead(
        self,
        message: AbstractIncomingMessage,
        reason: str,
        event_type: str,
        *,
        detail: str | None = None,
    ) -> None:
        logger.error(
            "dead-lettering message",
            extra={
                "message_id": message.message_id,
                "queue": self.queue.name,
                "reason": reason[:500],
            },
        )
        try:
            sealed = None if detail is None else self.sealer.seal("personal", detail.encode())
            await self.dead_letter(message, reason, sealed)
        except Exception:
            # Could not reach the DLX: leave the message in the queue to be tried again.
            logger.exception("dead-lettering failed; requeueing")
            await message.reject(requeue=True)
            self._acks.settled(message)
            return
        await message.ack()
        self._acks.settled(message)
        self._count(event_type, "dead_lettered")


def dead_letter_message(
    message: AbstractIncomingMessage,
    *,
    queue: QueueSpec,
    reason: str,
    sealed_detail: str | None = None,
) -> aio_pika.Message:
    """The copy of ``message`` that goes to the DLQ, with why and from where (the body as it
    arrived: sealed; the handler's error text, if any, sealed in ``x-error-detail``)."""
    headers: dict[str, Any] = dict(message.headers or {})
    if sealed_detail is not None:
        headers["x-error-detail"] = sealed_detail
    headers.update(
        {
            "x-error": reason[:4000],
            "x-error-at": utcnow().isoformat(),
            "x-original-queue": queue.name,
            "x-original-exchange": message.exchange or "",
            "x-original-routing-key": message.routing_key or "",
        }
    )
    headers.pop("x-delivery-count", None)
    return resent(message, headers)

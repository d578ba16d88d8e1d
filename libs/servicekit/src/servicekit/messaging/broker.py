"""The broker side of a service at run time: topology, FastStream subscribers, dead-lettering.

Consumers run on FastStream's :class:`~faststream.rabbit.RabbitBroker` (connection management,
reconnects, graceful shutdown); each subscriber uses ``AckPolicy.MANUAL`` and hands the raw
message to :class:`~servicekit.messaging.consumer.MessageProcessor`, which settles it.
Dead-lettering publishes with confirms on a connection of its own, so it never depends on the
state of the consuming channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage
from faststream import AckPolicy
from faststream.message import StreamMessage
from faststream.rabbit import Channel, QueueType, RabbitBroker, RabbitQueue

from servicekit.messaging.consumer import EventConsumer, MessageProcessor, dead_letter_message
from servicekit.messaging.dlq import depths as dlq_depths
from servicekit.messaging.outbox import UnitOfWorkFactory
from servicekit.messaging.topology import QueueSpec, declare_topology, dlx_name
from servicekit.metrics import ServiceMetrics

logger = logging.getLogger("servicekit.broker")


async def _raw_message(message: StreamMessage[Any]) -> Any:
    """Hand the handler the aio-pika message itself: the processor parses, validates and settles
    it. (Asking FastStream for the message by annotation resolves a context in a thread pool per
    message, a fifth of the consumer's CPU in profiling.)"""
    return message.raw_message


class DeadLetterPublisher:
    """Publishes dead-lettered copies to a service's DLX with publisher confirms."""

    def __init__(self, amqp_url: str, service: str) -> None:
        self.amqp_url = amqp_url
        self.exchange_name = dlx_name(service)
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()

    async def _exchange(self) -> aio_pika.abc.AbstractExchange:
        async with self._lock:
            if self._channel is None or self._channel.is_closed:
                await self.close()
                self._connection = await aio_pika.connect(self.amqp_url, timeout=10)
                self._channel = await self._connection.channel(publisher_confirms=True)
            return await self._channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
            )

    async def publish(
        self,
        message: AbstractIncomingMessage,
        queue: QueueSpec,
        reason: str,
        sealed_detail: str | None = None,
    ) -> None:
        """Copy ``message`` to the DLQ of ``queue`` with ``reason``, once the broker confirms."""
        exchange = await self._exchange()
        copy = dead_letter_message(message, queue=queue, reason=reason, sealed_detail=sealed_detail)
        await exchange.publish(copy, routing_key=queue.name)

    async def close(self) -> None:
        """Close the connection (if any)."""
        conn, self._connection, self._channel = self._connection, None, None
        if conn is not None and not conn.is_closed:
            with contextlib.suppress(Exception):
                await conn.close()


class ConsumerHost:
    """Declares the topology and runs a service's consumers on a FastStream broker."""

    def __init__(
        self,
        *,
        service: str,
        amqp_url: str,
        consumers: Sequence[EventConsumer],
        produces_exchanges: Sequence[str],
        uow_factory: UnitOfWorkFactory,
        metrics: ServiceMetrics,
        prefetch_count: int = 64,
        partitions: int = 4,
    ) -> None:
        self.service = service
        self.amqp_url = amqp_url
        self.consumers = list(consumers)
        self.exchanges = list(produces_exchanges)
        self.metrics = metrics
        self.dead_letters = DeadLetterPublisher(amqp_url, service)
        self.broker = RabbitBroker(
            amqp_url,
            default_channel=Channel(prefetch_count=prefetch_count),
            app_id=service,
            logger=logging.getLogger(f"{service}.faststream"),
            graceful_timeout=10.0,
            log_level=logging.DEBUG,  # one line per message is too much at INFO
        )
        self.partitions = partitions
        self.processors: list[MessageProcessor] = []
        for consumer in self.consumers:
            self._subscribe(consumer, uow_factory)
        self.started = False
        self.started_event = asyncio.Event()

    def _subscribe(self, consumer: EventConsumer, uow_factory: UnitOfWorkFactory) -> None:
        spec = consumer.queue()

        async def dead_letter(
            message: AbstractIncomingMessage, reason: str, sealed_detail: str | None
        ) -> None:
            await self.dead_letters.publish(message, spec, reason, sealed_detail)

        processor = MessageProcessor(
            consumer, uow_factory, dead_letter, self.metrics, partitions=self.partitions
        )
        self.processors.append(processor)

        async def on_message(raw: Any) -> None:
            await processor.process(raw)

        on_message.__name__ = f"on_{consumer.purpose.replace('-', '_')}"
        self.broker.subscriber(
            RabbitQueue(  # type: ignore[call-overload]  # arguments: a plain dict, as declared
                spec.name,
                queue_type=QueueType.QUORUM,
                durable=True,
                arguments=spec.arguments(),
                declare=False,
            ),
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_message,
        )(on_message)

    async def start(self) -> None:
        """Declare exchanges, queues, DLX/DLQ and bindings, then start consuming."""
        await declare_topology(self.amqp_url, self.exchanges, [c.queue() for c in self.consumers])
        await self.broker.start()
        self.started = True
        self.started_event.set()

    async def stop(self) -> None:
        """Stop consuming (in-flight handlers finish) and close connections."""
        if self.started:
            await self.broker.stop()
            self.started = False
            self.started_event.clear()
        await self.dead_letters.close()

    async def dlq_depths(self) -> dict[str, int]:
        """Messages waiting in each of this service's DLQs."""
        depths = await dlq_depths(self.amqp_url, [c.queue().dlq for c in self.consumers])
        for name, depth in depths.items():
            self.metrics.dlq_depth.labels(name).set(depth)
        return depths

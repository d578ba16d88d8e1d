"""RabbitMQ topology, declared the same way by every service.

* One durable **topic exchange per producer**: ``<producer>.events``.
* Per consumer purpose a **quorum queue** ``<service>.<purpose>`` bound to the routing keys
  ``<event_type>.v<version>`` it handles, with an explicit ``x-delivery-limit`` and a
  dead-letter exchange, so a message that keeps failing can never block or loop.
* Per queue a **DLQ** ``<queue>.dlq`` (classic durable queue: it is browsed and replayed by the
  DLQ command, and a quorum queue on RabbitMQ 4.x would drop a message browsed 20 times),
  bound to the service's direct exchange ``<service>.dlx`` with the queue's name as routing key.

Works on RabbitMQ 3.10 (no default delivery limit) and 4.x (default 20): the limit is always set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel
from contracts.registry import spec_of
from pydantic import BaseModel


def dlx_name(service: str) -> str:
    """The dead-letter exchange of a consuming service."""
    return f"{service}.dlx"


def dlq_name(queue: str) -> str:
    """The dead-letter queue of a queue."""
    return f"{queue}.dlq"


@dataclass(frozen=True)
class QueueSpec:
    """A consumer queue: its name, what it is bound to, and its dead-lettering."""

    service: str
    name: str
    bindings: tuple[tuple[str, str], ...]  # (exchange, routing key)
    delivery_limit: int = 5
    arguments_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dlx(self) -> str:
        """Dead-letter exchange."""
        return dlx_name(self.service)

    @property
    def dlq(self) -> str:
        """Dead-letter queue."""
        return dlq_name(self.name)

    @property
    def native_delivery_limit(self) -> int:
        """The broker's own limit: a backstop above the consumer's, for crash loops.

        The consumer dead-letters a failing message itself on its last allowed attempt, with the
        error as the reason; the broker only acts if the consumer never gets that far.
        """
        return self.delivery_limit + 2

    def arguments(self) -> dict[str, Any]:
        """Queue arguments (quorum, DLX, delivery limit)."""
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dlx,
            "x-dead-letter-routing-key": self.name,
            "x-delivery-limit": self.native_delivery_limit,
            **self.arguments_extra,
        }


def queue_for(
    service: str, purpose: str, models: Iterable[type[BaseModel]], *, delivery_limit: int = 5
) -> QueueSpec:
    """The queue ``<service>.<purpose>`` bound to the routing keys of ``models``."""
    bindings = tuple(sorted({(spec_of(m).exchange, spec_of(m).routing_key) for m in models}))
    return QueueSpec(
        service=service,
        name=f"{service}.{purpose}",
        bindings=bindings,
        delivery_limit=delivery_limit,
    )


async def declare_exchange(channel: AbstractChannel, name: str) -> aio_pika.abc.AbstractExchange:
    """Declare a producer's durable topic exchange (idempotent)."""
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> None:
    """Declare the queue, its DLX and DLQ, the source exchanges and every binding (idempotent)."""
    dlx = await channel.declare_exchange(spec.dlx, aio_pika.ExchangeType.DIRECT, durable=True)
    dlq = await channel.declare_queue(spec.dlq, durable=True)
    await dlq.bind(dlx, routing_key=spec.name)
    queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments())
    for exchange_name, routing_key in spec.bindings:
        exchange = await declare_exchange(channel, exchange_name)
        await queue.bind(exchange, routing_key=routing_key)


async def declare_topology(
    amqp_url: str, exchanges: Sequence[str], queues: Sequence[QueueSpec]
) -> None:
    """Declare a service's own exchanges and its consumer queues on a short-lived connection."""
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        channel = await connection.channel()
        for name in exchanges:
            await declare_exchange(channel, name)
        for spec in queues:
            await declare_queue(channel, spec)
    finally:
        await connection.close()

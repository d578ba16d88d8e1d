"""RabbitMQ topology, declared the same way by every service.

* One durable **topic exchange per producer**: ``<producer>.events``. Every message the relay
  publishes carries a ``shard`` header: its aggregate's shard, one of :data:`SHARDS`, from a
  CRC-32 of the envelope's ``aggregate_id`` (:func:`shard_of`).
* Per consumer purpose (``<service>.<purpose>``, the name the inbox and the DLQ go by):

  - a durable **headers exchange** ``<service>.<purpose>``, bound to the producers' exchanges by
    the routing keys ``<event_type>.v<version>`` it handles (exchange-to-exchange bindings);
  - ``partitions`` **quorum queues** ``<service>.<purpose>.p<k>``, each bound to that exchange by
    the shards ``s`` with ``s % partitions == k``: every event of one aggregate lands in the same
    partition queue, in publication order;
  - each partition queue has RabbitMQ's **single active consumer**: every replica of the service
    subscribes to every partition, the broker delivers a partition to one of them at a time and
    hands it to the next when that one's channel closes (a replica that died, or one giving the
    partition up to spread the load: :mod:`servicekit.messaging.broker`). Order per aggregate and
    exactly-once effects (the inbox) hold with any number of replicas;
  - a message without a ``shard`` header (published by a tool, not by a relay) is not lost: the
    headers exchange's **alternate exchange** ``<service>.<purpose>.unsharded`` (fanout) sends it
    to partition 0;
  - an explicit ``x-delivery-limit`` and a dead-letter exchange on every partition, so a message
    that keeps failing can never block or loop.
* Per purpose a **DLQ** ``<service>.<purpose>.dlq`` (classic durable queue: it is browsed and
  replayed by the DLQ command, and a quorum queue on RabbitMQ 4.x would drop a message browsed 20
  times), bound to the service's direct exchange ``<service>.dlx`` with the purpose's name as
  routing key. Replay publishes to the purpose's headers exchange, so a replayed message goes back
  to its aggregate's partition.

The number of partitions is a deployment setting (``QUEUE_PARTITIONS``). Changing it re-binds the
shards: stop the service's replicas and let its queues drain first (docs/operations.md).

Works on RabbitMQ 3.10 (no default delivery limit) and 4.x (default 20): the limit is always set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel
from contracts.registry import spec_of
from pydantic import BaseModel

from servicekit.messaging.copies import resent

logger = logging.getLogger("servicekit.topology")

#: Shards an aggregate is hashed to; a purpose's partitions each take a share of them.
SHARDS = 32
#: The message header carrying the shard (the headers exchange ignores names starting ``x-``).
SHARD_HEADER = "shard"


def shard_of(key: str) -> str:
    """The shard of an aggregate (or of an event without one, by its id): ``"00"``..``"31"``."""
    return f"{zlib.crc32(key.encode()) % SHARDS:02d}"


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
    partitions: int = 1
    arguments_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exchange(self) -> str:
        """The purpose's headers exchange (bound to the producers' exchanges)."""
        return self.name

    @property
    def unsharded(self) -> str:
        """The alternate exchange of messages without a shard header (to partition 0)."""
        return f"{self.name}.unsharded"

    def partition(self, k: int) -> str:
        """The name of partition queue ``k``."""
        return f"{self.name}.p{k}"

    def partition_names(self) -> list[str]:
        """Every partition queue's name, in order."""
        return [self.partition(k) for k in range(self.partitions)]

    def shards_of(self, k: int) -> list[str]:
        """The shards partition ``k`` is bound to."""
        return [f"{s:02d}" for s in range(SHARDS) if s % self.partitions == k]

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
        """Partition queue arguments (quorum, single active consumer, DLX, delivery limit)."""
        return {
            "x-queue-type": "quorum",
            "x-single-active-consumer": True,
            "x-dead-letter-exchange": self.dlx,
            "x-dead-letter-routing-key": self.name,
            "x-delivery-limit": self.native_delivery_limit,
            **self.arguments_extra,
        }


def queue_for(
    service: str,
    purpose: str,
    models: Iterable[type[BaseModel]],
    *,
    delivery_limit: int = 5,
    partitions: int = 1,
) -> QueueSpec:
    """The purpose ``<service>.<purpose>`` bound to the routing keys of ``models``."""
    if not 1 <= partitions <= SHARDS:
        raise ValueError(f"partitions must be between 1 and {SHARDS}")
    if "." in purpose:  # its queues, exchanges and the presence queue are named by dots
        raise ValueError(f"a purpose has no dot: {purpose!r}")
    bindings = tuple(sorted({(spec_of(m).exchange, spec_of(m).routing_key) for m in models}))
    return QueueSpec(
        service=service,
        name=f"{service}.{purpose}",
        bindings=bindings,
        delivery_limit=delivery_limit,
        partitions=partitions,
    )


async def declare_exchange(channel: AbstractChannel, name: str) -> aio_pika.abc.AbstractExchange:
    """Declare a producer's durable topic exchange (idempotent)."""
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> None:
    """Declare a purpose: its DLX and DLQ, its headers exchange bound to the source exchanges,
    its partition queues bound by shard (idempotent)."""
    dlx = await channel.declare_exchange(spec.dlx, aio_pika.ExchangeType.DIRECT, durable=True)
    dlq = await channel.declare_queue(spec.dlq, durable=True)
    await dlq.bind(dlx, routing_key=spec.name)
    unsharded = await channel.declare_exchange(
        spec.unsharded, aio_pika.ExchangeType.FANOUT, durable=True
    )
    router = await channel.declare_exchange(
        spec.exchange,
        aio_pika.ExchangeType.HEADERS,
        durable=True,
        arguments={"alternate-exchange": spec.unsharded},
    )
    for k in range(spec.partitions):
        queue = await channel.declare_queue(
            spec.partition(k), durable=True, arguments=spec.arguments()
        )
        for shard in spec.shards_of(k):
            await queue.bind(router, arguments={"x-match": "all", SHARD_HEADER: shard})
        if k == 0:
            await queue.bind(unsharded)
    for exchange_name, routing_key in spec.bindings:
        source = await declare_exchange(channel, exchange_name)
        await router.bind(source, routing_key=routing_key)


async def retire_unpartitioned_queue(
    connection: aio_pika.abc.AbstractConnection, spec: QueueSpec
) -> int:
    """Move what an older release's single queue ``<service>.<purpose>`` still holds into the
    partitions, then delete it. Returns the messages moved (0 when there is no such queue).

    Declared before partitions existed, that queue is still bound to the producers' exchanges:
    it is unbound first, so it stops filling; each message is republished to the purpose's
    headers exchange with its shard (publisher-confirmed) before it is acknowledged."""
    channel = await connection.channel(publisher_confirms=True)
    try:
        try:
            old = await channel.declare_queue(spec.name, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return 0  # none: a new deployment, or already retired
        for exchange_name, routing_key in spec.bindings:
            with contextlib.suppress(Exception):
                await old.unbind(exchange_name, routing_key=routing_key)
        router = await channel.get_exchange(spec.exchange)
        moved = 0
        while (message := await old.get(no_ack=False, fail=False)) is not None:
            headers = dict(message.headers or {})
            headers.setdefault(SHARD_HEADER, shard_of_body(message.body))
            await router.publish(
                resent(message, headers),
                routing_key=message.routing_key or "",
            )
            await message.ack()
            moved += 1
        # Unbound before it was drained, so nothing new arrives (quorum queues refuse a
        # conditional delete).
        await channel.queue_delete(spec.name)
        logger.info("retired the unpartitioned queue", extra={"queue": spec.name, "moved": moved})
        return moved
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


def shard_of_body(body: bytes) -> str:
    """The shard of a message by its body: its envelope's ``aggregate_id`` (or ``event_id``)."""
    return shard_of(_aggregate_key(body))


def _aggregate_key(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    return str(data.get("aggregate_id") or data.get("event_id") or "")


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
        for spec in queues:
            await retire_unpartitioned_queue(connection, spec)
    finally:
        await connection.close()

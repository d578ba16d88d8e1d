"""Partitioned consumer queues and replicas (issue 21, point 1): events of one aggregate land in
one partition; two replicas of a consumer share the partitions, the one started later gets its
share from the first while events flow, and a replica that stops hands its partitions over;
through all of it every aggregate's events take effect once each, in publication order."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict

import aio_pika
from servicekit.messaging.broker import ConsumerHost
from servicekit.messaging.topology import SHARDS, queue_for, shard_of
from servicekit.testing import wait_until
from sqlalchemy import select

from .conftest import EXCHANGE, Kit, seen

USERS = 24
CHANGES = 12


def test_every_shard_belongs_to_exactly_one_partition() -> None:
    from contracts.cabinet.v1 import UserContactChangedV1

    for partitions in (1, 3, 4, 7, 32):
        spec = queue_for("svc", "p", [UserContactChangedV1], partitions=partitions)
        owned = [s for k in range(partitions) for s in spec.shards_of(k)]
        assert sorted(owned) == [f"{s:02d}" for s in range(SHARDS)]
        assert spec.partition_names()[0] == "svc.p.p0"
    keys = [str(uuid.uuid4()) for _ in range(3200)]
    assert all(shard_of(k) == shard_of(k) for k in keys)
    counts = defaultdict(int)
    for k in keys:
        counts[shard_of(k)] += 1
    assert len(counts) == SHARDS and min(counts.values()) > 50  # spread, roughly even


async def _held(host: ConsumerHost) -> set[str]:
    return {slot.queue_name for slot in host.held()}


async def test_an_aggregate_goes_to_one_partition_and_aggregates_spread(kit: Kit) -> None:
    """What the relay publishes lands, per user, in the one partition queue the user's shard
    names, in publication order; the users spread over all four partitions."""
    from contracts.cabinet.v1 import UserContactChangedV1
    from servicekit.messaging.topology import declare_topology

    spec = queue_for("kittest", "spread", [UserContactChangedV1], partitions=4)
    await declare_topology(kit.amqp_url, [EXCHANGE], [spec])  # queues, no consumer yet
    kit.start(kit.relay().run())
    users = [uuid.uuid4() for _ in range(40)]
    published: dict[str, list[str]] = defaultdict(list)  # user → event ids, in order
    for user in users:
        for name in ("first", "second"):
            envelope = await kit.change_name(user, name)
            published[str(user)].append(str(envelope.event_id))

    found: dict[str, list[tuple[int, str]]] = defaultdict(list)
    connection = await aio_pika.connect(kit.amqp_url)
    async with connection:
        channel = await connection.channel()

        async def all_routed() -> bool:
            counts = []
            for name in spec.partition_names():
                q = await channel.declare_queue(name, passive=True)
                counts.append(q.declaration_result.message_count or 0)
            return sum(counts) == 2 * len(users)

        await wait_until(all_routed, timeout=20)
        # A single-active-consumer queue refuses basic.get: read each by consuming it.
        read = 0
        for k, name in enumerate(spec.partition_names()):

            async def take(message: aio_pika.abc.AbstractIncomingMessage, k: int = k) -> None:
                nonlocal read
                envelope = json.loads(message.body)  # ids travel in the clear, names sealed
                found[envelope["aggregate_id"]].append((k, envelope["event_id"]))
                read += 1
                await message.ack()

            await (await channel.get_queue(name)).consume(take)
        await wait_until(lambda: read == 2 * len(users), timeout=20)
    for user, events in published.items():
        k = int(shard_of(user)) % spec.partitions
        assert found[user] == [(k, e) for e in events]
    assert {k for events in found.values() for k, _ in events} == {0, 1, 2, 3}


def _at_least(kit: Kit, n: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return await kit.seen_count() >= n

    return check


async def _changes(kit: Kit, user: uuid.UUID) -> None:
    for i in range(CHANGES):
        await kit.change_name(user, f"{i:02d}")
        await asyncio.sleep(0.02)


async def test_two_replicas_share_the_partitions_and_hand_them_over_in_order(kit: Kit) -> None:
    first = await kit.consume("handover", partitions=4, rebalance_seconds=0.3)
    kit.start(kit.relay().run())
    users = [uuid.uuid4() for _ in range(USERS)]
    load = asyncio.gather(*(_changes(kit, u) for u in users))

    # A second replica joins while events flow: the first gives it its share.
    await asyncio.sleep(0.3)
    second = await kit.consume("handover", partitions=4, rebalance_seconds=0.3)

    async def shared() -> bool:
        a, b = await _held(first), await _held(second)
        return len(a) == 2 and len(b) == 2 and not a & b

    await wait_until(shared, timeout=15)

    # The first stops while events still flow: the second takes every partition.
    await asyncio.sleep(0.2)
    await first.stop()
    await load

    async def all_seen() -> bool:
        return await kit.seen_count() >= USERS * CHANGES

    await wait_until(all_seen, timeout=30)
    await wait_until(lambda: _holds_all(second), timeout=10)

    async with kit.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(seen.c.user_id, seen.c.name, seen.c.event_id).order_by(seen.c.seq)
            )
        ).all()
    assert len(rows) == USERS * CHANGES
    assert len({r.event_id for r in rows}) == len(rows)  # each event took effect once
    by_user: dict[uuid.UUID, list[str]] = defaultdict(list)
    for r in rows:
        by_user[r.user_id].append(r.name)
    expected = [f"{i:02d}" for i in range(CHANGES)]
    assert all(names == expected for names in by_user.values()), {
        u: n for u, n in by_user.items() if n != expected
    }


async def _holds_all(host: ConsumerHost) -> bool:
    return len(await _held(host)) == len(host.slots)


async def test_an_older_single_queue_is_moved_into_the_partitions_and_deleted(kit: Kit) -> None:
    """A queue ``<service>.<purpose>`` of a release before partitions, still bound and holding
    an event: at start it is unbound, its event moved to its partition (and handled), and it goes.
    """
    from contracts.cabinet.v1 import UserContactChangedV1
    from servicekit.messaging.topology import queue_for

    from .conftest import EXCHANGE

    user = uuid.uuid4()
    connection = await aio_pika.connect(kit.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        legacy = await channel.declare_queue(
            "kittest.legacy", durable=True, arguments={"x-queue-type": "quorum"}
        )
        routing_key = queue_for("kittest", "legacy", [UserContactChangedV1]).bindings[0][1]
        await legacy.bind(exchange, routing_key=routing_key)
    kit.start(kit.relay().run())
    await kit.change_name(user, "waiting in the old queue")

    async def parked() -> bool:
        conn = await aio_pika.connect(kit.amqp_url)
        async with conn:
            ch = await conn.channel()
            q = await ch.declare_queue("kittest.legacy", passive=True)
            return (q.declaration_result.message_count or 0) == 1

    await wait_until(parked, timeout=10)
    await kit.consume("legacy", partitions=2)
    await wait_until(_at_least(kit, 1), timeout=10)
    assert await kit.seen_rows() == [(user, "waiting in the old queue")]

    conn = await aio_pika.connect(kit.amqp_url)
    async with conn:
        ch = await conn.channel()
        try:
            await ch.declare_queue("kittest.legacy", passive=True)
            gone = False
        except aio_pika.exceptions.ChannelClosed:
            gone = True
    assert gone

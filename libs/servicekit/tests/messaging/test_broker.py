"""What servicekit does on the wire (issue 14): the relay publishes with the properties consumers
(and the AsyncAPI document) rely on, and the consumers — servicekit's own, on aio-pika — stop
gracefully and come back by themselves after the broker connection drops."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import aio_pika
import pytest
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope
from servicekit.clock import utcnow
from servicekit.messaging.dlq import depths
from servicekit.messaging.outbox import UnitOfWork
from servicekit.testing import TcpProxy, wait_until

from .conftest import EXCHANGE, Kit


async def test_the_relay_publishes_with_the_properties_consumers_rely_on(
    kit: Kit,
) -> None:
    connection = await aio_pika.connect(kit.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key="#")
        kit.start(kit.relay().run())
        envelope = await kit.change_name(uuid.uuid4(), "Анна")

        async with queue.iterator(timeout=10) as messages:
            message = await anext(messages)
            await message.ack()

    assert message.routing_key == "cabinet.user.contact_changed.v1"
    assert message.message_id == str(envelope.event_id)
    assert message.correlation_id == envelope.correlation_id
    assert message.type == "cabinet.user.contact_changed"
    assert message.app_id == "cabinet"
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.timestamp is not None
    assert abs(message.timestamp - utcnow()) < timedelta(minutes=1)
    assert b'"event_id"' in message.body and str(envelope.event_id).encode() in message.body


async def test_stopping_lets_the_message_being_handled_finish_and_acknowledges_it(
    kit: Kit,
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
        entered.set()
        await release.wait()

    host = await kit.consume("graceful", slow)
    kit.start(kit.relay().run())
    user = uuid.uuid4()
    await kit.change_name(user, "in flight")
    await asyncio.wait_for(entered.wait(), 10)

    stopping = asyncio.ensure_future(host.stop())
    await asyncio.sleep(0.3)
    assert not stopping.done(), "stop() waits for the message being handled"
    release.set()
    await asyncio.wait_for(stopping, 10)

    assert await kit.seen_rows() == [(user, "in flight")]
    # Acknowledged before the connection closed: nothing went back to the queue.
    partitions = host.consumers[0].queue().partition_names()
    assert partitions == ["kittest.graceful.p0"]
    assert set((await depths(kit.amqp_url, partitions)).values()) == {0}


@pytest.mark.slow
async def test_consumers_come_back_by_themselves_after_the_broker_connection_drops(
    kit: Kit,
) -> None:
    proxy = TcpProxy("127.0.0.1", 5672)
    await proxy.start()
    vhost = kit.amqp_url.rsplit("/", 1)[1]
    try:
        host = await kit.consume(
            "reconnect", amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}"
        )
        kit.start(kit.relay().run())  # the relay talks to the broker directly
        user = uuid.uuid4()
        await kit.change_name(user, "before")
        await wait_until(lambda: kit.seen_count(), timeout=10)

        await proxy.cut()  # the consumers' connection drops
        assert not await host.ping(0.5)
        await kit.change_name(user, "during")
        await kit.change_name(user, "and during")
        await proxy.restore()

        await wait_until(_seen_at_least(kit, 3), timeout=30)
        assert await kit.seen_rows() == [(user, "before"), (user, "during"), (user, "and during")]
        assert await host.ping(2.0)
        dlq = host.consumers[0].queue().dlq
        assert (await depths(kit.amqp_url, [dlq]))[dlq] == 0
    finally:
        await proxy.close()


def _seen_at_least(kit: Kit, n: int):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return await kit.seen_count() >= n

    return check

"""Outbox → relay → RabbitMQ → inbox: what arrives, how often, in which order."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope
from servicekit.db.tables import inbox, outbox
from servicekit.messaging.outbox import UnitOfWork
from servicekit.testing import TcpProxy, wait_until
from sqlalchemy import func, select

from .conftest import EXCHANGE, Kit


async def test_committed_event_reaches_consumer_and_a_redelivery_has_no_second_effect(
    kit: Kit,
) -> None:
    await kit.consume("once")
    kit.start(kit.relay().run())
    user = uuid.uuid4()

    envelope = await kit.change_name(user, "Анна")

    await wait_until(lambda: kit.seen_count(), timeout=10)
    assert await kit.seen_rows() == [(user, "Анна")]
    assert await kit.unpublished() == 0

    # The broker delivers the same event again (a redelivery after a lost ack looks like this).
    connection = await aio_pika.connect(kit.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                envelope.model_dump_json().encode(),
                message_id=str(envelope.event_id),
                content_type="application/json",
            ),
            routing_key="cabinet.user.contact_changed.v1",
        )
    await wait_until(lambda: kit.duplicates_ignored("kittest.once") == 1, timeout=10)
    assert await kit.seen_rows() == [(user, "Анна")]
    async with kit.engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(inbox))).scalar_one()
    assert n == 1


async def test_rolled_back_work_publishes_nothing(kit: Kit) -> None:
    await kit.consume("rollback")
    kit.start(kit.relay().run())
    async with kit.producer() as uow:
        uow.emit_args = None  # type: ignore[attr-defined]
        from contracts.cabinet.v1 import UserContactChangedV1

        uow.emit(
            UserContactChangedV1(
                user_id=uuid.uuid4(),
                email="b@example.com",
                email_verified=False,
                name="x",
                time_zone="Europe/Moscow",
                language="ru",
                changed_fields=["name"],
            )
        )
        # leaving the block without commit rolls back state and events together
    await kit.change_name(uuid.uuid4(), "после")
    # One outbox row in all (the rolled-back event never had one): once it is consumed, nothing
    # else can arrive.
    async with kit.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() == 1
    await wait_until(lambda: kit.seen_count(), timeout=10)
    assert [name for _, name in await kit.seen_rows()] == ["после"]


async def test_order_per_aggregate_with_batches_and_two_relays(kit: Kit) -> None:
    await kit.consume("order")
    first, second = kit.relay(batch_size=25), kit.relay(batch_size=25)
    kit.start(first.run())
    kit.start(second.run())
    users = [uuid.uuid4() for _ in range(4)]

    async def writer(user: uuid.UUID) -> None:
        for i in range(50):
            await kit.change_name(user, f"{i:03d}")

    await asyncio.gather(*(writer(u) for u in users))
    await wait_until(lambda: _count_is(kit, 200), timeout=30)

    rows = await kit.seen_rows()
    for user in users:
        names = [name for uid, name in rows if uid == user]
        assert names == [f"{i:03d}" for i in range(50)]
    # One leader at a time; the standby stays idle.
    assert sorted([first.is_leader, second.is_leader]) == [False, True]

    # The leader goes away: the standby takes over and keeps publishing.
    leader_task = kit.tasks[0] if first.is_leader else kit.tasks[1]
    standby = second if first.is_leader else first
    leader_task.cancel()
    await kit.change_name(users[0], "after-failover")
    await wait_until(lambda: _count_is(kit, 201), timeout=20)
    assert standby.is_leader


async def _count_is(kit: Kit, n: int) -> bool:
    return await kit.seen_count() >= n


async def test_consumer_effect_and_emitted_event_carry_the_correlation(kit: Kit) -> None:
    """The id of the HTTP request travels: outbox row → AMQP message → consumer context."""
    from servicekit.correlation import (
        correlation_scope,
        current_causation_id,
        current_correlation_id,
    )

    observed: list[tuple[str | None, uuid.UUID | None]] = []

    async def look(_: UnitOfWork, event: EventEnvelope[object]) -> None:
        observed.append((current_correlation_id(), current_causation_id()))

    await kit.consume("correlation", look)
    kit.start(kit.relay().run())
    with correlation_scope("req-42"):
        envelope = await kit.change_name(uuid.uuid4(), "c")
    await wait_until(lambda: kit.seen_count(), timeout=10)
    assert envelope.correlation_id == "req-42"
    assert observed == [("req-42", envelope.event_id)]
    async with kit.engine.connect() as conn:
        row = (await conn.execute(select(outbox.c.correlation_id, outbox.c.body))).one()
    assert row.correlation_id == "req-42"
    assert row.body is None  # published: the row keeps no message


async def test_a_batched_acknowledgement_never_covers_unfinished_work(kit: Kit) -> None:
    """Micro-batches are acknowledged with one multiple-ack where that is safe. One customer's
    events get stuck (their partition waits) while the other partitions race ahead and
    acknowledge later deliveries; then the consumer dies (connection cut, open transactions
    failing). A new consumer brings every event to exactly one effect: no acknowledgement
    covered a message whose effect had not committed (such a message would be lost)."""
    crashed = asyncio.Event()
    users = [uuid.uuid4() for _ in range(40)]
    stuck = users[0]

    async def dying(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
        if event.payload.user_id == stuck and event.payload.name >= "002":
            await crashed.wait()
        if crashed.is_set():
            raise RuntimeError("the consumer process died")

    proxy = TcpProxy("127.0.0.1", 5672)
    await proxy.start()
    direct = kit.amqp_url
    vhost = direct.rsplit("/", 1)[1]
    kit.amqp_url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}"
    await kit.consume("acks", dying)
    kit.amqp_url = direct
    kit.start(kit.relay(batch_size=50).run())
    for i in range(10):
        await asyncio.gather(*(kit.change_name(u, f"{i:03d}") for u in users))
    # The stuck partition holds its messages unacknowledged until the prefetch window is
    # full of them; the others handle (and acknowledge) what they get until then.
    await wait_until(lambda: _count_is(kit, 40), timeout=30)
    seen = -1
    while (now := await kit.seen_count()) != seen:
        seen = now
        await asyncio.sleep(0.5)
    assert seen < 400
    await proxy.cut()
    crashed.set()
    await kit.consume("acks")
    try:
        await wait_until(lambda: _count_is(kit, 400), timeout=30)
    finally:
        await proxy.close()
    await asyncio.sleep(0.5)  # anything extra would have landed by now
    rows = await kit.seen_rows()
    assert len(rows) == 400
    assert len(set(rows)) == 400  # each (user, name) once: one effect per event

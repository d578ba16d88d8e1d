"""Crashes, outages and poison messages: nothing lost, nothing doubled, nothing blocked."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import aio_pika
import pytest
from contracts.envelope import EventEnvelope
from servicekit.messaging.dlq import list_dead_letters, replay
from servicekit.messaging.dlq import main as dlq_main
from servicekit.messaging.outbox import UnitOfWork
from servicekit.messaging.relay import OutboxRelay
from servicekit.testing import TEST_SEALER, TcpProxy, opened_message, wait_until

from .conftest import EXCHANGE, Kit


async def test_relay_killed_between_publish_and_mark_redelivers_and_effect_is_once(
    kit: Kit,
) -> None:
    await kit.consume("crash")
    user = uuid.uuid4()
    await kit.change_name(user, "до сбоя")

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("relay_crash.py")),
        kit.url,
        kit.amqp_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 17, err.decode()
    assert b"published 1; dying before marking" in out

    # The broker had the event, the consumer applied it; the row is still unpublished.
    await wait_until(lambda: kit.seen_count(), timeout=10)
    assert await kit.unpublished() == 1

    # A relay starts again: it publishes the row again, and the inbox absorbs the duplicate.
    kit.start(kit.relay().run())
    await wait_until(lambda: _unpublished_is(kit, 0), timeout=10)
    await wait_until(lambda: kit.duplicates_ignored("kittest.crash") == 1, timeout=10)
    assert await kit.seen_rows() == [(user, "до сбоя")]


async def _unpublished_is(kit: Kit, n: int) -> bool:
    return await kit.unpublished() == n


async def test_broker_outage_writes_succeed_and_events_arrive_in_order_afterwards(
    kit: Kit,
) -> None:
    await kit.consume("outage")
    proxy = TcpProxy("127.0.0.1", 5672)
    await proxy.start()
    vhost = kit.amqp_url.rsplit("/", 1)[1]
    relay = kit.relay(amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}")
    kit.start(relay.run())
    users = [uuid.uuid4() for _ in range(3)]
    await kit.change_name(users[0], "warm-up")
    await wait_until(lambda: kit.seen_count(), timeout=10)

    await proxy.cut()
    for i in range(20):
        for user in users:
            await kit.change_name(user, f"{i:02d}")  # every write succeeds while the broker is gone
    # The relay has tried and failed (the definite signal), the rows wait: nothing went out.
    await wait_until(lambda: kit.metrics.outbox_failures._value.get() >= 1, timeout=10)
    await wait_until(lambda: _older_than(relay, 1.0), timeout=10)
    assert await kit.seen_count() == 1
    pending, _ = await relay.lag()
    assert pending == 60

    await proxy.restore()
    await wait_until(lambda: _count_at_least(kit, 61), timeout=30)
    rows = await kit.seen_rows()
    for user in users:
        names = [name for uid, name in rows if uid == user and name != "warm-up"]
        assert names == [f"{i:02d}" for i in range(20)]
    assert (await relay.lag())[0] == 0
    await proxy.close()


async def _count_at_least(kit: Kit, n: int) -> bool:
    return await kit.seen_count() >= n


async def test_poison_message_is_dead_lettered_with_reason_others_flow_and_replay_works(
    kit: Kit, capsys: pytest.CaptureFixture[str]
) -> None:
    attempts: dict[str, int] = {}
    broken = True

    async def fragile(_: UnitOfWork, event: EventEnvelope[object]) -> None:
        name = event.payload.name  # type: ignore[attr-defined]
        attempts[name] = attempts.get(name, 0) + 1
        if name == "poison" and broken:
            raise RuntimeError("cannot render template for poison")

    await kit.consume("poison", fragile, delivery_limit=4)
    kit.start(kit.relay().run())
    await kit.change_name(uuid.uuid4(), "poison")
    for i in range(5):
        await kit.change_name(uuid.uuid4(), f"ok-{i}")

    await wait_until(lambda: _count_at_least(kit, 5), timeout=20)
    await wait_until(lambda: _dlq_size(kit, "kittest.poison.dlq", 1), timeout=20)
    assert attempts["poison"] == 4  # the delivery limit
    assert sorted(n for _, n in await kit.seen_rows()) == [f"ok-{i}" for i in range(5)]

    letters = await list_dead_letters(kit.amqp_url, "kittest.poison.dlq")
    assert len(letters) == 1
    letter = letters[0]
    assert letter.reason == "handler_error after 4 attempts: RuntimeError"  # the text: sealed
    assert letter.original_queue == "kittest.poison"
    assert letter.event_type == "cabinet.user.contact_changed"
    # Listing leaves the DLQ as it was; the command line shows the same.
    assert len(await list_dead_letters(kit.amqp_url, "kittest.poison.dlq")) == 1
    argv = ["--amqp-url", kit.amqp_url, "list", "--queue", "kittest.poison.dlq", "--json"]
    assert await asyncio.to_thread(dlq_main, argv) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert json.loads(line)["message_id"] == letter.message_id
    assert json.loads(line)["reason"] == letter.reason

    broken = False  # the bug is fixed; replay the message
    assert await replay(
        kit.amqp_url, "kittest.poison.dlq", message_ids={letter.message_id or ""}
    ) == [letter.message_id]
    await wait_until(lambda: _count_at_least(kit, 6), timeout=20)
    assert "poison" in [n for _, n in await kit.seen_rows()]
    assert await list_dead_letters(kit.amqp_url, "kittest.poison.dlq") == []


async def test_a_dead_lettered_event_holds_nothing_personal_in_the_clear(kit: Kit) -> None:
    """The DLQ copy is the sealed message, and the handler's error text, which quotes what it
    failed on, travels sealed too: a reader of the broker learns the event type and why."""
    from contracts.cabinet.v1 import UserContactChangedV1

    name, email = "Зоя Секретова", f"zoya.{uuid.uuid4().hex[:8]}@example.org"

    async def refuse(_: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
        raise ValueError(f"no template for {event.payload.name} <{event.payload.email}>")

    await kit.consume("refusing", refuse, delivery_limit=2)
    kit.start(kit.relay().run())
    async with kit.producer() as uow:
        uow.emit(
            UserContactChangedV1(
                user_id=uuid.uuid4(),
                email=email,
                email_verified=False,
                name=name,
                phone="+79161234567",
                time_zone="Europe/Moscow",
                language="ru",
                changed_fields=["name"],
            )
        )
        await uow.commit()
    await wait_until(lambda: _dlq_size(kit, "kittest.refusing.dlq", 1), timeout=20)

    connection = await aio_pika.connect(kit.amqp_url)
    try:
        channel = await connection.channel()
        dlq = await channel.declare_queue("kittest.refusing.dlq", durable=True, passive=True)
        message = await dlq.get(no_ack=False)
        await message.reject(requeue=True)
    finally:
        await connection.close()
    seen_by_a_broker_reader = message.body.decode() + json.dumps(
        {k: str(v) for k, v in (message.headers or {}).items()}, ensure_ascii=False
    )
    for secret in (name, email, "+79161234567", "Секретова", email.split("@")[0]):
        assert secret not in seen_by_a_broker_reader
    assert (message.headers or {})["x-error"] == "handler_error after 2 attempts: ValueError"
    # Whoever holds the keys (the service's own tools) reads both.
    assert opened_message(message.body)["payload"]["name"] == name
    detail = TEST_SEALER.open("personal", str((message.headers or {})["x-error-detail"]))
    assert detail.decode() == f"ValueError: no template for {name} <{email}>"


async def _dlq_size(kit: Kit, dlq: str, n: int) -> bool:
    return len(await list_dead_letters(kit.amqp_url, dlq)) >= n


async def test_malformed_messages_go_to_the_dlq_at_once_with_the_reason(kit: Kit) -> None:
    await kit.consume("malformed")
    connection = await aio_pika.connect(kit.amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EXCHANGE)
        rk = "cabinet.user.contact_changed.v1"
        await exchange.publish(aio_pika.Message(b"{not json", message_id="m-1"), routing_key=rk)
        bad_payload = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "cabinet.user.contact_changed",
                "version": 1,
                "occurred_at": "2026-01-01T00:00:00Z",
                "producer": "cabinet",
                "correlation_id": "c",
                "payload": {"user_id": "not-a-uuid"},
            }
        )
        await exchange.publish(
            aio_pika.Message(bad_payload.encode(), message_id="m-2"), routing_key=rk
        )
    await wait_until(lambda: _dlq_size(kit, "kittest.malformed.dlq", 2), timeout=20)
    letters = {
        x.message_id: x for x in await list_dead_letters(kit.amqp_url, "kittest.malformed.dlq")
    }
    assert letters["m-1"].reason.startswith("invalid_event:")
    assert letters["m-2"].reason.startswith("invalid_event:")
    assert "user_id" in letters["m-2"].reason
    # A good event behind them is handled.
    kit.start(kit.relay().run())
    await kit.change_name(uuid.uuid4(), "fine")
    await wait_until(lambda: kit.seen_count(), timeout=10)


async def test_lag_read_while_the_relay_publishes_does_not_collide(kit: Kit) -> None:
    """A /metrics scrape reads the outbox lag on the relay's own connection while the relay
    may be mid-batch on it: the two take turns instead of one failing ("another operation is
    in progress")."""
    relay = kit.relay()
    assert await relay.lag() == (0, 0.0)  # its connection is open now
    for i in range(30):
        await kit.change_name(uuid.uuid4(), f"{i}")
    results = await asyncio.gather(
        *(relay.publish_pending() for _ in range(3)),
        *(relay.lag() for _ in range(5)),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert await relay.lag() == (0, 0.0)


async def _older_than(relay: OutboxRelay, seconds: float) -> bool:
    """Whether the oldest unpublished row has waited longer than ``seconds``."""
    _, age = await relay.lag()
    return age > seconds

"""Publishing with confirms: aio-pika directly, or through FastStream's RabbitBroker (issue 14,
point 6) — and the outbox relay as it publishes (with aio-pika, after this measurement).

Every variant publishes the same N persistent messages (an event envelope's JSON, with
``message_id``, ``correlation_id``, ``type``, ``timestamp``) to a durable topic exchange with one
bound quorum queue, as the relay does: a batch of 200 handed to one confirming channel in
order, the batch's confirms awaited together, then the next batch.

* **aio-pika** — ``exchange.publish(aio_pika.Message(...))`` on a ``publisher_confirms`` channel.
* **FastStream broker.publish** — ``RabbitBroker.publish(body, exchange=RabbitExchange(...),
  routing_key=..., persist=True, ...)`` (publisher confirms are on by default in its channel).
* **FastStream publisher** — one ``broker.publisher(routing_key, exchange=...)`` object, its
  ``publish(...)``: what FastStream documents in AsyncAPI.
* **outbox relay** — :class:`servicekit.messaging.relay.OutboxRelay` draining N outbox rows
  (claim, publish, mark, commit per batch of 200), as the services run it.

After each variant the queue is read back: every message must be there, in publication order.
Prints messages/s and CPU ms per message (this process), medians of interleaved runs, and
ratios to aio-pika.

Usage: ``uv run python bench/faststream_publish.py [--messages 5000] [--runs 5]``. Throwaway
database and vhost; about a minute and a half on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import uvloop
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import new_envelope
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from servicekit.db.engine import asyncpg_dsn, make_engine
from servicekit.db.tables import install_kit_schema
from servicekit.messaging.relay import OutboxRelay
from servicekit.testing import temporary_database, temporary_vhost

EXCHANGE = "cabinet.events"
ROUTING_KEY = "cabinet.user.contact_changed.v1"
BATCH = 200


def bodies(n: int) -> list[tuple[str, str]]:
    """(event id, JSON body) of ``n`` events, a counter in ``correlation_id`` to check order."""
    out = []
    user = uuid.uuid4()
    for i in range(n):
        env = new_envelope(
            UserContactChangedV1(
                user_id=user,
                email="b@example.com",
                email_verified=True,
                name=f"n{i}",
                time_zone="Europe/Moscow",
                language="ru",
                changed_fields=["name"],
            ),
            correlation_id=str(i),
        )
        out.append((str(env.event_id), env.model_dump_json()))
    return out


async def in_batches(items: list[tuple[str, str]], send: Callable[[int, str, str], Any]) -> None:
    for base in range(0, len(items), BATCH):
        tasks = [
            asyncio.ensure_future(send(base + i, event_id, body))
            for i, (event_id, body) in enumerate(items[base : base + BATCH])
        ]
        await asyncio.gather(*tasks)


async def with_aio_pika(amqp_url: str, items: list[tuple[str, str]], _: str) -> None:
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )

        async def send(i: int, event_id: str, body: str) -> Any:
            return await exchange.publish(
                aio_pika.Message(
                    body=body.encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=event_id,
                    correlation_id=str(i),
                    type="cabinet.user.contact_changed",
                    app_id="cabinet",
                    timestamp=datetime.now(UTC),
                ),
                ROUTING_KEY,
                mandatory=False,
            )

        await in_batches(items, send)


def _broker(amqp_url: str) -> RabbitBroker:
    return RabbitBroker(amqp_url, app_id="cabinet", log_level=10)


EXCHANGE_SPEC = RabbitExchange(EXCHANGE, type=ExchangeType.TOPIC, durable=True)


async def with_broker_publish(amqp_url: str, items: list[tuple[str, str]], _: str) -> None:
    broker = _broker(amqp_url)
    await broker.connect()
    await broker.declare_exchange(EXCHANGE_SPEC)
    try:

        async def send(i: int, event_id: str, body: str) -> Any:
            return await broker.publish(
                body.encode(),
                exchange=EXCHANGE_SPEC,
                routing_key=ROUTING_KEY,
                content_type="application/json",
                persist=True,
                mandatory=False,
                message_id=event_id,
                correlation_id=str(i),
                message_type="cabinet.user.contact_changed",
                timestamp=datetime.now(UTC),
            )

        await in_batches(items, send)
    finally:
        await broker.stop()


async def with_broker_message(amqp_url: str, items: list[tuple[str, str]], _: str) -> None:
    broker = _broker(amqp_url)
    await broker.connect()
    await broker.declare_exchange(EXCHANGE_SPEC)
    try:

        async def send(i: int, event_id: str, body: str) -> Any:
            return await broker.publish(
                aio_pika.Message(
                    body=body.encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=event_id,
                    correlation_id=str(i),
                    type="cabinet.user.contact_changed",
                    app_id="cabinet",
                    timestamp=datetime.now(UTC),
                ),
                exchange=EXCHANGE_SPEC,
                routing_key=ROUTING_KEY,
                mandatory=False,
            )

        await in_batches(items, send)
    finally:
        await broker.stop()


async def with_publisher(amqp_url: str, items: list[tuple[str, str]], _: str) -> None:
    broker = _broker(amqp_url)
    publisher = broker.publisher(ROUTING_KEY, exchange=EXCHANGE_SPEC, persist=True, mandatory=False)
    await broker.connect()
    await broker.declare_exchange(EXCHANGE_SPEC)
    try:

        async def send(i: int, event_id: str, body: str) -> Any:
            return await publisher.publish(
                body.encode(),
                content_type="application/json",
                message_id=event_id,
                correlation_id=str(i),
                message_type="cabinet.user.contact_changed",
                timestamp=datetime.now(UTC),
            )

        await in_batches(items, send)
    finally:
        await broker.stop()


UNPUBLISHED = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
_INSERT = (
    "INSERT INTO outbox (event_id, event_type, version, exchange, routing_key, correlation_id,"
    " body) VALUES ($1, $2, 1, $3, $4, $5, $6::jsonb)"
)


async def with_relay(amqp_url: str, items: list[tuple[str, str]], url: str) -> None:
    published = 0
    done = asyncio.Event()

    async def count(rows: Any) -> None:  # called once a batch is confirmed, before its marks
        nonlocal published
        published += len(rows)
        if published >= len(items):
            done.set()

    relay = OutboxRelay(
        service="cabinet",
        dsn=asyncpg_dsn(url),
        amqp_url=amqp_url,
        exchanges=[EXCHANGE],
        batch_size=BATCH,
        after_publish=count,
    )
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(done.wait(), 120)
        db = await asyncpg.connect(asyncpg_dsn(url))  # the last batch's marks committed
        try:
            while await db.fetchval(UNPUBLISHED):  # noqa: ASYNC110 - committed by the relay
                await asyncio.sleep(0.01)
        finally:
            await db.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def fill_outbox(url: str, items: list[tuple[str, str]]) -> None:
    db = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await db.executemany(
            _INSERT,
            [
                (
                    uuid.UUID(e),
                    "cabinet.user.contact_changed",
                    EXCHANGE,
                    ROUTING_KEY,
                    json.loads(b)["correlation_id"],
                    b,
                )
                for e, b in items
            ],
        )
    finally:
        await db.close()


VARIANTS: dict[str, Callable[[str, list[tuple[str, str]], str], Awaitable[None]]] = {
    "aio-pika": with_aio_pika,
    "FastStream broker.publish": with_broker_publish,
    "FastStream broker.publish(aio_pika.Message)": with_broker_message,
    "FastStream publisher": with_publisher,
    "outbox relay": with_relay,
}


async def read_back(amqp_url: str, queue_name: str, n: int) -> bool:
    """Whether the queue holds exactly the ``n`` messages, in order (reading empties it)."""
    conn = await aio_pika.connect(amqp_url)
    seen: list[int] = []
    async with conn:
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=1000)
        queue = await channel.get_queue(queue_name)
        with contextlib.suppress(TimeoutError):
            async with queue.iterator(no_ack=True, timeout=2) as messages:
                async for message in messages:
                    seen.append(int(message.correlation_id or -1))
                    if len(seen) == n:
                        break
        extra = await queue.get(no_ack=True, fail=False)
    return seen == list(range(n)) and extra is None


async def one(amqp_url: str, url: str, variant: str, n: int) -> dict[str, float]:
    items = bodies(n)
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        exchange = await channel.declare_exchange(
            EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            f"bench.{uuid.uuid4().hex[:6]}", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key="#")
    if variant == "outbox relay":
        await fill_outbox(url, items)
    wall, cpu = time.perf_counter(), time.process_time()
    await VARIANTS[variant](amqp_url, items, url)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    in_order = await read_back(amqp_url, queue.name, n)
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        await (await conn.channel()).queue_delete(queue.name)
    return {"per_s": n / wall, "cpu_ms": 1000 * cpu / n, "in_order": float(in_order)}


async def main(args: argparse.Namespace) -> None:
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    async with temporary_vhost() as amqp_url, temporary_database("fspub") as url:
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.run_sync(install_kit_schema)
        await engine.dispose()
        for i in range(args.runs):
            for variant in VARIANTS:
                runs[variant].append(await one(amqp_url, url, variant, args.messages))
            print(
                f"run {i + 1}: "
                + "; ".join(f"{v} {r[-1]['per_s']:,.0f}/s" for v, r in runs.items()),
                flush=True,
            )
    base = statistics.median(r["per_s"] for r in runs["aio-pika"])
    base_cpu = statistics.median(r["cpu_ms"] for r in runs["aio-pika"])
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.messages} messages per variant and run, batches "
        f"of {BATCH}, medians of {args.runs} runs\n"
    )
    print(
        "| publishing | messages/s | vs aio-pika | CPU ms/message | vs aio-pika | all there, "
        "in order | per run, messages/s |"
    )
    print("|---|---:|---:|---:|---:|---|---|")
    for variant, values in runs.items():
        rate = statistics.median(v["per_s"] for v in values)
        cpu = statistics.median(v["cpu_ms"] for v in values)
        ordered = "yes" if all(v["in_order"] for v in values) else "NO"
        each = ", ".join(f"{v['per_s']:,.0f}" for v in values)
        print(
            f"| {variant} | {rate:,.0f} | {rate / base:.2f} | {cpu:.3f} | {cpu / base_cpu:.2f} "
            f"| {ordered} | {each} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    uvloop.run(main(parser.parse_args()))

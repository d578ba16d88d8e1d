"""Which consumer: a bare aio-pika consumer, an idiomatic FastStream subscriber, or servicekit's
EventConsumer — each doing the same database work per message (issue 14, point 6).

Every variant reads the same kind of message (a ``cabinet.user.contact_changed.v1`` envelope,
50 aggregates) from a quorum queue declared by servicekit's topology (delivery limit, DLX), with
prefetch 128, and for each message records ``(queue, event_id)`` in the inbox and inserts one
effect row, in one transaction, on asyncpg, then acknowledges it:

* **bare aio-pika** — ``queue.consume(callback)``: parse the envelope with pydantic, one
  transaction per message on an asyncpg pool, ``message.ack()``. The floor: no framework.
* **FastStream subscriber** — what option (a) of the issue would write: ``@broker.subscriber``
  on a ``RabbitQueue(queue_type=QUORUM, arguments=...)`` with ``AckPolicy.NACK_ON_ERROR``, the
  body validated by FastStream as ``EventEnvelope[UserContactChangedV1]``, and a middleware that
  opens the transaction, claims the inbox row (a duplicate skips the handler) and hands the
  connection to the handler through FastStream's context. One transaction per message (FastStream
  has no batch subscriber for RabbitMQ) and no per-aggregate order (handlers run concurrently).
* **servicekit EventConsumer** — :class:`servicekit.messaging.broker.ConsumerHost`, as the
  services run it (on aio-pika): per-aggregate order, micro-batches sharing a transaction, DLQ
  with reasons.
* **servicekit under a FastStream subscriber** — the same ``MessageProcessor`` fed by a FastStream
  subscriber with ``AckPolicy.MANUAL`` and a decoder that hands the aio-pika message through:
  how ConsumerHost ran before issue 14 (what FastStream costs when it only delivers).

Two measurements per variant and run: **drain** (N messages already in the queue: messages/s and
CPU ms per message of this process) and **paced** (messages published at a steady rate while the
consumer runs: median and p99 of publish → effect committed). Runs are interleaved so machine
noise hits the variants alike; medians of the runs are printed, with ratios to the bare baseline.

Usage: ``uv run python bench/faststream_consumer.py [--events 3000] [--paced 300 --rate 150]
[--runs 3]``. Throwaway database and vhost. About a minute and a half on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import uvloop
from aio_pika.abc import AbstractIncomingMessage
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope, envelope_class, new_envelope
from faststream import AckPolicy, BaseMiddleware, Context
from faststream.message import StreamMessage
from faststream.rabbit import Channel, QueueType, RabbitBroker, RabbitQueue
from servicekit.db.engine import asyncpg_dsn, make_engine, make_session_factory
from servicekit.db.tables import install_kit_schema
from servicekit.messaging.broker import ConsumerHost
from servicekit.messaging.consumer import EventConsumer, MessageProcessor
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.messaging.topology import QueueSpec, declare_topology, queue_for
from servicekit.metrics import ServiceMetrics
from servicekit.testing import TEST_SEALER, temporary_database, temporary_vhost

EXCHANGE = "cabinet.events"
ROUTING_KEY = "cabinet.user.contact_changed.v1"
PREFETCH = 128
POOL = 8
Envelope = envelope_class(UserContactChangedV1)

INBOX = """
INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)
ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id
"""
EFFECT = "INSERT INTO effects (user_id, name) VALUES ($1, $2)"


@dataclass
class Probe:
    """What a variant reports: when each message's effect committed, after it was sent."""

    expected: int
    latencies: list[float]
    done: asyncio.Event

    @classmethod
    def expecting(cls, n: int) -> Probe:
        return cls(n, [], asyncio.Event())

    def committed(self, headers: dict[str, Any] | None) -> None:
        sent = (headers or {}).get("t")
        if sent is not None:
            self.latencies.append(time.perf_counter() - float(sent))  # type: ignore[arg-type]
        if len(self.latencies) >= self.expected:
            self.done.set()


def envelope_body(users: list[uuid.UUID], i: int) -> bytes:
    env = new_envelope(
        UserContactChangedV1(
            user_id=users[i % len(users)],
            email="b@example.com",
            email_verified=True,
            name=f"n{i}",
            time_zone="Europe/Moscow",
            language="ru",
            changed_fields=["name"],
        ),
        correlation_id="bench",
    )
    return env.model_dump_json().encode()


async def publish(amqp_url: str, n: int, rate: float = 0.0) -> None:
    """``n`` messages to the exchange, confirmed: flat out (in windows of 500) or paced at
    ``rate`` per second; each carries its send time in a header ``t``."""
    users = [uuid.uuid4() for _ in range(50)]
    bodies = [envelope_body(users, i) for i in range(n)]
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EXCHANGE)

        def send(body: bytes) -> Awaitable[Any]:
            return exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    message_id=str(uuid.uuid4()),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers={"t": str(time.perf_counter())},
                    type="cabinet.user.contact_changed",
                ),
                routing_key=ROUTING_KEY,
            )

        if not rate:
            for base in range(0, n, 500):
                await asyncio.gather(*(send(body) for body in bodies[base : base + 500]))
            return
        start, pending = time.perf_counter(), []
        for i, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            pending.append(asyncio.ensure_future(send(body)))
        await asyncio.gather(*pending)


async def depth(amqp_url: str, queue: str) -> int:
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        declared = await (await conn.channel()).declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


# -- the variants ---------------------------------------------------------------------------
async def start_bare(amqp_url: str, url: str, spec: QueueSpec, probe: Probe) -> Any:
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=POOL, max_size=POOL)
    conn = await aio_pika.connect(amqp_url)
    channel = await conn.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.get_queue(spec.partition(0))

    async def on_message(message: AbstractIncomingMessage) -> None:
        env = Envelope.model_validate_json(message.body)
        async with pool.acquire() as db, db.transaction():
            if await db.fetchval(INBOX, spec.name, env.event_id, env.event_type) is not None:
                await db.execute(EFFECT, env.payload.user_id, env.payload.name)
        probe.committed(message.headers)
        await message.ack()

    await queue.consume(on_message)

    async def stop() -> None:
        await conn.close()
        await pool.close()

    return stop


class InboxMiddleware(BaseMiddleware):
    """Option (a)'s inbox: the transaction and the inbox claim around the handler; a duplicate
    is acknowledged without calling it. The connection reaches the handler as ``Context("db")``.
    """

    pool: asyncpg.Pool
    queue: str
    probe: Probe

    async def consume_scope(self, call_next: Any, msg: Any) -> Any:
        body = await msg.decode()
        async with self.pool.acquire() as db, db.transaction():
            event_id = uuid.UUID(body["event_id"])
            fresh = await db.fetchval(INBOX, self.queue, event_id, body["event_type"])
            if fresh is None:
                result = None
            else:
                with self.context.scope("db", db):
                    result = await call_next(msg)
        self.probe.committed(msg.headers)
        return result


async def start_faststream(amqp_url: str, url: str, spec: QueueSpec, probe: Probe) -> Any:
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=POOL, max_size=POOL)

    class Inbox(InboxMiddleware):
        pass

    Inbox.pool, Inbox.queue, Inbox.probe = pool, spec.name, probe
    broker = RabbitBroker(
        amqp_url,
        default_channel=Channel(prefetch_count=PREFETCH),
        middlewares=[Inbox],
        log_level=logging.DEBUG,  # as servicekit ran it: no line per message at INFO
    )

    @broker.subscriber(
        RabbitQueue(  # type: ignore[call-overload]
            spec.partition(0),
            queue_type=QueueType.QUORUM,
            arguments=spec.arguments(),
            declare=False,
        ),
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def changed(
        envelope: EventEnvelope[UserContactChangedV1], db: asyncpg.Connection = Context("db")
    ) -> None:
        await db.execute(EFFECT, envelope.payload.user_id, envelope.payload.name)

    await broker.start()

    async def stop() -> None:
        await broker.stop()
        await pool.close()

    return stop


def kit_consumer(spec: QueueSpec) -> EventConsumer:
    consumer = EventConsumer(spec.service, spec.name.removeprefix(f"{spec.service}."))

    @consumer.handles(UserContactChangedV1)
    async def changed(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
        db = await uow.connection()
        await db.execute(EFFECT, event.payload.user_id, event.payload.name)

    return consumer


def timed(processor: MessageProcessor, probe: Probe) -> None:
    """Record when ``process`` returns: the message's batch committed and it was acked."""
    process = processor.process

    async def measured(message: AbstractIncomingMessage) -> None:
        await process(message)
        probe.committed(message.headers)

    processor.process = measured  # type: ignore[method-assign]


async def start_kit(
    amqp_url: str, url: str, spec: QueueSpec, probe: Probe, under_faststream: bool
) -> Any:
    engine = make_engine(url, pool_size=POOL)
    host = ConsumerHost(
        service=spec.service,
        amqp_url=amqp_url,
        consumers=[kit_consumer(spec)],
        produces_exchanges=[EXCHANGE],
        uow_factory=UnitOfWorkFactory(
            make_session_factory(engine), spec.service, sealer=TEST_SEALER
        ),
        metrics=ServiceMetrics(),
        prefetch_count=PREFETCH,
    )
    processor = host.processors[0]
    timed(processor, probe)
    broker = None
    if under_faststream:
        # How ConsumerHost ran the processor before issue 14: a FastStream subscriber with
        # manual acks whose decoder hands over the aio-pika message itself.
        broker = RabbitBroker(
            amqp_url, default_channel=Channel(prefetch_count=PREFETCH), log_level=logging.DEBUG
        )

        async def raw(message: StreamMessage[Any]) -> Any:
            return message.raw_message

        @broker.subscriber(
            RabbitQueue(  # type: ignore[call-overload]
                spec.partition(0),
                queue_type=QueueType.QUORUM,
                arguments=spec.arguments(),
                declare=False,
            ),
            ack_policy=AckPolicy.MANUAL,
            decoder=raw,
        )
        async def on_message(message: Any) -> None:
            await processor.process(message)

        await broker.start()
    else:
        await host.start()

    async def stop() -> None:
        if broker is not None:
            await broker.stop()
        await host.stop()
        await engine.dispose()

    return stop


VARIANTS: dict[str, Callable[[str, str, QueueSpec, Probe], Awaitable[Any]]] = {
    "bare aio-pika": start_bare,
    "FastStream subscriber": start_faststream,
    "servicekit EventConsumer": lambda a, u, s, p: start_kit(a, u, s, p, False),
    "servicekit under a FastStream subscriber": lambda a, u, s, p: start_kit(a, u, s, p, True),
}


async def one(amqp_url: str, url: str, variant: str, n: int, paced: int, rate: float) -> dict:
    """Drain ``n`` pre-filled messages, then ``paced`` more sent at ``rate`` per second."""
    spec = queue_for("bench", f"q{uuid.uuid4().hex[:6]}", [UserContactChangedV1])
    await declare_topology(amqp_url, [EXCHANGE], [spec])
    await publish(amqp_url, n)
    probe = Probe.expecting(n)
    wall, cpu = time.perf_counter(), time.process_time()
    stop = await VARIANTS[variant](amqp_url, url, spec, probe)
    try:
        try:
            await asyncio.wait_for(probe.done.wait(), 120)
        except TimeoutError:
            raise SystemExit(
                f"{variant}: {len(probe.latencies)} of {n} after 120 s; ready in the queue "
                f"{await depth(amqp_url, spec.partition(0))}, "
                f"in its DLQ {await depth(amqp_url, spec.dlq)}"
            ) from None
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        probe.expected, probe.done = n + paced, asyncio.Event()  # the same consumer goes on
        await publish(amqp_url, paced, rate)
        await asyncio.wait_for(probe.done.wait(), 60)
    finally:
        await stop()
    latencies = sorted(probe.latencies[n:])
    return {
        "per_s": n / wall,
        "cpu_ms": 1000 * cpu / n,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
    }


async def main(args: argparse.Namespace) -> None:
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in args.only or VARIANTS}
    async with temporary_vhost() as amqp_url, temporary_database("fsbench") as url:
        db = await asyncpg.connect(asyncpg_dsn(url))
        await db.execute(
            "CREATE TABLE effects (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "user_id uuid NOT NULL, name text NOT NULL)"
        )
        await db.close()
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.run_sync(install_kit_schema)
        await engine.dispose()
        for i in range(args.runs):
            for variant in args.only or VARIANTS:
                runs[variant].append(
                    await one(amqp_url, url, variant, args.events, args.paced, args.rate)
                )
            print(
                f"run {i + 1}: "
                + "; ".join(
                    f"{v} {r[-1]['per_s']:,.0f}/s {r[-1]['p50_ms']:.1f} ms" for v, r in runs.items()
                ),
                flush=True,
            )
    base = statistics.median(r["per_s"] for r in runs["bare aio-pika"])
    base_cpu = statistics.median(r["cpu_ms"] for r in runs["bare aio-pika"])
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.events} drained + {args.paced} paced at "
        f"{args.rate:g}/s per run, medians of {args.runs} runs\n"
    )
    print(
        "| consumer | messages/s | vs bare | CPU ms/message | vs bare | p50 ms | p99 ms | "
        "per run, messages/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for variant, values in runs.items():
        rate = statistics.median(v["per_s"] for v in values)
        cpu = statistics.median(v["cpu_ms"] for v in values)
        p50 = statistics.median(v["p50_ms"] for v in values)
        p99 = statistics.median(v["p99_ms"] for v in values)
        each = ", ".join(f"{v['per_s']:,.0f}" for v in values)
        print(
            f"| {variant} | {rate:,.0f} | {rate / base:.2f} | {cpu:.3f} | {cpu / base_cpu:.2f} "
            f"| {p50:.1f} | {p99:.1f} | {each} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--paced", type=int, default=300)
    parser.add_argument("--rate", type=float, default=150.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", action="append", choices=list(VARIANTS), help="(debugging)")
    uvloop.run(main(parser.parse_args()))

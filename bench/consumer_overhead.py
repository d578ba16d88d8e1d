"""CPU per consumed event: the servicekit consumer on FastStream vs the same processor on a bare
aio-pika consumer, on the same pre-filled queue (inbox + micro-batch transactions in both).

Usage: ``uv run python bench/consumer_overhead.py [--events 3000] [--runs 3]``. Prints medians of
CPU ms per event and events/s for both; uses a throwaway database and vhost. It isolates what the
broker adapter costs, which is most of the gap between the pipeline and the raw baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import aio_pika
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope, new_envelope
from servicekit.db.engine import make_engine, make_session_factory
from servicekit.db.tables import install_kit_schema
from servicekit.messaging.broker import ConsumerHost
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.messaging.topology import declare_topology
from servicekit.metrics import ServiceMetrics
from servicekit.testing import temporary_database, temporary_vhost


async def fill(amqp_url: str, consumer: EventConsumer, n: int) -> None:
    await declare_topology(amqp_url, ["cabinet.events"], [consumer.queue()])
    conn = await aio_pika.connect(amqp_url)
    async with conn:
        channel = await conn.channel()
        exchange = await channel.get_exchange("cabinet.events")
        users = [uuid.uuid4() for _ in range(50)]
        for i in range(n):
            env = new_envelope(
                UserContactChangedV1(
                    user_id=users[i % 50],
                    email="b@example.com",
                    email_verified=True,
                    name="x",
                    time_zone="Europe/Moscow",
                    language="ru",
                    changed_fields=["name"],
                ),
                correlation_id="bench",
            )
            await exchange.publish(
                aio_pika.Message(env.model_dump_json().encode(), message_id=str(env.event_id)),
                routing_key="cabinet.user.contact_changed.v1",
            )


async def one_run(amqp_url: str, url: str, n: int, bare: bool) -> tuple[float, float]:
    engine = make_engine(url, pool_size=8)
    sessions = make_session_factory(engine)
    done = asyncio.Event()
    count = 0
    consumer = EventConsumer("overhead", f"q{uuid.uuid4().hex[:6]}")

    @consumer.handles(UserContactChangedV1)
    async def handle(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
        nonlocal count
        count += 1
        if count >= n:
            done.set()

    await fill(amqp_url, consumer, n)
    host = ConsumerHost(
        service="overhead",
        amqp_url=amqp_url,
        consumers=[consumer],
        produces_exchanges=[],
        uow_factory=UnitOfWorkFactory(sessions, "overhead"),
        metrics=ServiceMetrics(),
        prefetch_count=128,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    bare_conn = None
    if bare:
        bare_conn = await aio_pika.connect(amqp_url)
        channel = await bare_conn.channel()
        await channel.set_qos(prefetch_count=128)
        queue = await channel.get_queue(consumer.queue().name)
        await queue.consume(host.processors[0].process)
    else:
        await host.start()
    await asyncio.wait_for(done.wait(), 300)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await asyncio.sleep(0.5)  # the last batch commits and acks before the connection closes
    if bare_conn is not None:
        await bare_conn.close()
    await host.stop()
    await engine.dispose()
    return 1000 * cpu / n, n / wall


async def main(events: int, runs: int) -> None:
    results: dict[str, list[tuple[float, float]]] = {"faststream": [], "bare aio-pika": []}
    async with temporary_vhost() as amqp_url, temporary_database("overhead") as url:
        engine = make_engine(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.run_sync(install_kit_schema)
        await engine.dispose()
        for _ in range(runs):
            results["faststream"].append(await one_run(amqp_url, url, events, bare=False))
            results["bare aio-pika"].append(await one_run(amqp_url, url, events, bare=True))
    for name, values in results.items():
        cpu = statistics.median(v[0] for v in values)
        rate = statistics.median(v[1] for v in values)
        print(f"{name:14} {cpu:.3f} CPU ms/event  {rate:,.0f} events/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.runs))

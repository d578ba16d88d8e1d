"""Events per second and latency, outbox insert → relay → RabbitMQ → inbox + effect, beside raw
baselines measured in the same run on the same machine:

* raw broker: aio-pika publish with publisher confirms (pipelined in windows) + a consumer acking
  each message, on the same RabbitMQ;
* raw database: single-row asyncpg INSERT transactions from the same number of writers.

Usage: ``uv run python bench/pipeline.py [--events 5000] [--raw 20000] [--writers 8] [--runs 3]``.
Prints a table and rewrites ``bench/RESULTS.md``. Uses a throwaway database and vhost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope
from sqlalchemy import BigInteger, Column, Identity, MetaData, Table, Text, select, func
from sqlalchemy.dialects.postgresql import UUID

from servicekit.db.engine import asyncpg_dsn, make_engine, make_session_factory
from servicekit.db.tables import install_kit_schema
from servicekit.messaging.broker import ConsumerHost
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.messaging.relay import OutboxRelay
from servicekit.metrics import ServiceMetrics
from servicekit.testing import temporary_database, temporary_vhost

meta = MetaData()
effects = Table(
    "effects", meta,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
)
raw_rows = Table("raw_rows", meta, Column("id", BigInteger, Identity(), primary_key=True),
                 Column("body", Text, nullable=False))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_broker(amqp_url: str, n: int, window: int = 200) -> dict[str, float]:
    """aio-pika: confirmed persistent publishes + a consumer acking each message."""
    pub_conn = await aio_pika.connect(amqp_url)
    sub_conn = await aio_pika.connect(amqp_url)
    latencies: list[float] = []
    done = asyncio.Event()
    try:
        pub_ch = await pub_conn.channel(publisher_confirms=True)
        sub_ch = await sub_conn.channel()
        await sub_ch.set_qos(prefetch_count=256)
        exchange = await pub_ch.declare_exchange("bench.raw", aio_pika.ExchangeType.TOPIC,
                                                 durable=True)
        queue = await sub_ch.declare_queue(
            f"bench.raw.{uuid.uuid4().hex[:6]}", durable=True,
            arguments={"x-queue-type": "quorum"})
        await queue.bind("bench.raw", routing_key="#")

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            sent = float(message.headers["t"])  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - sent)
            await message.ack()
            if len(latencies) >= n:
                done.set()

        await queue.consume(on_message)
        started = time.perf_counter()
        for base in range(0, n, window):
            await asyncio.gather(*(
                exchange.publish(
                    aio_pika.Message(b'{"x":1}', delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                     headers={"t": str(time.perf_counter())}),
                    routing_key="bench.raw")
                for _ in range(min(window, n - base))
            ))
        published = time.perf_counter() - started
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - started
    finally:
        await pub_conn.close()
        await sub_conn.close()
    return {"publish_per_s": n / published, "end_to_end_per_s": n / elapsed,
            "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": pct(latencies, 0.99) * 1000}


async def raw_database(url: str, n: int, writers: int) -> dict[str, float]:
    """asyncpg: one INSERT per transaction from ``writers`` connections."""
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=writers, max_size=writers)
    try:
        async def writer(count: int) -> None:
            async with pool.acquire() as conn:
                for _ in range(count):
                    await conn.execute("INSERT INTO raw_rows (body) VALUES ($1)", "x" * 200)

        started = time.perf_counter()
        await asyncio.gather(*(writer(n // writers) for _ in range(writers)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return {"inserts_per_s": (n // writers * writers) / elapsed}


async def pipeline(url: str, amqp_url: str, n: int, writers: int) -> dict[str, float]:
    """The real thing: UoW (state + outbox) → relay → quorum queue → inbox + effect."""
    engine = make_engine(url, pool_size=writers + 4)
    sessions = make_session_factory(engine)
    producer = UnitOfWorkFactory(sessions, "cabinet")
    metrics = ServiceMetrics()
    latencies: list[float] = []
    done = asyncio.Event()
    consumer = EventConsumer("bench", f"effects-{uuid.uuid4().hex[:6]}", delivery_limit=5)

    @consumer.handles(UserContactChangedV1)
    async def apply(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
        await uow.session.exec(effects.insert().values(  # type: ignore[call-overload]
            user_id=event.payload.user_id, name=event.payload.name))
        latencies.append((datetime.now(UTC) - event.occurred_at).total_seconds())
        if len(latencies) >= n:
            done.set()

    host = ConsumerHost(service="bench", amqp_url=amqp_url, consumers=[consumer],
                        produces_exchanges=["cabinet.events"],
                        uow_factory=UnitOfWorkFactory(sessions, "bench"), metrics=metrics,
                        prefetch_count=64)
    await host.start()
    relay = OutboxRelay(service="cabinet", engine=engine, dsn=asyncpg_dsn(url),
                        amqp_url=amqp_url, exchanges=["cabinet.events"], metrics=metrics,
                        batch_size=500, poll_seconds=0.5)
    relay_task = asyncio.create_task(relay.run())
    users = [uuid.uuid4() for _ in range(50)]

    async def writer(w: int, count: int) -> None:
        for i in range(count):
            async with producer() as uow:
                uow.emit(UserContactChangedV1(
                    user_id=users[(w * count + i) % len(users)], email="b@example.com",
                    email_verified=True, name=f"{w}-{i}", time_zone="Europe/Moscow",
                    language="ru", changed_fields=["name"]))
                await uow.commit()

    try:
        await asyncio.sleep(0.5)  # relay leadership
        started = time.perf_counter()
        await asyncio.gather(*(writer(w, n // writers) for w in range(writers)))
        inserted = time.perf_counter() - started
        n = n // writers * writers
        await asyncio.wait_for(done.wait(), 300)
        elapsed = time.perf_counter() - started
        async with engine.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(effects))).scalar_one()
        assert count >= n, (count, n)
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await host.stop()
        await engine.dispose()
    return {"insert_per_s": n / inserted, "end_to_end_per_s": n / elapsed,
            "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": pct(latencies, 0.99) * 1000}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"broker": [], "database": [], "pipeline": []}
    async with temporary_vhost() as amqp_url, temporary_database("bench") as url:
        engine = make_engine(url, pool_size=2)
        async with engine.begin() as conn:
            await conn.run_sync(install_kit_schema)
            await conn.run_sync(meta.create_all)
        await engine.dispose()
        for i in range(args.runs):  # interleaved, so machine noise hits all three alike
            runs["broker"].append(await raw_broker(amqp_url, args.raw))
            runs["database"].append(await raw_database(url, args.raw // 2, args.writers))
            runs["pipeline"].append(await pipeline(url, amqp_url, args.events, args.writers))
            print(f"run {i + 1}: " + json.dumps({k: v[-1] for k, v in runs.items()},
                                                default=lambda x: round(x, 1)))
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    return med


def report(med: dict[str, Any], args: argparse.Namespace) -> str:
    b, d, p = med["broker"], med["database"], med["pipeline"]
    ratio = p["end_to_end_per_s"] / b["publish_per_s"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `uv run python bench/pipeline.py --events {args.events} --raw {args.raw} "
        f"--writers {args.writers} --runs {args.runs}` on {datetime.now(UTC):%Y-%m-%d} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}, RabbitMQ and PostgreSQL "
        "on the same machine). Medians of the runs; the three measurements are interleaved.",
        "",
        "| measurement | events/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|",
        f"| raw aio-pika publish with confirms (windows of 200) | {b['publish_per_s']:,.0f} | | |",
        f"| raw aio-pika publish + consume, end to end | {b['end_to_end_per_s']:,.0f} | "
        f"{b['p50_ms']:.1f} | {b['p99_ms']:.1f} |",
        f"| raw asyncpg single-row insert transactions ({args.writers} writers) | "
        f"{d['inserts_per_s']:,.0f} | | |",
        f"| outbox writes (UoW commit, {args.writers} writers) | {p['insert_per_s']:,.0f} | | |",
        f"| **pipeline: outbox insert → relay → queue → inbox + effect** | "
        f"**{p['end_to_end_per_s']:,.0f}** | {p['p50_ms']:.1f} | {p['p99_ms']:.1f} |",
        "",
        f"Pipeline / raw confirmed publish: **{ratio:.2f}** "
        f"(target ≥ 0.33). Pipeline / raw insert: "
        f"{p['end_to_end_per_s'] / d['inserts_per_s']:.2f}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--raw", type=int, default=20000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    a = parser.parse_args()
    medians = asyncio.run(main(a))
    text = report(medians, a)
    print(text)
    if not a.no_write:
        out = Path(__file__).with_name("RESULTS.md")
        notes = out.read_text().split("## Notes", 1)[1] if out.exists() and "## Notes" in \
            out.read_text() else "\n"
        out.write_text(text + "## Notes" + notes)

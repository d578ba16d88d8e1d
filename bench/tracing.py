"""What tracing costs: the outbox pipeline with tracing off (the default) and on, interleaved.

Each run is one process (OpenTelemetry's provider is set once per process) on a throwaway
database and vhost: ``--writers`` concurrent writers each commit one state change + one event per
unit of work inside a server span (what servicekit's HTTP middleware opens per request), the
relay publishes them, a consumer applies each (inbox + one INSERT), all in that process.

* ``off``: no tracer provider (``OTEL_TRACES_EXPORTER`` unset): every span is the API's no-op,
  nothing is stored with the outbox row, no ``traceparent`` header.
* ``on``: the SDK's provider, always sampling, a batch span processor and an exporter that drops
  the batches (what a process pays to make, link and hand over spans; not the network to a
  collector): per event a server, ``create``, ``send`` and ``process`` span, the stored context
  and the AMQP headers.

* ``before`` (with ``--base DIR``): ``off`` on the servicekit in ``DIR/libs/servicekit/src``
  (e.g. ``git archive <commit> libs/servicekit/src | tar -x -C DIR``): the code before tracing.

Usage: ``uv run python bench/tracing.py [--events 3000] [--writers 8] [--runs 3] [--base DIR]``.
Prints a table (events/s end to end and CPU ms per event, medians) for bench/RESULTS.md. The
machine is shared: the rate moves with whatever else runs, CPU per event much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvloop
from contracts.cabinet.v1 import UserContactChangedV1
from contracts.envelope import EventEnvelope
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from servicekit.db.driver import session_connection
from servicekit.db.engine import asyncpg_dsn, make_engine, make_session_factory
from servicekit.db.tables import install_kit_schema
from servicekit.messaging.broker import ConsumerHost
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork, UnitOfWorkFactory
from servicekit.messaging.relay import OutboxRelay
from servicekit.metrics import ServiceMetrics
from servicekit.testing import TEST_SEALER, temporary_database, temporary_vhost
from sqlalchemy import BigInteger, Column, Identity, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import UUID

# The API's proxy, as servicekit's own (servicekit.tracing.tracer); taken from the API so that
# ``--base`` can run this file against a servicekit from before tracing.
tracer = trace.get_tracer("bench")
meta = MetaData()
effects = Table(
    "effects",
    meta,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
)


def install_tracing() -> None:
    """The ``on`` mode's provider: always sampling, batched, exported nowhere."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Discard(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)


async def one_run(n: int, writers: int) -> dict[str, float]:
    n -= n % writers  # every writer commits as many
    async with temporary_database("bench_tracing") as url, temporary_vhost() as amqp_url:
        engine = make_engine(url, pool_size=writers + 4)
        async with engine.begin() as conn:
            await conn.run_sync(install_kit_schema)
            await conn.run_sync(meta.create_all)
        sessions = make_session_factory(engine)
        done = asyncio.Event()
        applied = 0
        consumer = EventConsumer("bench", "tracing", delivery_limit=5)

        @consumer.handles(UserContactChangedV1)
        async def apply(uow: UnitOfWork, event: EventEnvelope[UserContactChangedV1]) -> None:
            nonlocal applied
            conn = await session_connection(uow.session)
            await conn.execute(
                "INSERT INTO effects (user_id, name) VALUES ($1, $2)",
                event.payload.user_id,
                event.payload.name,
            )
            applied += 1
            if applied >= n:
                done.set()

        host = ConsumerHost(
            service="bench",
            amqp_url=amqp_url,
            consumers=[consumer],
            produces_exchanges=["cabinet.events"],
            uow_factory=UnitOfWorkFactory(sessions, "bench", sealer=TEST_SEALER),
            metrics=ServiceMetrics(),
            prefetch_count=128,
        )
        await host.start()
        relay = OutboxRelay(
            service="cabinet",
            dsn=asyncpg_dsn(url),
            amqp_url=amqp_url,
            exchanges=["cabinet.events"],
            batch_size=500,
            poll_seconds=0.5,
        )
        relay_task = asyncio.create_task(relay.run())
        while not relay.is_leader:  # noqa: ASYNC110 - a flag set by another task
            await asyncio.sleep(0.05)
        producer = UnitOfWorkFactory(sessions, "cabinet", sealer=TEST_SEALER)
        users = [uuid.uuid4() for _ in range(50)]

        async def writer(w: int, count: int) -> None:
            for i in range(count):
                with tracer.start_as_current_span("POST /api/bench", kind=SpanKind.SERVER):
                    async with producer() as uow:
                        uow.emit(
                            UserContactChangedV1(
                                user_id=users[(w * count + i) % len(users)],
                                email="b@example.com",
                                email_verified=True,
                                name=f"{w}-{i}",
                                time_zone="Europe/Moscow",
                                language="ru",
                                changed_fields=["name"],
                            )
                        )
                        await uow.commit()

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(writer(w, n // writers) for w in range(writers)))
        await asyncio.wait_for(done.wait(), 600)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await host.stop()
        await engine.dispose()
    return {"events_per_s": n / wall, "cpu_ms_per_event": cpu * 1000 / n}


def child(mode: str, n: int, writers: int) -> None:
    if mode == "on":
        install_tracing()
    result = uvloop.run(one_run(n, writers))
    print(json.dumps(result), flush=True)


def main(args: argparse.Namespace) -> None:
    modes = ["before", "off", "on"] if args.base else ["off", "on"]
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for run in range(args.runs):
        for mode in modes if run % 2 == 0 else modes[::-1]:
            env = dict(os.environ)
            if mode == "before":
                env["PYTHONPATH"] = str(Path(args.base) / "libs" / "servicekit" / "src")
            command = [sys.executable, __file__, "--child", "on" if mode == "on" else "off"]
            command += ["--events", str(args.events), "--writers", str(args.writers)]
            out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
            results[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(mode, results[mode][-1], flush=True)
    med: dict[str, dict[str, Any]] = {
        mode: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        for mode, rs in results.items()
    }
    print("\n| tracing | events/s end to end | CPU ms per event (one process) |")
    print("|---|---:|---:|")
    for mode in modes:
        m = med[mode]
        print(f"| {mode} | {m['events_per_s']:,.0f} | {m['cpu_ms_per_event']:.3f} |")
    off, on = med["off"], med["on"]
    print(
        f"\non/off: CPU per event {on['cpu_ms_per_event'] / off['cpu_ms_per_event']:.2f}, "
        f"rate {on['events_per_s'] / off['events_per_s']:.2f}"
        f" ({args.events} events, {args.writers} writers, {args.runs} runs each, medians)"
    )
    if args.base:
        before = med["before"]
        print(
            f"off/before: CPU per event {off['cpu_ms_per_event'] / before['cpu_ms_per_event']:.2f}"
            f", rate {off['events_per_s'] / before['events_per_s']:.2f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", choices=("off", "on"))
    parser.add_argument("--base", help="a tree with libs/servicekit/src from before tracing")
    ns = parser.parse_args()
    if ns.child:
        child(ns.child, ns.events, ns.writers)
    else:
        main(ns)

"""notify's delivery pipeline: booking's exchange → notify (consumer → delivery row + timer →
delivery worker → Bot API) → messages recorded by the sandbox Telegram fake; beside the raw
aio-pika publish + consume baseline of ``bench/pipeline.py``, measured in the same run.

notify runs as it is deployed: its own process (uvicorn, ``notify.entrypoints.http:app``) on a
throwaway database and vhost. This process publishes ``booking.appointment.confirmed`` events
(one per client, each client with a linked Telegram chat) to ``booking.events`` as booking's
relay would, serves the Telegram fake, and reads the send times the fake recorded.

Measurements:

* **burst**: every event published at once (confirms in windows, as a relay does); events/s from
  the first publish to the last message recorded, and event-to-send latency percentiles. Telegram's
  own limits (≈30 messages/s, 1/s per chat) are lifted here, so this is notify's capacity;
* **paced**: events at ``--rate``/s under the same settings: latency at a load the machine carries;
* **limited** (``--limited N``): N events with the production limits (30/s overall), which
  should come out at about 30 messages/s.

Usage: ``uv run python bench/notify_delivery.py [--events 2000] [--raw 20000] [--rate 100]``.
Prints the results (nothing is written to ``bench/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
from contracts.booking.v1 import AppointmentConfirmedV1
from contracts.envelope import EventEnvelope, new_envelope
from contracts.registry import spec_of
from contracts.testing import example_payload
from notify.adapters.tables import Recipient, TelegramChat
from notify.bootstrap import definition
from notify.config import NotifySettings
from sandbox.telegram import running_telegram_fake
from sandbox.telegram.models import UserCreate
from servicekit.db.engine import asyncpg_dsn, make_engine, make_session_factory
from servicekit.db.migrations import upgrade
from servicekit.security.fields import blind_index, configure_keyring, keyring_from_settings
from servicekit.testing import temporary_database, temporary_vhost

HERE = Path(__file__).resolve().parent


def _pipeline_module() -> Any:
    """``bench/pipeline.py`` (a script, not a package): its raw broker baseline."""
    spec = importlib.util.spec_from_file_location("bench_pipeline", HERE / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def link_clients(database_url: str, chat_ids: list[int]) -> list[uuid.UUID]:
    """Recipients with linked Telegram chats, written as notify's consumers and bot would."""
    engine = make_engine(database_url, pool_size=2)
    sessions = make_session_factory(engine)
    now = datetime.now(UTC)
    users = [uuid.uuid4() for _ in chat_ids]
    try:
        async with sessions() as session:
            for user_id, chat_id in zip(users, chat_ids, strict=True):
                email = f"bench.{chat_id}@example.org"
                session.add(
                    Recipient(
                        user_id=user_id,
                        email=email,
                        email_index=blind_index(email, kind="email"),
                        name=f"Client {chat_id}",
                        time_zone="Europe/Moscow",
                        language="ru",
                        roles=["client"],
                        updated_at=now,
                    )
                )
                chat = TelegramChat.for_chat_id(chat_id)
                chat.user_id, chat.linked_at = user_id, now
                session.add(chat)
            await session.commit()
    finally:
        await engine.dispose()
    return users


async def planned_times(database_url: str) -> list[float]:
    """When notify's consumer committed each delivery row (its clock, this machine's)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT created_at FROM deliveries")
    finally:
        await conn.close()
    return [r["created_at"].timestamp() for r in rows]


@contextlib.asynccontextmanager
async def notify_process(env: dict[str, str], port: int) -> AsyncIterator[None]:
    """notify in its own process; ready when ``/readyz`` says database and broker are up."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "notify.entrypoints.http:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        env={**os.environ, **env},
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        break
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError("notify did not become ready")
                await asyncio.sleep(0.2)
        yield
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 15)
        if proc.returncode is None:
            proc.kill()


_TEMPLATE = example_payload(
    AppointmentConfirmedV1, intake_required=False, reschedule_count=0, amount_paid=None,
    service_name="Консультация", specialist_name="Ольга Петрова", format="online",
)  # fmt: skip


def confirmed(client_id: uuid.UUID) -> EventEnvelope[Any]:
    """booking.appointment.confirmed for ``client_id``, ten days ahead (reminders scheduled)."""
    starts = datetime.now(UTC) + timedelta(days=10)
    payload = _TEMPLATE.model_copy(
        update={
            "client_id": client_id, "appointment_id": uuid.uuid4(), "starts_at": starts,
            "ends_at": starts + timedelta(minutes=50),
        }
    )  # fmt: skip
    return new_envelope(payload, correlation_id=f"bench-{uuid.uuid4().hex[:8]}")


async def publish(
    amqp_url: str, envelopes: list[EventEnvelope[Any]], rate: float, window: int = 200
) -> dict[uuid.UUID, float]:
    """Publish to booking.events as booking's relay does; return each event's send time."""
    sent: dict[uuid.UUID, float] = {}
    spec = spec_of(AppointmentConfirmedV1)
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )

        async def one(env: EventEnvelope[Any]) -> None:
            sent[env.payload.client_id] = time.time()
            await exchange.publish(
                aio_pika.Message(
                    env.model_dump_json().encode(),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=str(env.event_id),
                    correlation_id=env.correlation_id,
                    type=env.event_type,
                ),
                routing_key=spec.routing_key,
            )

        if rate > 0:
            started = time.perf_counter()
            for i, env in enumerate(envelopes):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await one(env)
        else:
            for base in range(0, len(envelopes), window):
                await asyncio.gather(*(one(e) for e in envelopes[base : base + window]))
    finally:
        await connection.close()
    return sent


async def measure(
    *,
    events: int,
    rate: float,
    limited: bool,
    raw_n: int,
    tg_sends: Any,
    base_env: dict[str, str],
    chat_base: int,
) -> dict[str, float]:
    """One notify process over a fresh database and vhost; ``events`` confirmations in."""
    async with temporary_vhost() as amqp_url, temporary_database("notifybench") as db_url:
        await asyncio.to_thread(upgrade, definition.migrations_dir, db_url)
        chat_ids = [chat_base + i for i in range(events)]
        for chat_id in chat_ids:
            tg_sends.store.add_user(UserCreate(id=chat_id, first_name="Bench", language_code="ru"))
        users = await link_clients(db_url, chat_ids)
        user_of_chat = dict(zip(chat_ids, users, strict=True))
        env = {
            **base_env,
            "DATABASE_URL": db_url,
            "AMQP_URL": amqp_url,
            "TELEGRAM_MESSAGES_PER_SECOND": "30" if limited else "100000",
            "TELEGRAM_CHAT_INTERVAL_SECONDS": "1" if limited else "0",
        }
        async with notify_process(env, free_port()):
            raw = await _pipeline_module().raw_broker(amqp_url, raw_n) if raw_n else {}
            bot = tg_sends.store.select_bot(None)
            before = len(bot.sends)
            envelopes = [confirmed(u) for u in users]
            started = time.time()
            published = await publish(amqp_url, envelopes, rate)
            wanted = set(chat_ids)
            deadline = time.monotonic() + 60 + events / 10
            while True:
                done = [
                    s for s in bot.sends[before:]
                    if s.method == "sendMessage" and s.error_code is None and s.chat_id in wanted
                ]  # fmt: skip
                if len(done) >= events or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            planned = await planned_times(db_url)
        if len(done) < events:
            raise RuntimeError(f"only {len(done)} of {events} messages arrived")
        latencies = [s.at - published[user_of_chat[s.chat_id]] for s in done]
        last = max(s.at for s in done)
        return {
            "events_per_s": events / (last - started),
            "planned_per_s": events / (max(planned) - started),
            "p50_ms": pct(latencies, 0.5) * 1000,
            "p99_ms": pct(latencies, 0.99) * 1000,
            **{f"raw_{k}": v for k, v in raw.items()},
        }


async def main(args: argparse.Namespace) -> None:
    settings = NotifySettings(environment="test")  # the development keys, asked for explicitly
    configure_keyring(keyring_from_settings(settings))
    async with running_telegram_fake() as tg:
        base_env = {
            "TELEGRAM_API_BASE": tg.base_url,
            "TELEGRAM_BOT_TOKEN": tg.token,
            "LOG_LEVEL": "WARNING",
            "ENVIRONMENT": "test",
            "DELIVERY_WORKERS": str(args.workers),
            "TIMERS_POLL_SECONDS": "1",
        }
        burst = await measure(
            events=args.events,
            rate=0,
            limited=False,
            raw_n=args.raw,
            tg_sends=tg,
            base_env=base_env,
            chat_base=300_000_000,
        )
        paced = await measure(
            events=max(1, int(args.rate * args.paced_seconds)),
            rate=args.rate,
            limited=False,
            raw_n=0,
            tg_sends=tg,
            base_env=base_env,
            chat_base=400_000_000,
        )
        limited = (
            await measure(
                events=args.limited,
                rate=0,
                limited=True,
                raw_n=0,
                tg_sends=tg,
                base_env=base_env,
                chat_base=500_000_000,
            )
            if args.limited
            else None
        )
    print(
        f"notify delivery benchmark, {datetime.now(UTC):%Y-%m-%d} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}; PostgreSQL, RabbitMQ, "
        f"notify and the Telegram fake on one machine; {args.workers} delivery workers)\n"
    )
    print("| measurement | events/s | vs raw | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    raw_rate = burst["raw_end_to_end_per_s"]
    print(
        f"| raw aio-pika publish + consume, end to end ({args.raw} msgs) | {raw_rate:,.0f} | 1.00 "
        f"| {burst['raw_p50_ms']:.1f} | {burst['raw_p99_ms']:.1f} |"
    )
    print(
        f"| notify burst: booking.events → Telegram fake ({args.events} events, limits lifted) "
        f"| {burst['events_per_s']:,.0f} | {burst['events_per_s'] / raw_rate:.2f} "
        f"| {burst['p50_ms']:.1f} | {burst['p99_ms']:.1f} |"
    )
    print(
        f"| (of which: events consumed and planned, burst) | {burst['planned_per_s']:,.0f} "
        f"| {burst['planned_per_s'] / raw_rate:.2f} | | |"
    )
    print(
        f"| notify paced at {args.rate:g} events/s | {paced['events_per_s']:,.0f} | "
        f"| {paced['p50_ms']:.1f} | {paced['p99_ms']:.1f} |"
    )
    if limited is not None:
        print(
            f"| notify with Telegram limits (30/s, 1/s per chat; {args.limited} events) "
            f"| {limited['events_per_s']:,.1f} | | {limited['p50_ms']:.1f} "
            f"| {limited['p99_ms']:.1f} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="burst size")
    parser.add_argument("--raw", type=int, default=20000, help="raw baseline messages")
    parser.add_argument("--rate", type=float, default=100.0, help="paced events/s")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--limited", type=int, default=300, help="events with Telegram limits")
    parser.add_argument("--workers", type=int, default=4, help="DELIVERY_WORKERS of notify")
    asyncio.run(main(parser.parse_args()))

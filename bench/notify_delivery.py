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
  should come out at about 30 messages/s;
* **reminders** (``--reminders N``): N 24 h reminders all due in the same moment (booked on the
  hour), over ``--replicas`` notify processes on one database, with the production pace and
  per-chat spacing, and the Telegram fake refusing (429) anything beyond 30/s overall or 1/s
  per chat. A fifth of the chats have two reminders (two appointments). While the burst is
  queued, ``--cancel`` of the appointments still waiting are cancelled (booking's event): their
  reminders must not go. Checked from the fake's record: every other reminder delivered exactly
  once, no 429, the densest second overall, the smallest gap between two messages to one chat.

Usage: ``uv run python bench/notify_delivery.py [--events 2000] [--raw 20000] [--rate 100]
[--reminders 2000] [--replicas 2]``. Prints the results and writes the section "notify keeps up
(issue 21, point 2)" of ``bench/RESULTS.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
from contracts.booking.v1 import AppointmentCancelledV1, AppointmentConfirmedV1, AppointmentFacts
from contracts.envelope import EventEnvelope, new_envelope
from contracts.registry import spec_of
from contracts.testing import example_payload
from notify.adapters.tables import AppointmentCopy, Recipient, TelegramChat
from notify.bootstrap import definition
from notify.config import NotifySettings
from sandbox.telegram import running_telegram_fake
from sandbox.telegram.models import RateLimits, UserCreate
from sandbox.telegram.testing import densest_second
from servicekit.db.engine import asyncpg_dsn, make_engine, make_session_factory
from servicekit.db.migrations import upgrade
from servicekit.security.fields import blind_index, configure_keyring, keyring_from_settings
from servicekit.testing import temporary_database, temporary_vhost
from servicekit.timers import Due, schedule_many

HERE = Path(__file__).resolve().parent
HEAD = "## notify keeps up (issue 21, point 2)"


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
            **({} if limited else {"TELEGRAM_MESSAGES_PER_SECOND": "100000"}),
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


async def seed_reminders(
    database_url: str, per_chat: list[int], chat_base: int, due: datetime
) -> tuple[dict[uuid.UUID, int], dict[uuid.UUID, uuid.UUID]]:
    """Linked clients with confirmed appointments, each one's 24 h reminder timer due at ``due``
    (what notify's consumer leaves after booking's confirmations): appointment → chat, client."""
    engine = make_engine(database_url, pool_size=2)
    sessions = make_session_factory(engine)
    chat_of: dict[uuid.UUID, int] = {}
    client_of: dict[uuid.UUID, uuid.UUID] = {}
    timers: list[Due] = []
    starts = due + timedelta(days=1)
    try:
        async with sessions() as session:
            for i, count in enumerate(per_chat):
                chat_id, user_id = chat_base + i, uuid.uuid4()
                email = f"remind.{chat_id}@example.org"
                session.add(
                    Recipient(
                        user_id=user_id, email=email,
                        email_index=blind_index(email, kind="email"), name=f"Client {i}",
                        time_zone="Europe/Moscow", language="ru", roles=["client"],
                        updated_at=due,
                    )
                )  # fmt: skip
                chat = TelegramChat.for_chat_id(chat_id)
                chat.user_id, chat.linked_at = user_id, due
                session.add(chat)
                for k in range(count):
                    at = starts + timedelta(hours=k)
                    p = _TEMPLATE.model_copy(
                        update={"client_id": user_id, "appointment_id": uuid.uuid4(),
                                "starts_at": at, "ends_at": at + timedelta(minutes=50)}
                    )  # fmt: skip
                    facts = AppointmentFacts.model_validate(p.model_dump()).model_dump(mode="json")
                    session.add(
                        AppointmentCopy(
                            appointment_id=p.appointment_id, client_id=user_id,
                            specialist_id=p.specialist_id, status="confirmed", starts_at=at,
                            facts=json.dumps({**facts, "amount_paid": None,
                                              "reschedule_count": 0}),
                            updated_at=due - timedelta(days=1),
                        )
                    )  # fmt: skip
                    key = f"{p.appointment_id}:1440"
                    payload = {"appointment_id": str(p.appointment_id), "minutes_before": 1440}
                    timers.append(Due("reminder", key, due, payload))
                    chat_of[p.appointment_id] = chat_id
                    client_of[p.appointment_id] = user_id
            await session.flush()
            await schedule_many(session, timers)
            await session.commit()
    finally:
        await engine.dispose()
    return chat_of, client_of


def _cancelled(appointment_id: uuid.UUID, client_id: uuid.UUID) -> EventEnvelope[Any]:
    payload = AppointmentCancelledV1.model_validate(
        {
            **_TEMPLATE.model_dump(),
            "appointment_id": appointment_id, "client_id": client_id,
            "previous_status": "confirmed", "cancelled_by": "client",
            "late_cancellation": False, "refund_percent": 100,
            "refund_amount": {"amount": 350000, "currency": "RUB"},
        }
    )  # fmt: skip
    return new_envelope(payload, correlation_id=f"bench-{uuid.uuid4().hex[:8]}")


async def measure_reminders(
    *,
    reminders: int,
    replicas: int,
    cancel: int,
    tg: Any,
    base_env: dict[str, str],
    chat_base: int,
) -> dict[str, Any]:
    """``reminders`` 24 h reminders due at once, over ``replicas`` notify processes."""
    pairs = reminders // 5
    per_chat = [1] * (reminders - 2 * pairs) + [2] * pairs
    async with temporary_vhost() as amqp_url, temporary_database("notifyreminders") as db_url:
        await asyncio.to_thread(upgrade, definition.migrations_dir, db_url)
        for i in range(len(per_chat)):
            tg.store.add_user(UserCreate(id=chat_base + i, first_name="Bench", language_code="ru"))
        env = {
            **base_env,
            "DATABASE_URL": db_url,
            "AMQP_URL": amqp_url,
            "TELEGRAM_CHAT_INTERVAL_SECONDS": "1",  # the production pace: the defaults
        }
        bot = tg.store.select_bot(None)
        before = len(bot.sends)
        tg.store.rate_limits = RateLimits(per_chat_per_second=1, overall_per_second=30)
        try:
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(replicas):
                    await stack.enter_async_context(notify_process(env, free_port()))
                due = datetime.now(UTC) + timedelta(seconds=2)
                chat_of, client_of = await seed_reminders(db_url, per_chat, chat_base, due)
                chats = set(chat_of.values())
                cancelled: list[uuid.UUID] = []
                conn = await asyncpg.connect(asyncpg_dsn(db_url))
                try:
                    if cancel:  # the last ones still queued behind the pace
                        while True:  # a quarter sent: the rest queued behind the pace
                            if len(bot.sends) - before >= reminders // 4:
                                break
                            await asyncio.sleep(0.1)
                        rows = await conn.fetch(
                            "SELECT ref FROM deliveries WHERE status = 'pending' "
                            "ORDER BY created_at DESC LIMIT $1",
                            cancel,
                        )
                        cancelled = [uuid.UUID(r["ref"].split(":", 1)[1]) for r in rows]
                        await publish(amqp_url, [_cancelled(a, client_of[a]) for a in cancelled], 0)
                    deadline = time.monotonic() + 90 + reminders / 20
                    while time.monotonic() < deadline:
                        unsent = await conn.fetchval(
                            "SELECT count(*) FROM deliveries "
                            "WHERE status IN ('pending', 'retrying', 'sending')"
                        )
                        planned = await conn.fetchval("SELECT count(*) FROM deliveries")
                        if not unsent and planned >= reminders:
                            break
                        await asyncio.sleep(0.5)
                    await asyncio.sleep(2)  # a double would have landed by now
                    rows = await conn.fetch(
                        "SELECT template, ref, status, attempts FROM deliveries"
                    )
                finally:
                    await conn.close()
        finally:
            tg.store.rate_limits = None
    sends = [
        s for s in bot.sends[before:] if s.method == "sendMessage" and s.chat_id in chats
    ]  # fmt: skip
    ok = [s for s in sends if s.error_code is None]
    reminder_rows = [r for r in rows if r["template"] == "appointment_reminder"]
    sent = [r for r in reminder_rows if r["status"] == "sent"]
    by_ref = Counter(r["ref"] for r in sent)
    cancelled_refs = {f"appointment:{a}" for a in cancelled}
    expected_ok = reminders - len(cancelled) + len(cancelled)  # a cancellation notice instead
    by_chat: dict[int, list[float]] = {}
    for s in ok:
        by_chat.setdefault(s.chat_id, []).append(s.at)
    gaps = [b - a for t in by_chat.values() for a, b in zip(sorted(t), sorted(t)[1:], strict=False)]
    times = [s.at for s in ok]
    first_due = due.timestamp()
    return {
        "reminders": reminders,
        "chats": len(per_chat),
        "replicas": replicas,
        "cancelled": len(cancelled),
        "reminders_sent": len(sent),
        "sent_twice": sum(1 for n in by_ref.values() if n > 1),
        "cancelled_sent": len(cancelled_refs & set(by_ref)),
        "missing": reminders - len(cancelled) - len(set(by_ref) - cancelled_refs),
        "attempts_over_1": sum(1 for r in sent if r["attempts"] != 1),
        "ok_sends": len(ok),
        "expected_ok_sends": expected_ok,
        "refused_429": len(sends) - len(ok),
        "densest_second": densest_second(times),
        "min_chat_gap_s": min(gaps) if gaps else float("nan"),
        "span_s": max(times) - min(times),
        "rate_per_s": len(ok) / (max(times) - min(times)),
        "due_to_last_s": max(times) - first_due,
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
        burst_reminders = (
            await measure_reminders(
                reminders=args.reminders,
                replicas=args.replicas,
                cancel=args.cancel,
                tg=tg,
                base_env=base_env,
                chat_base=600_000_000,
            )
            if args.reminders
            else None
        )
    raw_rate = burst["raw_end_to_end_per_s"]
    pace = NotifySettings.model_fields["telegram_messages_per_second"].default
    lines = [
        HEAD,
        "",
        f"Generated by `{' '.join(['uv run python bench/notify_delivery.py', *sys.argv[1:]])}`"
        f" on {datetime.now(UTC):%Y-%m-%d} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}; PostgreSQL, RabbitMQ, notify (its own uvicorn process"
        f"{'es' if args.replicas > 1 else ''}, as deployed) and the Telegram fake on one "
        f"machine shared with other work; {args.workers} delivery workers per process). "
        "The raw baseline is measured in the same run, on the same broker.",
        "",
        "| measurement | events/s | vs raw | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
        f"| raw aio-pika publish + consume, end to end ({args.raw} msgs) | {raw_rate:,.0f} "
        f"| 1.00 | {burst['raw_p50_ms']:.1f} | {burst['raw_p99_ms']:.1f} |",
        f"| **notify consumes and plans** (`booking.appointment.confirmed` → delivery row, its "
        f"`deliver` timer and two reminder timers committed; burst of {args.events}) "
        f"| {burst['planned_per_s']:,.0f} | **{burst['planned_per_s'] / raw_rate:.2f}** | | |",
        f"| notify end to end: booking.events → message at the Telegram fake (burst of "
        f"{args.events}, Telegram limits lifted) | {burst['events_per_s']:,.0f} "
        f"| {burst['events_per_s'] / raw_rate:.2f} | {burst['p50_ms']:.1f} "
        f"| {burst['p99_ms']:.1f} |",
        f"| notify paced at {args.rate:g} events/s, end to end | {paced['events_per_s']:,.0f} | "
        f"| {paced['p50_ms']:.1f} | {paced['p99_ms']:.1f} |",
    ]
    if limited is not None:
        lines.append(
            f"| notify with Telegram limits ({pace:g}/s pace, 1/s per chat; {args.limited} "
            f"events) | {limited['events_per_s']:,.1f} | | {limited['p50_ms']:.1f} "
            f"| {limited['p99_ms']:.1f} |"
        )
    if burst_reminders is not None:
        r = burst_reminders
        lines += [
            "",
            f"**Reminder burst**: {r['reminders']:,} 24 h reminders due in the same moment for "
            f"{r['chats']:,} chats (a fifth of them with two), {r['replicas']} notify "
            f"replicas on one database, notify's default pace ({pace:g}/s, 1 s per chat), the "
            "Telegram fake refusing with 429 anything beyond 30/s overall or 1/s per chat; "
            f"{r['cancelled']} appointments still queued were cancelled by booking's event "
            "mid-burst.",
            "",
            "| check | result |",
            "|---|---:|",
            f"| reminders sent (of {r['reminders'] - r['cancelled']:,} not cancelled) "
            f"| {r['reminders_sent']:,} |",
            f"| missing / sent twice / sent after cancellation | {r['missing']} / "
            f"{r['sent_twice']} / {r['cancelled_sent']} |",
            f"| deliveries that needed more than one attempt | {r['attempts_over_1']} |",
            f"| messages the fake accepted (reminders + cancellation notices; expected "
            f"{r['expected_ok_sends']:,}) | {r['ok_sends']:,} |",
            f"| refused with 429 (limit exceeded) | {r['refused_429']} |",
            f"| densest second, all chats (limit 30) | {r['densest_second']} |",
            f"| smallest gap between two messages to one chat (limit 1 s) "
            f"| {r['min_chat_gap_s']:.3f} s |",
            f"| overall rate, first to last message | {r['rate_per_s']:.1f}/s |",
            f"| from the reminders' due time to the last one sent | {r['due_to_last_s']:.1f} s |",
        ]
    planned_ratio = burst["planned_per_s"] / raw_rate
    sent_ratio = burst["events_per_s"] / raw_rate
    lines += [
        "",
        "**Against the goals.** ≥ 0.15 of raw publish + consume: consuming and planning "
        f"{'met' if planned_ratio >= 0.15 else 'not met'} ({planned_ratio:.2f}); end to end, "
        f"to the message sent, {'met' if sent_ratio >= 0.15 else 'not met'} "
        f"({sent_ratio:.2f}).",
    ]
    if burst_reminders is not None:
        r = burst_reminders
        whole = r["missing"] == 0 and r["sent_twice"] == 0 and r["cancelled_sent"] == 0
        within = r["refused_429"] == 0 and r["densest_second"] <= 30 and r["min_chat_gap_s"] >= 1
        lines[-1] += (
            f" The reminder burst delivered completely, once each, none after its cancellation: "
            f"{'met' if whole else 'not met'}; within Telegram's limits (no 429, densest second "
            f"{r['densest_second']} ≤ 30, per chat ≥ 1 s): {'met' if within else 'not met'}."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        bench_module = importlib.util.spec_from_file_location("benchkit", HERE / "benchkit.py")
        assert bench_module is not None and bench_module.loader is not None
        kit = importlib.util.module_from_spec(bench_module)
        bench_module.loader.exec_module(kit)
        kit.write_section(text, HEAD)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000, help="burst size")
    parser.add_argument("--raw", type=int, default=20000, help="raw baseline messages")
    parser.add_argument("--rate", type=float, default=100.0, help="paced events/s")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--limited", type=int, default=300, help="events with Telegram limits")
    parser.add_argument("--workers", type=int, default=4, help="DELIVERY_WORKERS of notify")
    parser.add_argument("--reminders", type=int, default=2000, help="reminders due at once")
    parser.add_argument("--replicas", type=int, default=2, help="notify processes (reminders)")
    parser.add_argument("--cancel", type=int, default=100, help="cancelled mid-burst")
    parser.add_argument("--no-write", action="store_true", help="print only")
    asyncio.run(main(parser.parse_args()))

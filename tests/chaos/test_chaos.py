"""Chaos (issue 20): faults under a steady booking load, and nothing lost or doubled.

A load generator books free slots through the gateway at a steady rate (no prepayment: each
201 is a confirmed appointment, so ``booking.appointment.confirmed`` goes out through booking's
outbox and notify plans the client's confirmation). Meanwhile one fault at a time:

* (b) notify, then booking killed with SIGKILL and started again;
* (d) the broker connection cut by the TCP proxy for 30 s (connections reset, new ones refused);
* (a) the RabbitMQ node stopped and started again;
* (c) the PostgreSQL cluster stopped and started again.

After each, once the load has stopped and the stack has settled:

* every 201 has its appointment in booking and in notify, and exactly the confirmation
  deliveries every quiet booking gets (none missing, none doubled);
* booking's outbox holds exactly one confirmation per confirmed appointment, and the inbox of
  every consumer of confirmations (cabinet twice, content, notify) holds each exactly once;
  cabinet, content and notify each keep their copy of every acknowledged appointment, and notify
  its reminder timers (one per offset) of each more than a day ahead;
* no outbox row of any service is left unpublished; every DLQ holds only the message poisoned
  on purpose before the faults (one copy per queue it reached), nothing else;
* every service answered ``/readyz`` 200 within 30 s of the fault's end;
* clients saw 2xx, 409 or 503 with ``Retry-After``, never another 5xx.

Figures are printed (``-s`` shows them; ``make test-chaos`` passes it) and kept in
bench/RESULTS.md ("Chaos").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from typing import Any
from zoneinfo import ZoneInfo

import aio_pika
import asyncpg
import httpx
import pytest
from contracts.booking.v1 import AppointmentConfirmedV1
from contracts.registry import spec_of
from devstack.layout import SERVICES
from devstack.processes import kill_service, start_service
from servicekit.messaging.dlq import depths as dlq_depths

from tests.chaos.conftest import ChaosStack
from tests.practice import eventually, free_practice, paced

# Each phase takes under two minutes; the first also starts the stack.
pytestmark = [pytest.mark.chaos, pytest.mark.slow, pytest.mark.timeout(420)]

ZONE = ZoneInfo("Europe/Moscow")
RATE = 10  # bookings a second
SPECIALISTS = 3
CLIENTS = 40
HOURS = range(9, 18)  # 09:00 … 17:00 starts: 50 minutes + 10 buffer, hourly
READY_WITHIN = 30.0
SETTLE = 90.0  # how long the stack may take to publish and consume what the load left
CONFIRMED = "booking.appointment.confirmed"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Answer:
    status: int  # 0: no HTTP answer (connection error or timeout)
    retry_after: str | None
    appointment_id: str | None
    error: str = ""


@dataclass
class Practice:
    service_id: str
    specialists: list[str]
    clients: list[dict[str, str]]
    first_day: date
    ledger: Ledger
    next_slot: int = 0

    def next_body(self) -> tuple[dict[str, str], str]:
        """A free slot never asked for before (round robin over specialists), and a client."""
        k = self.next_slot
        self.next_slot += 1
        specialist = self.specialists[k % len(self.specialists)]
        index = k // len(self.specialists)
        day = self.first_day + timedelta(days=index // len(HOURS))
        start = datetime.combine(day, wall_time(HOURS[index % len(HOURS)]), ZONE)
        body = {"service_id": self.service_id, "specialist_id": specialist, "starts_at": iso(start)}
        return self.clients[k % len(self.clients)], json.dumps(body)


@dataclass
class Load:
    """Books at :data:`RATE` a second through the gateway until stopped; keeps every answer."""

    gateway: httpx.AsyncClient
    practice: Practice
    answers: list[Answer] = field(default_factory=list)

    async def _book(self) -> None:
        auth, body = self.practice.next_body()
        headers = {**auth, "Content-Type": "application/json"}
        try:
            r = await self.gateway.post("/api/booking/appointments", content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.answers.append(Answer(0, None, None, type(exc).__name__))
            return
        appointment = r.json().get("id") if r.status_code == 201 else None
        error = "" if r.status_code < 300 else r.text[:200]
        self.answers.append(Answer(r.status_code, r.headers.get("retry-after"), appointment, error))

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Books at :data:`RATE` a second for the block."""
        return paced(RATE, lambda _: self._book())


@dataclass
class Figures:
    fault: str
    requests: int = 0
    acknowledged: int = 0
    unavailable: int = 0
    other: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    ambiguous: int = 0  # booked though the client saw no 2xx (the answer was lost in the fault)
    ready_seconds: float = 0.0
    settle_seconds: float = 0.0
    outbox_unpublished: int = 0
    dlq: int = 0
    confirmations: int = 0  # notify deliveries per booking (the baseline's count)

    def line(self) -> str:
        others = ", ".join(f"{k}×{v}" for k, v in sorted(self.other.items())) or "none"
        return (
            f"{self.fault}: requests {self.requests}, 201 {self.acknowledged}, "
            f"503 {self.unavailable}, other answers {others}, lost {self.lost}, "
            f"duplicated {self.duplicated}, booked without 2xx {self.ambiguous}, "
            f"ready again after {self.ready_seconds:.1f} s, settled after "
            f"{self.settle_seconds:.1f} s, outbox unpublished {self.outbox_unpublished}, "
            f"DLQ messages {self.dlq}, confirmations per booking {self.confirmations}"
        )


@dataclass
class Ledger:
    """What the phases share (one stack, run in order): the figures, every booking acknowledged
    so far, and how many confirmations a booking leads to without a fault (the baseline's)."""

    report: list[Figures] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    confirmations: int = 0
    unacknowledged: set[str] = field(default_factory=set)
    """Booked though the client saw no 2xx (counted in the phase that left them)."""
    poisoned: dict[str, int] = field(default_factory=dict)
    """DLQ depths once the deliberately poisoned message is dead-lettered (before any fault)."""


# -- the practice --------------------------------------------------------------------------


async def poison(stack: ChaosStack) -> dict[str, int]:
    """A deliberately poisoned message (not an envelope) where confirmations go: each consumer
    of them dead-letters it at once. Returns the DLQ depths then: the faults add nothing."""
    spec = spec_of(AppointmentConfirmedV1)
    connection = await aio_pika.connect(stack.rabbit.url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(
            aio_pika.Message(
                b'{"poisoned": true}',
                message_id=str(uuid.uuid4()),
                type=CONFIRMED,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=spec.routing_key,
        )
    finally:
        await connection.close()
    depths: dict[str, int] = {}

    async def dead_lettered() -> bool:
        depths.update(await dlq_depths(stack.rabbit.url, dead_letter_queues()))
        return sum(depths.values()) == len(CONSUMERS_OF_CONFIRMED)

    await eventually(dead_lettered, 30, "the poisoned message is dead-lettered")
    return depths


@pytest.fixture(scope="module")
async def practice(chaos_stack: ChaosStack) -> AsyncIterator[Practice]:
    stack = chaos_stack
    setup = await free_practice(
        stack.layout.service_url("booking"),
        stack.rabbit.url,
        stack.tokens,
        specialists=SPECIALISTS,
        clients=CLIENTS,
        label="chaos",
    )
    poisoned = await poison(stack)
    practice = Practice(
        setup.service_id,
        setup.specialists,
        [stack.tokens.auth("client", sub=c) for c in setup.clients],
        datetime.now(ZONE).date() + timedelta(days=1),
        Ledger(poisoned=poisoned),
    )
    yield practice
    print("\n" + summary(practice.ledger.report))


def summary(report: list[Figures]) -> str:
    """The figures as the Markdown table bench/RESULTS.md keeps ("Chaos")."""
    rows = [
        "| fault | requests | 201 | 503 (+Retry-After) | other | lost | duplicated "
        "| booked without 2xx | ready again (s) | settled (s) |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for f in report:
        others = ", ".join(f"{k}×{v}" for k, v in sorted(f.other.items())) or "—"
        rows.append(
            f"| {f.fault} | {f.requests} | {f.acknowledged} | {f.unavailable} | {others} "
            f"| {f.lost} | {f.duplicated} | {f.ambiguous} | {f.ready_seconds:.1f} "
            f"| {f.settle_seconds:.1f} |"
        )
    faults = [f for f in report if f.fault.startswith("(")]
    rows.append(
        f"| **all: {len(faults)} faults** | {sum(f.requests for f in report)} "
        f"| {sum(f.acknowledged for f in report)} | {sum(f.unavailable for f in report)} "
        f"| {sum(sum(f.other.values()) for f in report) or '—'} "
        f"| {sum(f.lost for f in report)} | {sum(f.duplicated for f in report)} "
        f"| {sum(f.ambiguous for f in report)} "
        f"| worst {max((f.ready_seconds for f in faults), default=0):.1f} "
        f"| worst {max((f.settle_seconds for f in report), default=0):.1f} |"
    )
    return "\n".join(rows)


# -- what is checked -----------------------------------------------------------------------


async def ready_seconds(stack: ChaosStack, since: float) -> float:
    """Seconds from ``since`` until every service answers ``/readyz`` 200."""
    async with httpx.AsyncClient(timeout=2) as client:
        pending = set(SERVICES)
        while pending:
            for name in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(f"{stack.layout.service_url(name)}/readyz")
                    if r.status_code == 200:
                        pending.discard(name)
            if pending:
                if time.monotonic() - since > READY_WITHIN + 30:
                    raise AssertionError(f"not ready: {sorted(pending)}")
                await asyncio.sleep(0.2)
    return time.monotonic() - since


async def query(stack: ChaosStack, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    dsn = stack.layout.database_url(service).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


BOOKED = "SELECT id::text FROM appointments WHERE status = 'confirmed'"
NOTIFY_COPIES = "SELECT appointment_id::text FROM appointments"
#: Each consumer's own copy of the appointments it heard of.
COPIES = {
    "notify": NOTIFY_COPIES,
    "cabinet": "SELECT appointment_id::text FROM appointments",
    "content": "SELECT appointment_id::text FROM appointments",
}


def consumers_of(event_type: str) -> list[tuple[str, str]]:
    """(service, queue) of every consumer subscribed to ``event_type``."""
    import importlib

    found = []
    for name in SERVICES:
        definition = importlib.import_module(f"{name}.bootstrap").definition
        for consumer in definition.consumers:
            if any(spec_of(m).event_type == event_type for m in consumer.models):
                found.append((name, consumer.queue().name))
    return found


CONSUMERS_OF_CONFIRMED = consumers_of(CONFIRMED)


#: notify's reminder offsets (``REMINDER_OFFSETS_MINUTES``, 24 h and 1 h by default): an
#: appointment more than a day ahead has one reminder timer for each.
REMINDER_OFFSETS = (24 * 60, 60)


async def reminders(stack: ChaosStack) -> tuple[set[str], dict[str, int]]:
    """Appointments far enough ahead for every reminder, and notify's reminder timers of each
    (``(kind, key)`` is unique, so one per offset at most)."""
    horizon = datetime.now(UTC) + timedelta(minutes=max(REMINDER_OFFSETS) + 60)
    rows = await query(
        stack,
        "booking",
        "SELECT id::text FROM appointments WHERE status = 'confirmed' AND starts_at > $1",
        horizon,
    )
    ahead = {r[0] for r in rows}
    rows = await query(
        stack,
        "notify",
        "SELECT split_part(key, ':', 1), count(*) FROM timers WHERE kind = 'reminder' GROUP BY 1",
    )
    return ahead, {r[0]: int(r[1]) for r in rows}


async def published_confirmations(stack: ChaosStack) -> int:
    rows = await query(
        stack, "booking", "SELECT count(*) FROM outbox WHERE event_type = $1", CONFIRMED
    )
    return int(rows[0][0])


async def consumed_confirmations(stack: ChaosStack) -> dict[tuple[str, str], int]:
    """Per consumer (service, queue): confirmations recorded in its inbox."""
    counts: dict[tuple[str, str], int] = {}
    for name in sorted({service for service, _ in CONSUMERS_OF_CONFIRMED}):
        rows = await query(
            stack,
            name,
            "SELECT consumer, count(*) FROM inbox WHERE event_type = $1 GROUP BY consumer",
            CONFIRMED,
        )
        counts.update({(name, r[0]): int(r[1]) for r in rows})
    return counts


async def ids(stack: ChaosStack, service: str, sql: str) -> set[str]:
    return {r[0] for r in await query(stack, service, sql)}


async def unpublished(stack: ChaosStack) -> int:
    total = 0
    for name in SERVICES:
        rows = await query(stack, name, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
        total += rows[0][0]
    return total


def dead_letter_queues() -> list[str]:
    """Every consumer queue's DLQ, as servicekit names them (``<queue>.dlq``)."""
    import importlib

    queues: list[str] = []
    for name in SERVICES:
        definition = importlib.import_module(f"{name}.bootstrap").definition
        queues += [c.queue().dlq for c in definition.consumers]
    return queues


async def confirmations(stack: ChaosStack) -> tuple[dict[str, int], int]:
    """Per appointment, notify's confirmation deliveries; and how many delivery keys are doubled
    (one event, one template, one channel, one recipient: more than one row)."""
    rows = await query(
        stack,
        "notify",
        "SELECT ref, count(*) AS n FROM deliveries WHERE source_event_type = $1 GROUP BY ref",
        CONFIRMED,
    )
    per_appointment = {r["ref"].removeprefix("appointment:"): r["n"] for r in rows}
    doubled = await query(
        stack,
        "notify",
        "SELECT source_event_id, template, channel, user_id, count(*) FROM deliveries "
        "WHERE source_event_id IS NOT NULL AND fallback_of IS NULL "
        "GROUP BY source_event_id, template, channel, user_id HAVING count(*) > 1",
    )
    return per_appointment, len(doubled)


async def verify(
    stack: ChaosStack, ledger: Ledger, figures: Figures, answers: list[Answer]
) -> None:
    """The invariants after a fault, once the stack has settled; fills ``figures``."""
    figures.requests = len(answers)
    acknowledged = {a.appointment_id for a in answers if a.status == 201 and a.appointment_id}
    figures.acknowledged = len(acknowledged)
    figures.unavailable = sum(a.status == 503 for a in answers)
    for a in answers:
        if a.status not in (201, 503):
            figures.other[str(a.status or a.error)] += 1
    bad = [a for a in answers if a.status >= 500 and a.status != 503]
    no_retry_after = [a for a in answers if a.status == 503 and not a.retry_after]
    no_answer = [a for a in answers if a.status == 0]

    expected = ledger.confirmations
    started = time.monotonic()

    async def settled() -> bool:
        if await unpublished(stack):
            return False
        booked = await ids(stack, "booking", BOOKED)
        produced = await published_confirmations(stack)
        consumed = await consumed_confirmations(stack)
        per_appointment, _ = await confirmations(stack)
        return (
            len(consumed) == len(CONSUMERS_OF_CONFIRMED)
            and all(n == produced for n in consumed.values())
            and all(per_appointment.get(i, 0) >= 1 for i in booked)
        )

    with contextlib.suppress(AssertionError):
        await eventually(settled, SETTLE, "the stack settles")
    figures.settle_seconds = time.monotonic() - started

    booked = await ids(stack, "booking", BOOKED)
    produced = await published_confirmations(stack)
    consumed = await consumed_confirmations(stack)
    copies = {name: await ids(stack, name, COPIES[name]) for name in COPIES}
    per_appointment, doubled = await confirmations(stack)
    ahead, timers = await reminders(stack)
    no_reminders = {i for i in acknowledged & ahead if timers.get(i, 0) < len(REMINDER_OFFSETS)}
    counts = Counter(per_appointment.get(i, 0) for i in booked)
    usual = counts.most_common(1)[0][0] if counts else 0
    if expected == 0:  # the baseline, without a fault, sets what every booking leads to
        expected = ledger.confirmations = usual
    lost_in_booking = acknowledged - booked
    lost_in_copies = {name: acknowledged - kept for name, kept in copies.items()}
    short = {i for i in acknowledged if per_appointment.get(i, 0) < expected}
    over = {i for i in booked if per_appointment.get(i, 0) > expected}
    # Every consumer's inbox holds each confirmation exactly once: as many as booking produced
    # (one per confirmed appointment, its outbox rows).
    consumed_lost = sum(max(0, produced - n) for n in consumed.values())
    consumed_over = sum(max(0, n - produced) for n in consumed.values())
    figures.lost = (
        len(lost_in_booking | short | no_reminders | set().union(*lost_in_copies.values()))
        + consumed_lost
    )
    figures.duplicated = len(over) + doubled + consumed_over + max(0, produced - len(booked))
    ledger.acknowledged.update(acknowledged)
    unacknowledged = booked - ledger.acknowledged - ledger.unacknowledged
    ledger.unacknowledged.update(unacknowledged)
    figures.ambiguous = len(unacknowledged)
    figures.confirmations = expected
    figures.outbox_unpublished = await unpublished(stack)
    dead_letters = await dlq_depths(stack.rabbit.url, dead_letter_queues())
    figures.dlq = sum(dead_letters.values()) - sum(ledger.poisoned.values())
    ledger.report.append(figures)
    print(f"\nCHAOS {figures.line()}")

    assert expected >= 1, "a confirmed booking plans at least one confirmation"
    assert not lost_in_booking, f"201 but no appointment: {sorted(lost_in_booking)[:5]}"
    for name, lost in lost_in_copies.items():
        assert not lost, f"{name} never heard of: {sorted(lost)[:5]}"
    assert not short, f"confirmations missing for {sorted(short)[:5]}"
    assert ahead & acknowledged, "some bookings are more than a day ahead"
    assert not no_reminders, f"reminders missing for {sorted(no_reminders)[:5]}"
    assert not over and not doubled, f"doubled deliveries: {sorted(over)[:5]}, keys {doubled}"
    assert produced == len(booked), f"{produced} confirmations for {len(booked)} appointments"
    assert consumed == dict.fromkeys(CONSUMERS_OF_CONFIRMED, produced), consumed
    assert figures.outbox_unpublished == 0
    # Only the deliberately poisoned message, in each queue it reached, and no other.
    assert dead_letters == ledger.poisoned, dead_letters
    assert not bad, f"5xx other than 503: {[(a.status, a.error) for a in bad[:5]]}"
    assert not no_retry_after, f"503 without Retry-After: {[a.error for a in no_retry_after[:5]]}"
    assert not no_answer, f"no HTTP answer: {Counter(a.error for a in no_answer)}"
    assert figures.ready_seconds <= READY_WITHIN


async def under_load(
    stack: ChaosStack,
    practice: Practice,
    fault: str,
    inject: Callable[[], Awaitable[float | None]],
    *,
    before: float = 3.0,
    after: float = 3.0,
) -> None:
    """Load, then the fault (``inject`` returns when the fault is over, with the seconds to
    ready when it measured them itself), readiness measured from then, a little more load, then
    the checks."""
    async with httpx.AsyncClient(base_url=stack.layout.origin, timeout=15) as gateway:
        load = Load(gateway, practice)
        figures = Figures(fault)
        async with load.running():
            await asyncio.sleep(before)
            measured = await inject()
            figures.ready_seconds = (
                measured if measured is not None else await ready_seconds(stack, time.monotonic())
            )
            await asyncio.sleep(after)
    await verify(stack, practice.ledger, figures, load.answers)


# -- the faults ----------------------------------------------------------------------------


async def test_quiet_baseline(chaos_stack: ChaosStack, practice: Practice) -> None:
    """No fault: what every booking leads to when nothing goes wrong (the expected counts)."""

    async def nothing() -> None:
        await asyncio.sleep(2)

    await under_load(chaos_stack, practice, "no fault (baseline)", nothing)


async def test_sigkill_notify_then_booking(chaos_stack: ChaosStack, practice: Practice) -> None:
    """(b) notify (the consumer: confirmations pile up meanwhile) crashes and is started again;
    then booking (HTTP and the outbox relay). One at a time, each measured to ready."""
    layout = chaos_stack.layout

    async def crash() -> float:
        worst = 0.0
        for name in ("notify", "booking"):
            await asyncio.to_thread(kill_service, layout, name)
            await asyncio.sleep(2)
            await asyncio.to_thread(start_service, layout, name)
            worst = max(worst, await ready_seconds(chaos_stack, time.monotonic()))
            await asyncio.sleep(2)
        return worst

    await under_load(chaos_stack, practice, "(b) SIGKILL notify, then booking", crash)


async def test_broker_connection_cut_for_30_seconds(
    chaos_stack: ChaosStack, practice: Practice
) -> None:
    """(d) the network between the services and RabbitMQ fails: every connection is reset and
    new ones are refused for 30 s; the broker itself keeps running."""
    proxy = chaos_stack.proxy

    async def cut() -> None:
        cut = proxy.cut()
        assert cut >= len(SERVICES), f"only {cut} broker connections went through the proxy"
        await asyncio.sleep(30)
        proxy.restore()

    await under_load(chaos_stack, practice, "(d) broker connection cut 30 s", cut)


async def test_rabbitmq_stopped_and_started(chaos_stack: ChaosStack, practice: Practice) -> None:
    """(a) the RabbitMQ node stops (connections closed by the broker) and starts again on its
    data: durable queues and persistent messages survive, the services reconnect."""
    rabbit = chaos_stack.rabbit

    async def restart() -> None:
        await asyncio.to_thread(rabbit.stop)
        await asyncio.sleep(5)
        await asyncio.to_thread(rabbit.start)

    await under_load(chaos_stack, practice, "(a) RabbitMQ stopped and started", restart)


async def test_postgresql_restarted(chaos_stack: ChaosStack, practice: Practice) -> None:
    """(c) PostgreSQL stops (fast shutdown: sessions ended, open transactions rolled back) and
    starts again: requests meanwhile are answered 503 with Retry-After, none half-done."""
    postgres = chaos_stack.postgres

    async def restart() -> None:
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(5)
        await asyncio.to_thread(postgres.start)

    await under_load(chaos_stack, practice, "(c) PostgreSQL restarted", restart)

"""Replicas keep per-aggregate order and exactly-once effects (issue 21, point 1).

Two replicas each of booking and notify run on the same databases and vhost, as
``docker compose up --scale booking=2 --scale notify=2`` runs them. Clients book through both
booking replicas (no prepayment: each 201 is ``booking.appointment.confirmed``) and cancel two
of every three bookings at once (``booking.appointment.cancelled`` right behind the confirmation,
often in the same relay batch). Midway, the first replica of each is killed with SIGKILL: the
booking replica that holds the outbox relay's leadership, and a notify replica that is the active
consumer of part of notify's partitions.

What a user would notice, checked afterwards:

* before the kill, each service's partitions were spread over both of its replicas; after it, the
  survivor holds all of them, and booking's relay leadership moved to the survivor within seconds;
* every appointment booking has reached notify in the state booking has (nothing lost), and a
  cancelled appointment has no reminder left to send (its cancellation was not handled before its
  confirmation);
* notify handled every event of one appointment in the order booking published them;
* no notification was planned or sent twice: one delivery per (event, template, channel,
  recipient), and the mail sink holds exactly the email deliveries notify sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from booking.bootstrap import definition as booking_definition
from contracts.registry import spec_of
from devstack.processes import kill_service, start_service
from notify.bootstrap import definition as notify_definition
from servicekit.settings import ServiceSettings
from servicekit.testing import EventTap, tapping

from tests.practice import eventually, free_practice, paced
from tests.replicas.conftest import ReplicaStack

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

ZONE = ZoneInfo("Europe/Moscow")
RATE = 8  # bookings a second, spread over the live booking replicas
LOAD_SECONDS = 20.0
KILL_AFTER = 8.0
SPECIALISTS = 3
CLIENTS = 30
HOURS = range(9, 18)
CONFIRMED = "booking.appointment.confirmed"
CANCELLED = "booking.appointment.cancelled"
PARTITIONS = ServiceSettings.model_fields["queue_partitions"].default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def query(stack: ReplicaStack, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    dsn = stack.layout.database_url(service).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def metric(port: int, name: str) -> float | None:
    """One gauge from a replica's ``/metrics`` (None: the replica does not answer)."""
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    except httpx.HTTPError:
        return None
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


@dataclass
class Replicas:
    """The ports of a service's live replicas (the first is the stack's own)."""

    name: str
    ports: dict[int, int]  # replica number → port
    partitions: int

    def live(self) -> list[int]:
        return list(self.ports.values())


@dataclass
class Load:
    stack: ReplicaStack
    booking: Replicas
    service_id: str
    specialists: list[str]
    clients: list[uuid.UUID]
    day: datetime
    next_slot: int = 0
    booked: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def _body(self) -> tuple[uuid.UUID, dict[str, str]]:
        k = self.next_slot
        self.next_slot += 1
        specialist = self.specialists[k % len(self.specialists)]
        index = k // len(self.specialists)
        day = self.day + timedelta(days=index // len(HOURS))
        start = datetime.combine(day.date(), wall_time(HOURS[index % len(HOURS)]), ZONE)
        body = {"service_id": self.service_id, "specialist_id": specialist, "starts_at": iso(start)}
        return self.clients[k % len(self.clients)], body

    async def _post(self, path: str, client: uuid.UUID, body: dict[str, Any]) -> httpx.Response:
        """POST to a live booking replica; a replica that went away mid-call is retried on
        another, as a load balancer would (the idempotency key makes the retry safe)."""
        headers = {
            **self.stack.tokens.auth("client", sub=client),
            "Idempotency-Key": uuid.uuid4().hex,
        }
        for _ in range(5):
            port = random.choice(self.booking.live())
            try:
                async with httpx.AsyncClient(timeout=30) as http:
                    return await http.post(
                        f"http://127.0.0.1:{port}/api/booking{path}", json=body, headers=headers
                    )
            except httpx.TransportError:
                await asyncio.sleep(0.2)
        raise AssertionError(f"no booking replica answered {path}")

    async def book_and_maybe_cancel(self, n: int) -> None:
        client, body = self._body()
        try:
            r = await self._post("/appointments", client, body)
            if r.status_code != 201:
                self.failures.append(f"book {r.status_code} {r.text[:200]}")
                return
            appointment = r.json()["id"]
            self.booked.append(appointment)
            if n % 3:  # two of three: cancelled right behind the confirmation
                r = await self._post(f"/appointments/{appointment}/cancel", client, {})
                if r.status_code != 200:
                    self.failures.append(f"cancel {r.status_code} {r.text[:200]}")
                    return
                self.cancelled.append(appointment)
        except AssertionError as exc:
            self.failures.append(str(exc))

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Books (and cancels two of three) at :data:`RATE` a second for the block."""
        return paced(RATE, self.book_and_maybe_cancel)


async def held(replicas: Replicas) -> dict[int, float | None]:
    return {n: await metric(port, "consumer_partitions_held") for n, port in replicas.ports.items()}


async def spread(replicas: Replicas, timeout: float) -> dict[int, float | None]:
    """Wait until every live replica of the service holds some of its partitions, together all."""
    last: dict[int, float | None] = {}

    async def check() -> bool:
        nonlocal last
        last = await held(replicas)
        counts = [v or 0 for v in last.values()]
        return all(c > 0 for c in counts) and sum(counts) == replicas.partitions

    await eventually(check, timeout, f"{replicas.name}'s partitions spread: {last}")
    return last


#: What notify's queue of booking's events takes.
NOTIFY_TAKES = {
    f"{spec_of(m).event_type}.v{spec_of(m).version}"
    for c in notify_definition.consumers
    if c.purpose == "booking-events"
    for m in c.models
}


def ordered_by_aggregate(tap: EventTap) -> dict[str, list[str]]:
    """Each appointment's event ids notify takes, in the order booking published them."""
    order: dict[str, list[str]] = {}
    for event in tap.events:
        if f"{event['event_type']}.v{event['version']}" in NOTIFY_TAKES:
            order.setdefault(str(event["aggregate_id"]), []).append(str(event["event_id"]))
    return order


async def test_two_replicas_of_booking_and_notify_keep_order_and_exactly_once_when_one_dies(
    replica_stack: ReplicaStack,
) -> None:
    stack = replica_stack
    layout = stack.layout
    booking = Replicas(
        "booking",
        {1: layout.services["booking"], 2: free_port()},
        len(booking_definition.consumers) * PARTITIONS,
    )
    notify = Replicas(
        "notify",
        {1: layout.services["notify"], 2: free_port()},
        len(notify_definition.consumers) * PARTITIONS,
    )
    for replicas in (booking, notify):
        start_service(layout, replicas.name, replica=2, port=replicas.ports[2])
    try:
        for replicas in (booking, notify):
            for port in replicas.live():

                async def ready(port: int = port) -> bool:
                    async with httpx.AsyncClient(timeout=3) as http:
                        r = await http.get(f"http://127.0.0.1:{port}/readyz")
                    return r.status_code == 200

                await eventually(ready, 90, f"{replicas.name} replica on {port} is ready")
        assert await metric(booking.ports[1], "outbox_relay_leader") == 1.0
        assert await metric(booking.ports[2], "outbox_relay_leader") == 0.0

        setup = await free_practice(
            f"http://127.0.0.1:{booking.ports[1]}",
            layout.amqp_url,
            stack.tokens,
            specialists=SPECIALISTS,
            clients=CLIENTS,
            label="реплики",
        )
        before = {r.name: await spread(r, 60) for r in (booking, notify)}

        load = Load(
            stack,
            booking,
            setup.service_id,
            setup.specialists,
            setup.clients,
            datetime.now(ZONE) + timedelta(days=3),
        )
        async with tapping(layout.amqp_url, "booking.events") as tap:
            async with load.running():
                await asyncio.sleep(KILL_AFTER)
                for replicas in (booking, notify):
                    await asyncio.to_thread(kill_service, layout, replicas.name)
                    del replicas.ports[1]

                async def took_over() -> bool:
                    return await metric(booking.ports[2], "outbox_relay_leader") == 1.0

                failover = await eventually(took_over, 30, "the survivor leads the relay")
                await asyncio.sleep(max(0.0, LOAD_SECONDS - KILL_AFTER - failover))
            survivor_booking = booking.ports[2]

            # -- settled: every appointment reached notify in the state booking has ----------
            async def settled() -> bool:
                rows = await query(
                    stack, "booking", "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
                if rows[0][0]:
                    return False
                states = dict(
                    (r[0], r[1])
                    for r in await query(
                        stack, "booking", "SELECT id::text, status FROM appointments"
                    )
                )
                copies = dict(
                    (r[0], r[1])
                    for r in await query(
                        stack, "notify", "SELECT appointment_id::text, status FROM appointments"
                    )
                )
                return bool(states) and all(copies.get(a) == s for a, s in states.items())

            await eventually(settled, 90, "notify has every appointment as booking has it")
            await tap.flush()
        after = {r.name: await held(r) for r in (booking, notify)}
        failover_seconds = failover

        assert not load.failures, load.failures[:5]
        assert len(load.booked) >= RATE * LOAD_SECONDS * 0.5, len(load.booked)
        assert load.cancelled, "some bookings were cancelled"

        # Spread before the kill; the survivor holds everything after it; the relay moved.
        for name, counts in before.items():
            assert all((c or 0) > 0 for c in counts.values()), (name, counts)
        assert after["booking"] == {2: booking.partitions}, after
        assert after["notify"] == {2: notify.partitions}, after
        assert failover_seconds < 10, failover_seconds

        # Nothing lost: every booking acknowledged is in booking and in notify, as booking has it.
        states = {
            r[0]: r[1]
            for r in await query(stack, "booking", "SELECT id::text, status FROM appointments")
        }
        assert set(load.booked) <= set(states)
        assert all(states[a] == "cancelled" for a in load.cancelled)

        # Order: notify handled each appointment's events in publication order; a cancelled one
        # has no reminder left (a cancellation handled before its confirmation would leave them).
        published = ordered_by_aggregate(tap)
        handled = {
            str(r[0]): r[1]
            for r in await query(
                stack,
                "notify",
                "SELECT event_id, received_at FROM inbox WHERE consumer = 'notify.booking-events'",
            )
        }
        assert all(e in handled for events in published.values() for e in events)
        out_of_order = [
            appointment
            for appointment, events in published.items()
            if [handled[e] for e in events] != sorted(handled[e] for e in events)
        ]
        assert not out_of_order, out_of_order[:5]
        reminders = {
            r[0]
            for r in await query(
                stack,
                "notify",
                "SELECT split_part(key, ':', 1) FROM timers WHERE kind = 'reminder'",
            )
        }
        assert not reminders & set(load.cancelled)
        kept = [a for a in load.booked if a not in set(load.cancelled)]
        assert set(kept) <= reminders  # three days ahead: both reminders are waiting

        # Exactly once: one delivery per (event, template, channel, recipient), one per event of
        # each kind at least, and the sink holds exactly the mails notify sent.
        doubled = await query(
            stack,
            "notify",
            "SELECT source_event_id, template, channel, user_id, count(*) FROM deliveries"
            " WHERE source_event_id IS NOT NULL GROUP BY 1, 2, 3, 4 HAVING count(*) > 1",
        )
        assert not doubled, doubled[:5]
        sources = {
            str(r[0])
            for r in await query(stack, "notify", "SELECT DISTINCT source_event_id FROM deliveries")
        }
        for event in tap.events:
            if event["event_type"] in (CONFIRMED, CANCELLED):
                assert str(event["event_id"]) in sources, event["event_type"]

        async def all_sent() -> bool:
            rows = await query(
                stack,
                "notify",
                "SELECT count(*) FILTER (WHERE status IN ('pending', 'sending')),"
                " count(*) FILTER (WHERE status = 'sent' AND channel = 'email') FROM deliveries",
            )
            return rows[0][0] == 0

        await eventually(all_sent, 90, "notify sent every planned delivery")
        sent = (
            await query(
                stack,
                "notify",
                "SELECT count(*) FROM deliveries WHERE status = 'sent' AND channel = 'email'",
            )
        )[0][0]
        async with httpx.AsyncClient(base_url=layout.sandbox_url("smtp-inspection")) as smtp:
            messages = (await smtp.get("/_sandbox/messages")).json()
        assert len(messages) == sent, (len(messages), sent)
        print(
            f"\nreplicas: {len(load.booked)} booked, {len(load.cancelled)} cancelled, "
            f"{len(tap.events)} booking events; partitions before the kill {before}, after "
            f"{after}; relay failover {failover_seconds:.1f} s; survivor {survivor_booking}; "
            f"{sent} mails sent once each"
        )
    finally:
        for replicas in (booking, notify):
            if 2 in replicas.ports:
                await asyncio.to_thread(kill_service, layout, replicas.name, replica=2)
            if 1 not in replicas.ports:
                start_service(layout, replicas.name)

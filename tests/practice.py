"""A free practice on a running stack, set up as an operator would, for the tests that drive a
whole stack with load (tests/chaos, tests/replicas): clients and specialists announced as cabinet
announces them, a free service bookable hourly every day 09:00–18:00, and the specialists
offering it, created through booking's HTTP API once booking has heard of them."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from servicekit.testing import TokenMint, announce_users

WEEK = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(1, 8)]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Seconds until ``check`` holds (fails after ``timeout``)."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if await check():
                return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.3)


@dataclass(frozen=True)
class FreePractice:
    service_id: str
    specialists: list[str]
    clients: list[uuid.UUID]


async def free_practice(
    booking_url: str,
    amqp_url: str,
    tokens: TokenMint,
    *,
    specialists: int,
    clients: int,
    label: str,
) -> FreePractice:
    """Announce the people, wait until booking knows every client, then create the service and
    the specialists (booking may hear of a specialist a moment after the clients)."""
    specialist_ids = [uuid.uuid4() for _ in range(specialists)]
    client_ids = [uuid.uuid4() for _ in range(clients)]
    await announce_users(
        amqp_url,
        {**dict.fromkeys(specialist_ids, "specialist"), **dict.fromkeys(client_ids, "client")},
        name=label,
    )
    admin = tokens.auth("admin")
    async with httpx.AsyncClient(base_url=booking_url, timeout=30, headers=admin) as http:

        async def known() -> bool:
            for c in client_ids:
                r = await http.get(
                    f"/api/booking/clients/{c}", headers=tokens.auth("client", sub=c)
                )
                if r.status_code != 200:
                    return False
            return True

        await eventually(known, 60, "booking hears of the clients")
        r = await http.post(
            "/api/booking/services",
            json={
                "name": f"Консультация ({label})",
                "durations_minutes": [50],
                "price": {"amount": 0, "currency": "RUB"},
                "format": "online",
                "buffer_before_minutes": 0,
                "buffer_after_minutes": 10,
                "min_notice_minutes": 0,
                "slot_step_minutes": 60,
                "horizon_days": 365,
                "prepayment_required": False,
            },
        )
        assert r.status_code == 201, r.text
        service_id = r.json()["id"]
        for i, specialist in enumerate(specialist_ids):
            body = {
                "user_id": str(specialist),
                "display_name": f"Специалист {i}",
                "time_zone": "Europe/Moscow",
                "weekly_hours": WEEK,
                "service_ids": [service_id],
            }

            async def created(body: dict[str, object] = body) -> bool:
                return (await http.post("/api/booking/specialists", json=body)).status_code == 201

            await eventually(created, 60, "booking knows the specialist")
    return FreePractice(service_id, [str(s) for s in specialist_ids], client_ids)


@contextlib.asynccontextmanager
async def paced(rate: float, action: Callable[[int], Awaitable[None]]) -> AsyncIterator[None]:
    """Start ``action(n)`` (n = 0, 1, ...) ``rate`` times a second, open loop, each in its own
    task, for the block; on leaving, wait for the ones still running."""
    stop = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def pace() -> None:
        n = 0
        while not stop.is_set():
            task = asyncio.create_task(action(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / rate)

    pacer = asyncio.create_task(pace())
    try:
        yield
    finally:
        stop.set()
        await pacer
        if tasks:
            await asyncio.wait(set(tasks))

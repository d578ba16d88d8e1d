"""Remembered slot searches: a repeated search is answered from memory only while the rows it
was computed from are unchanged (whoever changed them) and the time has not changed them."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from booking.adapters.schedules import read_slot_versions
from booking.application.slot_search import OpenSlots, SlotCache, SlotQuery, search_open_slots
from servicekit.db.driver import read_connection
from servicekit.db.engine import asyncpg_dsn

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = {"from": "2026-03-17T00:00:00+03:00", "to": "2026-03-18T00:00:00+03:00"}


async def answers(booking: Booking) -> dict[str, float]:
    """``slot_search_answers_total`` by source, from ``/metrics``."""
    r = await booking.client.get("/metrics")
    text = r.text
    assert r.status_code == 200 and "slot_search" in text, (r.status_code, text[:3000])
    found = re.findall(r'^slot_search_answers_total\{source="(\w+)"\} (\S+)$', text, re.M)
    return {source: float(value) for source, value in found}


def day_query(
    service: dict[str, Any], *, later_by: timedelta = timedelta(0), duration: int | None = None
) -> SlotQuery:
    """The query of :data:`DAY` (its start ``later_by``) for every specialist of a service."""
    start = datetime.fromisoformat(DAY["from"]) + later_by
    return SlotQuery(
        uuid.UUID(service["id"]), None, start, datetime.fromisoformat(DAY["to"]), duration
    )


async def search(booking: Booking, service: dict[str, Any], **params: Any) -> list[str]:
    r = await booking.client.get(
        "/api/booking/slots", params={"service_id": service["id"], **DAY, **params}
    )
    assert r.status_code == 200, r.text
    return [s["local_starts_at"][11:16] for s in r.json()["items"]]


async def test_a_repeated_search_is_remembered_until_a_booking_takes_a_slot(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    before = await answers(booking)
    first = await search(booking, service)
    assert first == [f"{h:02}:00" for h in range(9, 18)]
    assert await search(booking, service) == first
    assert await search(booking, service, tz="Europe/Berlin") == [
        f"{h:02}:00" for h in range(7, 16)
    ]
    after = await answers(booking)
    assert after["computed"] - before["computed"] == 1
    assert after["remembered"] - before["remembered"] == 2

    r = await booking.book(service, specialist, "2026-03-17T10:00:00+03:00")
    assert r.status_code == 201, r.text
    assert await search(booking, service) == [f"{h:02}:00" for h in range(9, 18) if h != 10]
    assert (await answers(booking))["computed"] - after["computed"] == 1


async def test_writes_from_outside_the_service_are_seen(booking: Booking, now: datetime) -> None:
    """Versions are bumped by the database itself: a row changed at psql counts too."""
    service, specialist = await booking.practice()
    assert len(await search(booking, service)) == 9
    conn = await asyncpg.connect(asyncpg_dsn(booking.svc.database_url))
    try:
        await conn.execute(
            "INSERT INTO time_off (id, specialist_id, starts_at, ends_at, created_at) "
            "VALUES ($1, $2, '2026-03-17T06:00:00Z', '2026-03-17T08:00:00Z', now())",
            uuid.uuid4(),
            uuid.UUID(specialist["user_id"]),
        )
        assert await search(booking, service) == [f"{h:02}:00" for h in range(11, 18)]
        await conn.execute(
            "UPDATE specialists SET weekly_hours = $2::jsonb WHERE user_id = $1",
            uuid.UUID(specialist["user_id"]),
            '[{"weekday": 2, "start": "15:00", "end": "18:00"}]',
        )
        assert await search(booking, service) == ["15:00", "16:00", "17:00"]
        await conn.execute(
            "UPDATE services SET slot_step_minutes = 90 WHERE id = $1", uuid.UUID(service["id"])
        )
        assert await search(booking, service) == ["15:00", "16:30"]
        await conn.execute(
            "DELETE FROM time_off WHERE specialist_id = $1", uuid.UUID(specialist["user_id"])
        )
        await conn.execute("UPDATE services SET active = false WHERE id = $1", service["id"])
        r = await booking.client.get(
            "/api/booking/slots", params={"service_id": service["id"], **DAY}
        )
        assert r.status_code == 404, r.text
    finally:
        await conn.close()


async def test_notice_applies_to_a_remembered_search(booking: Booking, now: datetime) -> None:
    # now is 12:00 MSK on the 16th; two hours' notice.
    service, _ = await booking.practice(min_notice_minutes=120)
    day = {"from": "2026-03-16T00:00:00+03:00", "to": "2026-03-17T00:00:00+03:00"}
    assert await search(booking, service, **day) == [f"{h}:00" for h in range(14, 18)]
    before = await answers(booking)
    booking.clock.advance(hours=1)
    assert await search(booking, service, **day) == [f"{h}:00" for h in range(15, 18)]
    booking.clock.advance(hours=3)
    assert await search(booking, service, **day) == []
    after = await answers(booking)
    assert after["remembered"] - before["remembered"] == 2
    assert after["computed"] == before["computed"]


@pytest.fixture
async def db(booking: Booking) -> Any:
    """A connection of the service's own pool (its JSON codecs), as slot search reads."""
    async with read_connection(booking.svc.runtime.engine) as conn:
        yield conn


async def test_a_hold_that_expires_frees_its_slot_without_any_write(
    booking: Booking, now: datetime, db: asyncpg.Connection
) -> None:
    service, specialist = await booking.practice(prepayment_required=True)
    client = await booking.register_client()
    r = await booking.book(service, specialist, "2026-03-17T10:00:00+03:00", client_id=client)
    assert r.status_code == 201 and r.json()["status"] == "held", r.text
    expires = datetime.fromisoformat(r.json()["hold_expires_at"])
    cache = SlotCache(8)
    query = day_query(service)

    def hours(found: OpenSlots) -> list[int]:
        return [(start + timedelta(hours=3)).hour for start in found.times]

    held = await search_open_slots(db, cache, query, now=now)
    assert 10 not in hours(held) and held.holds_expire_at == expires
    assert await search_open_slots(db, cache, query, now=expires - timedelta(seconds=1)) is held
    # Nothing was written (the versions are those the search was computed at), yet at the
    # expiry the hold no longer counts: the remembered search is not used.
    assert await read_slot_versions(db, query.service_id, None) == held.fingerprint
    freed = await search_open_slots(db, cache, query, now=expires)
    assert freed is not held and 10 in hours(freed)


async def test_a_search_is_not_remembered_backwards_in_time_or_without_room(
    booking: Booking, now: datetime, db: asyncpg.Connection
) -> None:
    service, _ = await booking.practice()
    query = day_query(service)
    cache = SlotCache(1)
    later = await search_open_slots(db, cache, query, now=now + timedelta(hours=1))
    assert await search_open_slots(db, cache, query, now=now + timedelta(hours=2)) is later
    assert await search_open_slots(db, cache, query, now=now) is not later

    other = day_query(service, duration=50)
    kept = await search_open_slots(db, cache, other, now=now)
    assert len(cache) == 1 and cache.get(query) is None and cache.get(other) is kept

    small = SlotCache(8, max_starts=12)  # 9 starts each: one search at a time fits
    for q in (query, other, query):
        await search_open_slots(db, small, q, now=now)
        assert len(small) == 1 and small.starts == 9 and small.get(q) is not None
    too_big = SlotCache(8, max_starts=8)
    await search_open_slots(db, too_big, query, now=now)
    assert len(too_big) == 0 and too_big.starts == 0
    nothing = SlotCache(0)
    once = await search_open_slots(db, nothing, query, now=now)
    assert await search_open_slots(db, nothing, query, now=now) is not once
    assert len(nothing) == 0


async def test_a_window_starting_now_is_not_remembered(booking: Booking, now: datetime) -> None:
    service, _ = await booking.practice()
    cache = booking.svc.runtime.slot_cache  # type: ignore[attr-defined]
    size = len(cache)
    r = await booking.client.get("/api/booking/slots", params={"service_id": service["id"]})
    assert r.status_code == 200 and r.json()["items"], r.text
    assert len(cache) == size


async def test_concurrent_searches_share_a_small_memory(booking: Booking, now: datetime) -> None:
    """Searches check their versions concurrently while others fill and evict the memory."""
    service, _ = await booking.practice()
    queries = [day_query(service, later_by=timedelta(minutes=k)) for k in range(6)]
    cache = SlotCache(2)

    async def one(query: SlotQuery) -> OpenSlots:
        async with read_connection(booking.svc.runtime.engine) as conn:
            return await search_open_slots(conn, cache, query, now=now)

    for _ in range(3):
        found = await asyncio.gather(*(one(q) for q in queries * 2))
        assert {len(f.times) for f in found} == {9}
    assert len(cache) == 2

"""``GET /api/booking/slots``: UTC plus the asked zone, DST, notice and horizon, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from booking.api.slots import SlotList

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def slots(booking: Booking, **params: Any) -> dict[str, Any]:
    r = await booking.client.get("/api/booking/slots", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_slots_in_utc_and_in_the_asked_zone(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    got = await slots(
        booking,
        service_id=service["id"],
        specialist_id=specialist["user_id"],
        **{"from": "2026-03-17T00:00:00+03:00", "to": "2026-03-18T00:00:00+03:00"},
    )
    assert got["time_zone"] == "Europe/Moscow"  # the specialist's, when none is asked
    first = got["items"][0]
    assert first["starts_at"] == "2026-03-17T06:00:00Z"
    assert first["local_starts_at"] == "2026-03-17T09:00:00+03:00"
    assert first["ends_at"] == "2026-03-17T06:50:00Z"
    assert len(got["items"]) == 9  # 09:00 … 17:00
    assert got["next_cursor"] is None
    assert got["window_from"] == "2026-03-17T00:00:00+03:00"  # the window, in the zone shown
    # The answer is written by hand for speed: it must be exactly what /openapi.json promises.
    documented = SlotList.model_validate(got).model_dump(mode="json")
    assert documented == got

    berlin = await slots(
        booking,
        service_id=service["id"],
        tz="Europe/Berlin",
        **{"from": "2026-03-17T00:00:00+03:00", "to": "2026-03-18T00:00:00+03:00"},
    )
    assert berlin["items"][0]["local_starts_at"] == "2026-03-17T07:00:00+01:00"
    assert berlin["items"][0]["specialist_id"] == specialist["user_id"]


async def test_berlin_specialist_across_spring_forward(booking: Booking) -> None:
    booking.clock.set(datetime(2026, 3, 27, 12, tzinfo=UTC))
    service = await booking.create_service(horizon_days=30)
    specialist = await booking.create_specialist(
        service_ids=[service["id"]],
        time_zone="Europe/Berlin",
        weekly_hours=[{"weekday": d, "start": "09:00", "end": "10:00"} for d in range(1, 8)],
    )
    got = await slots(
        booking,
        service_id=service["id"],
        specialist_id=specialist["user_id"],
        tz="Europe/Moscow",
        **{"from": "2026-03-28T00:00:00Z", "to": "2026-03-31T00:00:00Z"},
    )
    assert [(s["starts_at"], s["local_starts_at"]) for s in got["items"]] == [
        ("2026-03-28T08:00:00Z", "2026-03-28T11:00:00+03:00"),
        ("2026-03-29T07:00:00Z", "2026-03-29T10:00:00+03:00"),  # the change day itself
        ("2026-03-30T07:00:00Z", "2026-03-30T10:00:00+03:00"),
    ]


async def test_notice_and_horizon_edges(booking: Booking, now: datetime) -> None:
    # now is 12:00 MSK; two hours' notice, one day's horizon.
    service, specialist = await booking.practice(min_notice_minutes=120, horizon_days=1)
    got = await slots(
        booking,
        service_id=service["id"],
        specialist_id=specialist["user_id"],
        **{"from": "2026-03-16T00:00:00+03:00", "to": "2026-03-19T00:00:00+03:00"},
    )
    locals_ = [s["local_starts_at"] for s in got["items"]]
    assert locals_[0] == "2026-03-16T14:00:00+03:00"  # exactly now + 2 h
    assert locals_[-1] == "2026-03-17T12:00:00+03:00"  # exactly now + 1 day


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"tz": "Mars/Base"}, "tz"),
        ({"from": "2026-03-20T00:00:00Z", "to": "2026-03-19T00:00:00Z"}, "to"),
        ({"from": "2026-03-20T00:00:00Z", "to": "2026-07-19T00:00:00Z"}, "to"),
        ({"from": "2026-03-20T00:00:00"}, "from"),
        ({"duration_minutes": 45}, "duration_minutes"),
        ({"service_id": "not-a-uuid"}, "service_id"),
    ],
)
async def test_bad_slot_queries_are_422(
    booking: Booking, params: dict[str, str], where: str
) -> None:
    service, _ = await booking.practice()
    r = await booking.client.get(
        "/api/booking/slots", params={"service_id": service["id"], **params}
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert where in r.json()["errors"][0]["loc"]


async def test_unknown_service_or_specialist_is_404(booking: Booking) -> None:
    service, _ = await booking.practice()
    other = await booking.create_specialist()  # gives nothing
    r = await booking.client.get(
        "/api/booking/slots",
        params={"service_id": service["id"], "specialist_id": other["user_id"]},
    )
    assert r.status_code == 404
    inactive = await booking.create_service(active=False)
    r = await booking.client.get("/api/booking/slots", params={"service_id": inactive["id"]})
    assert r.status_code == 404

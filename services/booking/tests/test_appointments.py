"""Appointments: booking, no double booking (the database refuses overlaps), idempotency, the
lifecycle, lists, and who may see or change what."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import asyncpg
import pytest

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = {"from": "2026-03-17T00:00:00+03:00", "to": "2026-03-18T00:00:00+03:00"}
TEN = "2026-03-17T07:00:00Z"  # 10:00 MSK
NOON = "2026-03-17T09:00:00Z"  # 12:00 MSK
TWO = "2026-03-17T11:00:00Z"  # 14:00 MSK


async def test_booking_without_prepayment_confirms_at_once(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    assert TEN in await booking.slots(service, specialist, **DAY)
    client = uuid.uuid4()
    r = await booking.book(service, specialist, TEN, client_id=client)
    assert r.status_code == 201, r.text
    appointment = r.json()
    assert r.headers["location"] == f"/api/booking/appointments/{appointment['id']}"
    assert appointment["status"] == "confirmed"
    assert (appointment["starts_at"], appointment["ends_at"]) == (TEN, "2026-03-17T07:50:00Z")
    assert appointment["local_starts_at"] == "2026-03-17T10:00:00+03:00"
    assert appointment["price"] == {"amount": 300000, "currency": "RUB"}
    assert appointment["payment"] is None and appointment["hold_expires_at"] is None

    (event,) = await booking.events.wait_for(
        "booking.appointment.confirmed", appointment_id=appointment["id"]
    )
    payload = event["payload"]
    assert payload["starts_at"] == TEN and payload["specialist_time_zone"] == "Europe/Moscow"
    assert payload["service_name"] == service["name"]
    assert payload["price"] == {"amount": 300000, "currency": "RUB"}
    assert payload["intake_required"] is True and payload["client_id"] == str(client)
    assert TEN not in await booking.slots(service, specialist, **DAY)


async def test_fifty_concurrent_bookings_of_one_slot(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    results = await asyncio.gather(
        *(booking.book(service, specialist, NOON, key=f"race-{i}") for i in range(50))
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 49
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"slot_taken"}
    rows = await booking.fetch(
        "SELECT status FROM appointments WHERE specialist_id = $1",
        uuid.UUID(specialist["user_id"]),
    )
    assert [r["status"] for r in rows] == ["confirmed"]


async def test_partly_overlapping_requests_race_one_wins(booking: Booking, now: datetime) -> None:
    # 50-minute sessions on a 30-minute grid with 10 minutes after: 10:00 and 10:30 overlap.
    service, specialist = await booking.practice(slot_step_minutes=30)
    starts = ["2026-03-17T07:00:00Z", "2026-03-17T07:30:00Z"] * 10
    results = await asyncio.gather(*(booking.book(service, specialist, s) for s in starts))
    assert sorted(r.status_code for r in results) == [201] + [409] * 19
    winner = next(r.json() for r in results if r.status_code == 201)
    # After the race, the other start is refused as overlapping, before and by the database.
    other = starts[1] if winner["starts_at"] == starts[0] else starts[0]
    again = await booking.book(service, specialist, other)
    assert again.status_code == 409 and again.json()["code"] == "slot_taken"
    # Buffers count: 11:00 is free (10:00–10:50 + 10 min), 10:30 + 50 + 10 … only if 10:00 won.
    if winner["starts_at"] == starts[0]:
        assert (await booking.book(service, specialist, "2026-03-17T08:00:00Z")).status_code == 201


async def test_the_database_itself_refuses_overlaps(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    r = await booking.book(service, specialist, TEN)
    assert r.status_code == 201
    (row,) = await booking.fetch(
        "SELECT * FROM appointments WHERE id = $1", uuid.UUID(r.json()["id"])
    )
    conn = await asyncpg.connect(booking.svc.database_url.replace("+asyncpg", ""))
    try:
        columns = [k for k in row.keys() if k != "id"]  # noqa: SIM118 - a Record
        values = dict(row)
        values["occupied_from"] = row["occupied_from"] + timedelta(minutes=45)  # partly over
        values["occupied_until"] = row["occupied_until"] + timedelta(minutes=45)
        values["starts_at"] = row["starts_at"] + timedelta(minutes=45)
        values["ends_at"] = row["ends_at"] + timedelta(minutes=45)
        sql = (
            f"INSERT INTO appointments (id, {', '.join(columns)}) VALUES "
            f"($1, {', '.join(f'${i + 2}' for i in range(len(columns)))})"
        )
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(sql, uuid.uuid4(), *[values[c] for c in columns])
        values["status"] = "cancelled"  # a cancelled appointment occupies nothing
        await conn.execute(sql, uuid.uuid4(), *[values[c] for c in columns])
    finally:
        await conn.close()


async def test_idempotency_key_replays_and_refuses_reuse(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    client = uuid.uuid4()
    first = await booking.book(service, specialist, TEN, client_id=client, key="k-1")
    again = await booking.book(service, specialist, TEN, client_id=client, key="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["idempotent-replay"] == "true"
    other_body = await booking.book(service, specialist, NOON, client_id=client, key="k-1")
    assert other_body.status_code == 422
    assert other_body.json()["code"] == "idempotency_key_reused"
    rows = await booking.fetch(
        "SELECT count(*) AS n FROM appointments WHERE client_id = $1", client
    )
    assert rows[0]["n"] == 1
    # Keys are per user: another client's "k-1" is theirs.
    mine = await booking.book(service, specialist, NOON, key="k-1")
    assert mine.status_code == 201 and mine.json()["id"] != first.json()["id"]
    # After 24 h the key is new again.
    booking.clock.advance(hours=24, seconds=1)
    later = await booking.book(service, specialist, TWO, client_id=client, key="k-1")
    assert later.status_code == 201, later.text  # a new request, not a replay or a reuse
    assert later.json()["id"] != first.json()["id"] and "idempotent-replay" not in later.headers


async def test_booking_refusals_and_bad_input(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice(min_notice_minutes=120, horizon_days=2)
    cases = {
        "2026-03-16T10:00:00Z": "notice_too_short",  # 13:00 MSK, an hour from now
        "2026-03-16T11:00:00Z": None,  # 14:00 MSK, exactly the notice
        "2026-03-18T09:00:00Z": None,  # 12:00 MSK, exactly the horizon
        "2026-03-18T10:00:00Z": "beyond_horizon",
        "2026-03-17T07:30:00Z": "outside_working_hours",  # off the hourly grid
        "2026-03-17T03:00:00Z": "outside_working_hours",  # 06:00 MSK
    }
    for start, code in cases.items():
        r = await booking.book(service, specialist, start)
        if code is None:
            assert r.status_code == 201, (start, r.text)
        else:
            assert (r.status_code, r.json()["code"]) == (409, code), start
    for extra in ({"price": {"amount": 1}}, {"status": "confirmed"}, {"duration_minutes": 45}):
        r = await booking.book(service, specialist, "2026-03-17T08:00:00Z", **extra)
        assert r.status_code == 422 and r.json()["code"] == "validation_failed", extra
    naive = await booking.book(service, specialist, "2026-03-17T08:00:00")
    assert naive.status_code == 422
    nobody = await booking.book(service, {"user_id": str(uuid.uuid4())}, "2026-03-17T08:00:00Z")
    assert nobody.status_code == 404
    as_specialist = await booking.client.post(
        "/api/booking/appointments",
        json={
            "service_id": service["id"],
            "specialist_id": specialist["user_id"],
            "starts_at": "2026-03-17T08:00:00Z",
        },
        headers=booking.auth("specialist"),
    )
    assert as_specialist.status_code == 403
    bad_key = await booking.book(service, specialist, "2026-03-17T08:00:00Z", key="x" * 300)
    assert bad_key.status_code == 422


async def test_booking_across_berlin_dst(booking: Booking) -> None:
    booking.clock.set(datetime.fromisoformat("2026-03-27T12:00:00+00:00"))
    service = await booking.create_service()
    specialist = await booking.create_specialist(
        service_ids=[service["id"]], time_zone="Europe/Berlin"
    )
    before = await booking.book(service, specialist, "2026-03-28T08:00:00Z")  # 09:00 CET
    after = await booking.book(service, specialist, "2026-03-30T07:00:00Z")  # 09:00 CEST
    assert before.json()["local_starts_at"] == "2026-03-28T09:00:00+01:00"
    assert after.json()["local_starts_at"] == "2026-03-30T09:00:00+02:00"
    wrong = await booking.book(service, specialist, "2026-03-30T08:00:00Z")  # 10:00 CEST: ok
    assert wrong.status_code == 201
    early = await booking.book(service, specialist, "2026-03-30T06:00:00Z")  # 08:00 CEST
    assert early.json()["code"] == "outside_working_hours"


async def test_reschedule_onto_a_taken_slot_leaves_it_in_place(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice(reschedule_min_notice_minutes=0)
    client = uuid.uuid4()
    mine = (await booking.book(service, specialist, TEN, client_id=client)).json()
    assert (await booking.book(service, specialist, NOON)).status_code == 201
    me = booking.auth("client", sub=client)
    url = f"/api/booking/appointments/{mine['id']}/reschedule"
    taken = await booking.client.post(url, json={"starts_at": NOON}, headers=me)
    assert taken.status_code == 409 and taken.json()["code"] == "slot_taken"
    still = (await booking.client.get(f"/api/booking/appointments/{mine['id']}", headers=me)).json()
    assert (still["starts_at"], still["reschedule_count"]) == (TEN, 0)

    moved = await booking.client.post(url, json={"starts_at": TWO}, headers=me)
    assert moved.status_code == 200, moved.text
    assert (moved.json()["starts_at"], moved.json()["reschedule_count"]) == (TWO, 1)
    assert moved.json()["id"] == mine["id"]
    free = await booking.slots(service, specialist, **DAY)
    assert TEN in free and TWO not in free
    (event,) = await booking.events.wait_for(
        "booking.appointment.rescheduled", appointment_id=mine["id"]
    )
    assert event["payload"]["previous_starts_at"] == TEN
    assert event["payload"]["starts_at"] == TWO and event["payload"]["rescheduled_by"] == "client"
    rows = await booking.fetch(
        "SELECT count(*) AS n FROM appointments WHERE client_id = $1", client
    )
    assert rows[0]["n"] == 1  # moved, never duplicated


async def test_reschedule_race_with_a_booking_one_wins(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice(reschedule_min_notice_minutes=0)
    client = uuid.uuid4()
    mine = (await booking.book(service, specialist, TEN, client_id=client)).json()
    target = "2026-03-17T13:00:00Z"
    move = booking.client.post(
        f"/api/booking/appointments/{mine['id']}/reschedule",
        json={"starts_at": target},
        headers=booking.auth("client", sub=client),
    )
    results = await asyncio.gather(
        move, *(booking.book(service, specialist, target) for _ in range(5))
    )
    won = [r for r in results if r.status_code in (200, 201)]
    lost = [r for r in results if r.status_code == 409]
    assert (len(won), len(lost)) == (1, 5)
    assert {r.json()["code"] for r in lost} == {"slot_taken"}
    rows = await booking.fetch(
        "SELECT id FROM appointments WHERE specialist_id = $1 AND status = 'confirmed' "
        "AND starts_at = $2",
        uuid.UUID(specialist["user_id"]),
        datetime.fromisoformat(target),
    )
    assert len(rows) == 1


async def test_reschedule_limits_bind_the_client(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice(
        max_reschedules=1, reschedule_min_notice_minutes=24 * 60
    )
    client = uuid.uuid4()
    me = booking.auth("client", sub=client)
    far = (await booking.book(service, specialist, "2026-03-18T07:00:00Z", client_id=client)).json()
    url = f"/api/booking/appointments/{far['id']}/reschedule"
    assert (
        await booking.client.post(url, json={"starts_at": "2026-03-18T08:00:00Z"}, headers=me)
    ).status_code == 200
    twice = await booking.client.post(url, json={"starts_at": "2026-03-18T09:00:00Z"}, headers=me)
    assert twice.json()["code"] == "reschedule_limit_reached"
    soon = (await booking.book(service, specialist, TEN, client_id=client)).json()
    late = await booking.client.post(
        f"/api/booking/appointments/{soon['id']}/reschedule", json={"starts_at": TWO}, headers=me
    )
    assert late.status_code == 409 and late.json()["code"] == "reschedule_too_late"
    by_specialist = await booking.client.post(
        f"/api/booking/appointments/{soon['id']}/reschedule",
        json={"starts_at": TWO},
        headers=booking.auth("specialist", sub=uuid.UUID(specialist["user_id"])),
    )
    assert by_specialist.status_code == 200


async def test_cancel_read_and_list_only_your_own(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    client, stranger = uuid.uuid4(), uuid.uuid4()
    me = booking.auth("client", sub=client)
    mine = (await booking.book(service, specialist, TEN, client_id=client)).json()
    url = f"/api/booking/appointments/{mine['id']}"
    for headers in (booking.auth("client", sub=stranger), booking.auth("specialist")):
        assert (await booking.client.get(url, headers=headers)).status_code == 404
        r = await booking.client.post(f"{url}/cancel", json={}, headers=headers)
        assert r.status_code == 404
        r = await booking.client.post(f"{url}/reschedule", json={"starts_at": TWO}, headers=headers)
        assert r.status_code == 404
    assert (await booking.client.get(url, headers=booking.admin)).status_code == 200
    theirs = booking.auth("specialist", sub=uuid.UUID(specialist["user_id"]))
    assert (await booking.client.get(url, headers=theirs)).status_code == 200
    assert (await booking.client.get(url)).status_code == 401

    listed = await booking.client.get(
        "/api/booking/appointments", params={"status": "confirmed"}, headers=me
    )
    assert [a["id"] for a in listed.json()["items"]] == [mine["id"]]
    none = await booking.client.get(
        "/api/booking/appointments", headers=booking.auth("client", sub=stranger)
    )
    assert none.json()["items"] == []
    peek = await booking.client.get(
        "/api/booking/appointments",
        params={"client_id": str(client)},
        headers=booking.auth("client", sub=stranger),
    )
    assert peek.status_code == 403

    cancelled = await booking.client.post(
        f"{url}/cancel", json={"reason": "заболела"}, headers={**me, "Idempotency-Key": "c-1"}
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["cancellation"]["cancelled_by"] == "client"
    assert body["cancellation"]["reason"] == "заболела"
    assert body["cancellation"]["refund_percent"] == 0  # 21 h ahead: below every tier
    replay = await booking.client.post(
        f"{url}/cancel", json={"reason": "заболела"}, headers={**me, "Idempotency-Key": "c-1"}
    )
    assert replay.status_code == 200 and replay.json() == body
    twice = await booking.client.post(f"{url}/cancel", json={}, headers=me)
    assert twice.status_code == 409 and twice.json()["code"] == "invalid_transition"
    (event,) = await booking.events.wait_for(
        "booking.appointment.cancelled", appointment_id=mine["id"]
    )
    p = event["payload"]
    assert (p["previous_status"], p["cancelled_by"], p["late_cancellation"]) == (
        "confirmed",
        "client",
        True,
    )
    assert p["refund_amount"] == {"amount": 0, "currency": "RUB"}
    (raw,) = await booking.fetch(
        "SELECT cancel_reason FROM appointments WHERE id = $1", uuid.UUID(mine["id"])
    )
    assert "заболела" not in raw["cancel_reason"]
    assert TEN in await booking.slots(service, specialist, **DAY)
    filtered = await booking.client.get(
        "/api/booking/appointments",
        params={"status": ["held", "confirmed"], "from": "2026-03-17T00:00:00Z"},
        headers=me,
    )
    assert filtered.json()["items"] == []


async def test_calendar_is_the_specialists(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    sid = uuid.UUID(specialist["user_id"])
    client = await booking.register_client()
    for start in (NOON, TEN, TWO):
        assert (await booking.book(service, specialist, start, client_id=client)).status_code == 201
    url = f"/api/booking/specialists/{sid}/appointments"
    page = await booking.client.get(
        url, params={"limit": 2}, headers=booking.auth("specialist", sub=sid)
    )
    assert page.status_code == 200
    assert [a["starts_at"] for a in page.json()["items"]] == [TEN, NOON]
    assert page.json()["items"][0]["client_name"] == "Мария Иванова"
    rest = await booking.client.get(
        url,
        params={"cursor": page.json()["next_cursor"]},
        headers=booking.auth("specialist", sub=sid),
    )
    assert [a["starts_at"] for a in rest.json()["items"]] == [TWO]
    period = await booking.client.get(
        url,
        params={"from": "2026-03-17T08:00:00Z", "to": "2026-03-17T10:00:00Z"},
        headers=booking.admin,
    )
    assert [a["starts_at"] for a in period.json()["items"]] == [NOON]
    for headers in (booking.auth("specialist"), booking.auth("client", sub=client)):
        assert (await booking.client.get(url, headers=headers)).status_code == 403


async def test_complete_and_no_show_are_the_specialists_after_the_start(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    sid = uuid.UUID(specialist["user_id"])
    client = uuid.uuid4()
    first = (await booking.book(service, specialist, TEN, client_id=client)).json()
    second = (await booking.book(service, specialist, NOON, client_id=client)).json()
    theirs = booking.auth("specialist", sub=sid)
    url = f"/api/booking/appointments/{first['id']}"
    early = await booking.client.post(f"{url}/complete", headers=theirs)
    assert early.status_code == 409 and early.json()["code"] == "too_early"
    booking.clock.set(datetime.fromisoformat("2026-03-17T10:00:00+00:00"))
    by_client = await booking.client.post(
        f"{url}/complete", headers=booking.auth("client", sub=client)
    )
    assert by_client.status_code == 403
    stranger = await booking.client.post(f"{url}/complete", headers=booking.auth("specialist"))
    assert stranger.status_code == 404
    done = await booking.client.post(f"{url}/complete", headers=theirs)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    (event,) = await booking.events.wait_for(
        "booking.appointment.completed", appointment_id=first["id"]
    )
    assert event["payload"]["marked_by_user_id"] == str(sid)
    missed = await booking.client.post(
        f"/api/booking/appointments/{second['id']}/no-show", headers=theirs
    )
    assert missed.status_code == 200 and missed.json()["status"] == "no_show"
    (event,) = await booking.events.wait_for(
        "booking.appointment.no_show", appointment_id=second["id"]
    )
    assert event["payload"]["client_no_show_count"] == 1
    again = await booking.client.post(f"{url}/no-show", headers=theirs)
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"


async def test_client_confirms_attendance_once(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    client = uuid.uuid4()
    mine = (await booking.book(service, specialist, TEN, client_id=client)).json()
    url = f"/api/booking/appointments/{mine['id']}/confirm-attendance"
    other = await booking.client.post(url, headers=booking.auth("client"))
    assert other.status_code == 404
    r = await booking.client.post(url, headers=booking.auth("client", sub=client))
    assert r.status_code == 200 and r.json()["attendance_confirmed_at"] is not None
    await booking.client.post(url, headers=booking.auth("client", sub=client))
    await booking.events.wait_for(
        "booking.appointment.attendance_confirmed", appointment_id=mine["id"]
    )
    await booking.settled()
    assert (
        len(
            booking.events.of("booking.appointment.attendance_confirmed", appointment_id=mine["id"])
        )
        == 1
    )

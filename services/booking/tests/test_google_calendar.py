"""Google Calendar sync against the sandbox Google (docs/google-calendar.md): pushes that never
duplicate, imported busy time in slot search and in the booking check, 410 and lost
notifications, rate limits, token refresh and revocation, and the specialist's decision when
they delete or move one of our events in Google.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest
from booking.domain.calendar import event_id_for
from contracts.notify.v1 import CalendarDecisionRequestedV1
from sandbox.kit import FaultSpec, sandbox_state
from servicekit.testing import wait_until

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = {"from": "2026-03-17T00:00:00+03:00", "to": "2026-03-18T00:00:00+03:00"}
TEN = "2026-03-17T07:00:00Z"  # 10:00 MSK
NOON = "2026-03-17T09:00:00Z"  # 12:00 MSK
TWO = "2026-03-17T11:00:00Z"  # 14:00 MSK
FOUR = "2026-03-17T13:00:00Z"  # 16:00 MSK


def email_of(specialist: dict[str, Any]) -> str:
    return f"s-{specialist['user_id'][:8]}@practice.example"


async def connect(booking: Booking, specialist: dict[str, Any]) -> str:
    """Connect the specialist's sandbox calendar with a refresh token, as the front end would;
    returns the calendar (their address) once the first sync and the watch channel are done."""
    calendar = email_of(specialist)
    me = booking.auth("specialist", sub=uuid.UUID(specialist["user_id"]))
    r = await booking.client.put(
        "/api/booking/me/calendar-connection",
        json={"refresh_token": booking.google.refresh_token(calendar)},
        headers=me,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["kind"] == "oauth"

    async def synced() -> bool:
        got = (await booking.client.get("/api/booking/me/calendar-connection", headers=me)).json()
        return got["last_sync_at"] is not None and got["watch_expires_at"] is not None

    await wait_until(synced, timeout=10)
    return calendar


def last_request(booking: Booking) -> int:
    """The id of the newest request the Google fake got (later ones are this test's)."""
    found = sandbox_state(booking.google.app).requests.select(limit=1)
    return found[-1].id if found else 0


def api_requests(booking: Booking, method: str, since: int, suffix: str = "") -> list[Any]:
    """Calendar API requests (our connections use the calendar ``primary``) after ``since``."""
    return [
        r
        for r in sandbox_state(booking.google.app).requests.select(
            path_prefix="/calendar/v3/calendars/primary/events", method=method, since_id=since
        )
        if r.path.endswith(suffix) and not r.path.endswith("/watch")
    ]


def our_events(booking: Booking, calendar: str, appointment_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in booking.google.fake.store.events(calendar)
        if (e.get("extendedProperties") or {}).get("private", {}).get("praktika_appointment_id")
        == appointment_id
    ]


async def the_event(
    booking: Booking, calendar: str, appointment_id: str, **expected: Any
) -> dict[str, Any]:
    """Wait until the appointment's one event has ``expected`` (``start``: its UTC start)."""

    def matches() -> bool:
        found = our_events(booking, calendar, appointment_id)
        if len(found) != 1:
            return False
        event = found[0]
        if "status" in expected and event["status"] != expected["status"]:
            return False
        if "start" in expected:
            start = datetime.fromisoformat(event["start"]["dateTime"])
            return start == datetime.fromisoformat(expected["start"].replace("Z", "+00:00"))
        return True

    await wait_until(matches, timeout=10)
    (event,) = our_events(booking, calendar, appointment_id)
    return event


async def test_book_reschedule_cancel_follow_and_a_retried_push_never_duplicates(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice(reschedule_min_notice_minutes=0)
    calendar = await connect(booking, specialist)
    # The first insert reaches Google only after the client gave up waiting (timeout 1 s).
    start = last_request(booking)
    sandbox_state(booking.google.app).faults.add(
        FaultSpec(method="POST", path="/calendars/primary/events$", delay_seconds=1.5)
    )
    since = len(booking.google.fake.store.events(calendar))
    client = uuid.uuid4()
    appointment = (await booking.book(service, specialist, TEN, client_id=client)).json()
    aid = appointment["id"]

    event = await the_event(booking, calendar, aid, status="confirmed", start=TEN)
    assert event["id"] == event_id_for(uuid.UUID(aid))
    assert event["summary"] == service["name"]
    assert event["description"] == "Клиент: М. И."  # initials of "Мария Иванова", nothing more
    assert "attendees" not in event and "@" not in str(event["description"])

    # The late first insert lands after the retry did: 409 duplicate, still one event.
    def inserts() -> list[Any]:
        return booking.google.fake.store.events(calendar)[since:]

    await wait_until(
        lambda: (
            sorted(r.response_status or 0 for r in api_requests(booking, "POST", start))
            == [200, 409]
        ),
        timeout=10,
    )
    assert len(our_events(booking, calendar, aid)) == 1 and len(inserts()) == 1

    me = booking.auth("client", sub=client)
    url = f"/api/booking/appointments/{aid}"
    moved = await booking.client.post(f"{url}/reschedule", json={"starts_at": TWO}, headers=me)
    assert moved.status_code == 200, moved.text
    await the_event(booking, calendar, aid, status="confirmed", start=TWO)

    cancelled = await booking.client.post(f"{url}/cancel", json={}, headers=me)
    assert cancelled.status_code == 200, cancelled.text
    await the_event(booking, calendar, aid, status="cancelled")
    assert len(our_events(booking, calendar, aid)) == 1


async def test_busy_time_from_google_blocks_slots_and_bookings(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    calendar = await connect(booking, specialist)
    slots = await booking.slots(service, specialist, **DAY)
    assert {TEN, NOON, TWO, FOUR} <= set(slots)
    google = booking.google

    async def add(start: str, end: str, **fields: Any) -> dict[str, Any]:
        body = {"summary": "private", "start": {"dateTime": start}, "end": {"dateTime": end}}
        return dict(
            await google.inspect("POST", f"/calendars/{calendar}/events", json={**body, **fields})
        )

    async def offered(start: str) -> bool:
        return start in await booking.slots(service, specialist, **DAY)

    # A notification arrives: the slot goes within seconds.
    await add("2026-03-17T10:15:00+03:00", "2026-03-17T10:45:00+03:00")
    await wait_until(lambda: _not(offered(TEN)), timeout=5)
    refused = await booking.book(service, specialist, TEN)
    assert refused.status_code == 409 and refused.json()["code"] == "time_off"

    # Notifications are lost: the periodic sync (one period later) still finds the next one.
    await google.inspect("PUT", "/notifications/paused", json={"paused": True})
    await add("2026-03-17T12:00:00+03:00", "2026-03-17T12:30:00+03:00", status="tentative")
    await asyncio.sleep(0.5)
    assert await offered(NOON)
    booking.clock.advance(minutes=15)
    await wait_until(lambda: _not(offered(NOON)), timeout=10)

    # Transparent ("show as free") and declined events block nothing.
    await google.inspect("PUT", "/notifications/paused", json={"paused": False})
    await add("2026-03-17T16:00:00+03:00", "2026-03-17T17:00:00+03:00", transparency="transparent")
    await add(
        "2026-03-17T16:10:00+03:00",
        "2026-03-17T16:20:00+03:00",
        attendees=[{"email": calendar, "self": True, "responseStatus": "declined"}],
    )

    # Google forgets the sync token: 410, a full sync, and the busy time is all still there.
    expired_at = last_request(booking)
    await google.inspect("POST", f"/calendars/{calendar}/expire_sync_tokens")
    await add("2026-03-17T14:00:00+03:00", "2026-03-17T14:30:00+03:00")
    await wait_until(lambda: _not(offered(TWO)), timeout=10)
    answered = [
        (r.query.get("syncToken") is not None, r.response_status)
        for r in api_requests(booking, "GET", expired_at)
    ]
    assert (True, 410) in answered
    assert (False, 200) in answered[answered.index((True, 410)) :]  # then a full listing
    assert not await offered(TEN) and not await offered(NOON) and await offered(FOUR)
    # The specialist moved an event away: its time is free again.
    first = next(
        e
        for e in google.fake.store.events(calendar)
        if e["start"]["dateTime"].startswith("2026-03-17T10:15")
    )
    await google.inspect(
        "PATCH",
        f"/calendars/{calendar}/events/{first['id']}",
        json={
            "start": {"dateTime": "2026-03-18T10:15:00+03:00"},
            "end": {"dateTime": "2026-03-18T10:45:00+03:00"},
        },
    )
    await wait_until(lambda: offered(TEN), timeout=10)


async def _not(value: Any) -> bool:
    return not await value


async def test_rate_limits_back_off_expired_tokens_refresh_once_revocation_shows(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice(reschedule_min_notice_minutes=0)
    calendar = await connect(booking, specialist)
    google = booking.google
    events_path = "/calendars/primary/events$"
    start = last_request(booking)
    google.fault("rate_limit_403", method="POST", path=events_path)
    google.fault("rate_limit_429", method="POST", path=events_path)
    google.fault("backend_500", method="POST", path=events_path)
    client = uuid.uuid4()
    aid = (await booking.book(service, specialist, TEN, client_id=client)).json()["id"]
    await the_event(booking, calendar, aid, status="confirmed", start=TEN)
    statuses = [r.response_status for r in api_requests(booking, "POST", start)]
    assert statuses == [403, 429, 500, 200]

    # Google ends the access token early: one 401, one refresh, the call repeated.
    grants = len(google.fake.oauth.grants)
    start = last_request(booking)
    await google.inspect("POST", "/oauth/expire_access_tokens", params={"user": calendar})
    me = booking.auth("client", sub=client)
    url = f"/api/booking/appointments/{aid}"
    moved = await booking.client.post(f"{url}/reschedule", json={"starts_at": TWO}, headers=me)
    assert moved.status_code == 200
    await the_event(booking, calendar, aid, status="confirmed", start=TWO)
    assert len(google.fake.oauth.grants) == grants + 1
    # (whichever call came first — the push, or a sync its own notification started)
    calls = api_requests(booking, "GET", start) + api_requests(booking, "PUT", start)
    calls.sort(key=lambda r: r.id)
    failed_once = [r for r in calls if r.response_status == 401]
    assert len(failed_once) == 1
    (unauthorized,) = failed_once
    assert any(
        (r.method, r.path, r.response_status) == (unauthorized.method, unauthorized.path, 200)
        for r in calls
        if r.id > unauthorized.id
    )

    # The specialist removes Praktika's access in Google: the next push shows it on the
    # connection and tells them (booking.calendar.sync_failed), instead of failing silently.
    (token,) = [t.token for t in google.fake.oauth.refresh_tokens() if t.user == calendar]
    await google.inspect("POST", "/oauth/revoke", json={"token": token})
    cancelled = await booking.client.post(f"{url}/cancel", json={}, headers=me)
    assert cancelled.status_code == 200
    (failed,) = await booking.events.wait_for(
        "booking.calendar.sync_failed", specialist_id=specialist["user_id"], timeout=10
    )
    assert failed["payload"]["reason"] == "revoked"
    mine = booking.auth("specialist", sub=uuid.UUID(specialist["user_id"]))
    state = (await booking.client.get("/api/booking/me/calendar-connection", headers=mine)).json()
    assert state["status"] == "error" and state["last_error"].startswith("revoked")


def decision(user: uuid.UUID, appointment_id: str, what: str) -> CalendarDecisionRequestedV1:
    """The tap notify publishes under the "event changed in Google" message."""
    return CalendarDecisionRequestedV1(
        action_id=uuid.uuid4(),
        user_id=user,
        appointment_id=uuid.UUID(appointment_id),
        decision=what,  # type: ignore[arg-type]
    )


async def test_an_event_deleted_or_moved_in_google_asks_the_specialist(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    calendar = await connect(booking, specialist)
    google = booking.google
    sid = uuid.UUID(specialist["user_id"])
    first = (await booking.book(service, specialist, TEN)).json()["id"]
    second = (await booking.book(service, specialist, TWO)).json()["id"]
    event = await the_event(booking, calendar, first, status="confirmed", start=TEN)
    await the_event(booking, calendar, second, status="confirmed", start=TWO)

    # Deleted in Google: nothing is cancelled; the specialist is asked, and keeping it
    # restores the event.
    await google.inspect("DELETE", f"/calendars/{calendar}/events/{event['id']}")
    (asked,) = await booking.events.wait_for(
        "booking.calendar.event_changed", appointment_id=first, timeout=10
    )
    assert asked["payload"]["change"] == "deleted"
    assert asked["payload"]["specialist_id"] == str(sid)
    got = await booking.client.get(
        f"/api/booking/appointments/{first}", headers=booking.auth("specialist", sub=sid)
    )
    assert got.json()["status"] == "confirmed"
    # Only the specialist may answer: someone else's tap changes nothing.
    await booking.publish(decision(uuid.uuid4(), first, "keep"))
    await asyncio.sleep(1)
    (still,) = our_events(booking, calendar, first)
    assert still["status"] == "cancelled"
    await booking.publish(decision(sid, first, "keep"))
    await the_event(booking, calendar, first, status="confirmed", start=TEN)

    # Moved in Google: asked again; "cancel the appointment" cancels it and removes the event.
    (other,) = our_events(booking, calendar, second)
    await google.inspect(
        "PATCH",
        f"/calendars/{calendar}/events/{other['id']}",
        json={
            "start": {"dateTime": "2026-03-17T15:00:00+03:00"},
            "end": {"dateTime": "2026-03-17T15:50:00+03:00"},
        },
    )
    (moved,) = await booking.events.wait_for(
        "booking.calendar.event_changed", appointment_id=second, timeout=10
    )
    assert moved["payload"]["change"] == "moved"
    assert moved["payload"]["event_starts_at"] == "2026-03-17T12:00:00Z"
    await booking.publish(decision(sid, second, "cancel"))
    (cancelled,) = await booking.events.wait_for(
        "booking.appointment.cancelled", appointment_id=second, timeout=10
    )
    assert cancelled["payload"]["cancelled_by"] == "specialist"
    await the_event(booking, calendar, second, status="cancelled")


async def test_connection_is_the_specialists_own_encrypted_and_disconnect_revokes(
    booking: Booking, now: datetime
) -> None:
    _, specialist = await booking.practice()
    _, stranger = await booking.practice()
    calendar = await connect(booking, specialist)
    sid = uuid.UUID(specialist["user_id"])
    theirs = booking.auth("specialist", sub=uuid.UUID(stranger["user_id"]))
    assert (
        await booking.client.get("/api/booking/me/calendar-connection", headers=theirs)
    ).status_code == 404
    a_client = booking.auth("client", sub=sid)
    assert (
        await booking.client.get("/api/booking/me/calendar-connection", headers=a_client)
    ).status_code == 403

    (token,) = [t for t in booking.google.fake.oauth.refresh_tokens() if t.user == calendar]
    (raw,) = await booking.fetch(
        "SELECT credentials, channel_token, channel_id FROM calendar_connections "
        "WHERE specialist_id = $1",
        sid,
    )
    assert token.token not in raw["credentials"] and raw["credentials"].startswith("gAAAAA")

    # A notification with a wrong channel token is refused; the right one is taken.
    url = "/api/booking/calendar/google/notifications"
    wrong = await booking.client.post(
        url,
        headers={
            "X-Goog-Channel-ID": raw["channel_id"],
            "X-Goog-Channel-Token": "guess",
            "X-Goog-Resource-State": "exists",
            "X-Goog-Message-Number": "9",
        },
    )
    assert wrong.status_code == 404

    mine = booking.auth("specialist", sub=sid)
    label = await booking.client.patch(
        "/api/booking/me/calendar-connection", json={"client_label": "none"}, headers=mine
    )
    assert label.status_code == 200 and label.json()["client_label"] == "none"
    gone = await booking.client.delete("/api/booking/me/calendar-connection", headers=mine)
    assert gone.status_code == 204
    assert token.revoked
    assert not await booking.fetch(
        "SELECT 1 FROM calendar_connections WHERE specialist_id = $1", sid
    )
    assert (
        await booking.client.get("/api/booking/me/calendar-connection", headers=mine)
    ).status_code == 404


async def test_service_account_with_domain_wide_delegation(booking: Booking, now: datetime) -> None:
    service, specialist = await booking.practice()
    subject = email_of(specialist)
    r = await booking.client.put(
        f"/api/booking/specialists/{specialist['user_id']}/calendar-connection",
        json={"subject": subject},
        headers=booking.admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "service_account"
    aid = (await booking.book(service, specialist, TEN)).json()["id"]
    event = await the_event(booking, calendar=subject, appointment_id=aid, status="confirmed")
    assert event["organizer"]["email"] == subject  # the delegated user's own calendar
    own = booking.auth("specialist", sub=uuid.UUID(specialist["user_id"]))
    assert (
        await booking.client.put(
            f"/api/booking/specialists/{specialist['user_id']}/calendar-connection",
            json={"subject": subject},
            headers=own,
        )
    ).status_code == 403


async def test_the_watch_channel_is_renewed_before_it_expires(
    booking: Booking, now: datetime
) -> None:
    service, specialist = await booking.practice()
    calendar = await connect(booking, specialist)
    google = booking.google

    def channels() -> list[Any]:
        return [c for c in google.fake.store.channels() if c.calendar_id == calendar]

    (first,) = channels()
    # A day before the 7-day channel ends, the next periodic sync opens a new one.
    booking.clock.advance(days=6, hours=1)
    await wait_until(lambda: len(channels()) == 2 and channels()[0].stopped, timeout=10)
    renewed = channels()[1]
    assert renewed.id != first.id and renewed.token != first.token and not renewed.stopped
    assert renewed.expiration > first.expiration

    # Notifications now come through the new channel and still block slots.
    week = {"from": "2026-03-24T00:00:00+03:00", "to": "2026-03-25T00:00:00+03:00"}
    later = "2026-03-24T07:00:00Z"
    assert later in await booking.slots(service, specialist, **week)
    await google.inspect(
        "POST",
        f"/calendars/{calendar}/events",
        json={
            "start": {"dateTime": "2026-03-24T10:00:00+03:00"},
            "end": {"dateTime": "2026-03-24T10:30:00+03:00"},
        },
    )

    async def gone() -> bool:
        return later not in await booking.slots(service, specialist, **week)

    await wait_until(gone, timeout=10)
    mine = [n for n in google.fake.notifications() if n.calendar_id == calendar]
    assert (mine[-1].channel_id, mine[-1].state, mine[-1].status_code) == (
        renewed.id,
        "exists",
        200,
    )

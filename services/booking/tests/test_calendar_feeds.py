"""Private calendar feeds: a feed lists exactly its owner's appointments (a specialist's with
clients by initials unless they chose names), follows new bookings and cancellations, stops at
once when rotated or revoked, and the table holds only a hash of the token."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar, Event

from .conftest import Booking

pytestmark = pytest.mark.asyncio(loop_scope="session")

DAY = {"from": "2026-03-17T00:00:00+03:00", "to": "2026-03-18T00:00:00+03:00"}
TEN = "2026-03-17T07:00:00Z"  # 10:00 MSK
NOON = "2026-03-17T09:00:00Z"  # 12:00 MSK
TWO = "2026-03-17T11:00:00Z"  # 14:00 MSK
FEED = "/api/booking/me/calendar-feed"


async def create_feed(booking: Booking, user: uuid.UUID, role: str = "client", **body: Any) -> Any:
    r = await booking.client.post(FEED, json=body, headers=booking.auth(role, sub=user))
    assert r.status_code == 201, r.text
    return r.json()


async def events_of(booking: Booking, url: str) -> list[Event]:
    r = await booking.client.get(urlsplit(url).path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(r.content)
    events = [e for e in calendar.walk("VEVENT") if isinstance(e, Event)]
    return events


def uids(events: list[Event]) -> set[str]:
    return {str(e["UID"]) for e in events}


async def test_a_feed_lists_exactly_its_owners_appointments_and_follows_bookings(
    booking: Booking, now: Any
) -> None:
    service, specialist = await booking.practice()
    mine, other = uuid.uuid4(), uuid.uuid4()
    first = await booking.book(service, specialist, TEN, client_id=mine)
    theirs = await booking.book(service, specialist, NOON, client_id=other)
    assert first.status_code == theirs.status_code == 201

    feed = await create_feed(booking, mine)
    assert feed["url"].startswith("http") and feed["url"].endswith(".ics")
    assert feed["webcal_url"] == "webcal://" + feed["url"].split("://", 1)[1]
    (event,) = await events_of(booking, feed["url"])
    assert str(event["UID"]) == f"{first.json()['id']}@praktika" and event["SEQUENCE"] == 0
    assert event["DTSTART"].to_ical() == b"20260317T070000Z"
    assert str(event["SUMMARY"]) == f"{service['name']}: Анна Петрова"
    assert "Специалист: Анна Петрова" in str(event["DESCRIPTION"])

    # another client's feed never shows mine, mine never theirs
    other_feed = await create_feed(booking, other)
    assert uids(await events_of(booking, other_feed["url"])) == {f"{theirs.json()['id']}@praktika"}

    # a new booking appears; a cancelled one stays as CANCELLED with a higher SEQUENCE
    second = await booking.book(service, specialist, TWO, client_id=mine)
    assert second.status_code == 201
    events = await events_of(booking, feed["url"])
    assert uids(events) == {f"{first.json()['id']}@praktika", f"{second.json()['id']}@praktika"}
    r = await booking.client.post(
        f"/api/booking/appointments/{second.json()['id']}/cancel",
        json={},
        headers={**booking.auth("client", sub=mine), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 200, r.text
    by_uid = {str(e["UID"]): e for e in await events_of(booking, feed["url"])}
    gone = by_uid[f"{second.json()['id']}@praktika"]
    assert gone["STATUS"] == "CANCELLED" and gone["SEQUENCE"] == 1

    # the specialist's feed has both clients' sessions, the clients by initials only
    staff = uuid.UUID(specialist["user_id"])
    theirs_feed = await create_feed(booking, staff, "specialist")
    events = await events_of(booking, theirs_feed["url"])
    assert len(uids(events)) == 3
    texts = " ".join(str(e["SUMMARY"]) + str(e["DESCRIPTION"]) for e in events)
    assert "клиент М. И." in texts and "Мария" not in texts and "Иванова" not in texts
    r = await booking.client.patch(
        FEED, json={"show_client_names": True}, headers=booking.auth("specialist", sub=staff)
    )
    assert r.status_code == 200 and r.json()["show_client_names"] is True
    events = await events_of(booking, theirs_feed["url"])
    assert all("Мария Иванова" in str(e["SUMMARY"]) for e in events)


async def test_rotation_and_revocation_stop_the_old_url_and_only_a_hash_is_stored(
    booking: Booking, now: Any, caplog: pytest.LogCaptureFixture
) -> None:
    service, specialist = await booking.practice()
    me = uuid.uuid4()
    assert (await booking.book(service, specialist, TEN, client_id=me)).status_code == 201
    headers = booking.auth("client", sub=me)
    feed = await create_feed(booking, me)
    token = urlsplit(feed["url"]).path.rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) >= 43

    (row,) = await booking.fetch("SELECT * FROM calendar_feeds WHERE user_id = $1", me)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in row.values())

    again = await booking.client.post(FEED, json={}, headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "calendar_feed_exists"
    shown = await booking.client.get(FEED, headers=headers)
    assert shown.status_code == 200 and "url" not in shown.json()

    rotated = await booking.client.post(f"{FEED}/rotate", headers=headers)
    assert rotated.status_code == 200
    new_url = rotated.json()["url"]
    assert new_url != feed["url"]
    old = await booking.client.get(urlsplit(feed["url"]).path)
    assert old.status_code == 404 and old.json()["code"] == "not_found"
    with caplog.at_level(logging.INFO, logger="servicekit.access"):
        assert len(await events_of(booking, new_url)) == 1
    new_token = urlsplit(new_url).path.rsplit("/", 1)[1].removesuffix(".ics")
    logged = [r.getMessage() + str(r.__dict__) for r in caplog.records]
    assert any("calendar-feeds" in line for line in logged)  # the request was logged ...
    assert not any(new_token in line for line in logged)  # ... without its token

    assert (await booking.client.delete(FEED, headers=headers)).status_code == 204
    assert (await booking.client.get(urlsplit(new_url).path)).status_code == 404
    gone = await booking.client.get(FEED, headers=headers)
    assert gone.status_code == 404 and gone.json()["code"] == "calendar_feed_not_found"
    assert (await booking.client.delete(FEED, headers=headers)).status_code == 404
    assert (await booking.client.post(f"{FEED}/rotate", headers=headers)).status_code == 404


async def test_feed_access_language_and_bad_tokens(booking: Booking, now: Any) -> None:
    assert (await booking.client.get(FEED)).status_code == 401
    assert (await booking.client.post(FEED, json={})).status_code == 401
    # someone else's feed is not mine to read or change: each caller has only their own
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    await create_feed(booking, owner, language="en")
    r = await booking.client.get(FEED, headers=booking.auth("client", sub=stranger))
    assert r.status_code == 404
    r = await booking.client.delete(FEED, headers=booking.auth("client", sub=stranger))
    assert r.status_code == 404
    assert (await booking.client.get(FEED, headers=booking.auth("client", sub=owner))).json()[
        "language"
    ] == "en"

    service, specialist = await booking.practice(format="in_person")
    english = uuid.uuid4()
    assert (await booking.book(service, specialist, TEN, client_id=english)).status_code == 201
    r = await booking.client.post(
        FEED,
        headers={**booking.auth("client", sub=english), "Accept-Language": "en"},
    )
    assert r.status_code == 201 and r.json()["language"] == "en"
    (event,) = await events_of(booking, r.json()["url"])
    description = str(event["DESCRIPTION"])
    assert "Specialist: Анна Петрова" in description and "Format: in person" in description
    assert "Europe/Moscow" in description and "UTC" in description

    for token in ("x", "nonsense-token-of-some-length", "a" * 300, "%2e%2e"):
        r = await booking.client.get(f"/api/booking/calendar-feeds/{token}.ics")
        assert r.status_code == 404, (token, r.status_code)

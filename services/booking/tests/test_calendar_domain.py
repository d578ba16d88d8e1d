"""Google Calendar rules without I/O: our event's id and content, the import rules, and what a
change of our event in Google means (docs/google-calendar.md)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from booking.domain.calendar import (
    Pushed,
    appointment_of,
    blocks_time,
    change_in_google,
    event_body,
    event_id_for,
    event_range,
    initials,
)

AID = uuid.UUID("7d3c0e49-3d61-4a0c-9b1e-0b9a3a4d2f10")
TEN = datetime(2026, 3, 17, 7, 0, tzinfo=UTC)
END = datetime(2026, 3, 17, 7, 50, tzinfo=UTC)


def test_event_id_is_base32hex_and_the_same_for_one_appointment() -> None:
    first = event_id_for(AID)
    assert re.fullmatch(r"[a-v0-9]{5,1024}", first)
    assert event_id_for(AID) == first != event_id_for(uuid.uuid4())


def test_event_holds_the_minimum() -> None:
    body = event_body(
        appointment_id=AID,
        service_name="Консультация",
        client_name="Мария Иванова",
        client_label="initials",
        starts_at=TEN,
        ends_at=END,
        time_zone="Europe/Moscow",
    )
    assert body["summary"] == "Консультация" and body["description"] == "Клиент: М. И."
    assert body["start"] == {"dateTime": "2026-03-17T10:00:00+03:00", "timeZone": "Europe/Moscow"}
    assert "attendees" not in body and "Мария" not in str(body)
    assert appointment_of(body) == AID
    hidden = event_body(
        appointment_id=AID,
        service_name="Консультация",
        client_name="Мария Иванова",
        client_label="none",
        starts_at=TEN,
        ends_at=END,
        time_zone="Europe/Moscow",
    )
    assert hidden["description"] == ""
    assert initials("") == "" and initials("анна-мария петрова сидорова") == "А. М."


def test_import_rules() -> None:
    timed = {
        "start": {"dateTime": "2026-03-17T10:00:00+03:00"},
        "end": {"dateTime": "2026-03-17T11:00:00+03:00"},
    }
    assert blocks_time(timed)
    assert blocks_time({**timed, "status": "tentative"})
    assert not blocks_time({**timed, "status": "cancelled"})
    assert not blocks_time({**timed, "transparency": "transparent"})
    assert not blocks_time(
        {**timed, "attendees": [{"email": "a@x", "self": True, "responseStatus": "declined"}]}
    )
    assert blocks_time(
        {**timed, "attendees": [{"email": "b@x", "responseStatus": "declined"}]}
    )  # someone else declined
    assert not blocks_time({**timed, "eventType": "workingLocation"})
    all_day = {"start": {"date": "2026-03-17"}, "end": {"date": "2026-03-18"}}
    assert event_range(all_day, "Europe/Moscow") == (
        datetime(2026, 3, 16, 21, 0, tzinfo=UTC),
        datetime(2026, 3, 17, 21, 0, tzinfo=UTC),
    )
    assert event_range({"start": {}, "end": {}}, "UTC") is None


def test_changes_of_our_event_in_google() -> None:
    pushed = Pushed(TEN, END)
    ours = {
        "start": {"dateTime": "2026-03-17T10:00:00+03:00"},
        "end": {"dateTime": "2026-03-17T10:50:00+03:00"},
    }
    assert change_in_google(ours, pushed, "Europe/Moscow") is None  # our own write echoing back
    assert change_in_google({**ours, "status": "cancelled"}, pushed, "Europe/Moscow") == "deleted"
    moved = {
        "start": {"dateTime": "2026-03-17T11:00:00+03:00"},
        "end": {"dateTime": "2026-03-17T11:50:00+03:00"},
    }
    assert change_in_google(moved, pushed, "Europe/Moscow") == "moved"

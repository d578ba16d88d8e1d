"""servicekit.calendar: the one builder of appointment calendar data (notify's invitations,
booking's feeds), read back with icalendar."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from icalendar import Calendar
from servicekit.calendar import (
    Person,
    Session,
    appointment_sequence,
    appointment_uid,
    calendar_document,
    google_calendar_url,
    initials,
    session_event,
)

START = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)
ID = uuid.UUID("7f1f2a9e-4d1c-4f7b-9a57-1c2d3e4f5a6b")


def session(**fields: object) -> Session:
    values: dict[str, object] = {
        "appointment_id": ID,
        "service_name": "Консультация",
        "format": "online",
        "starts_at": START,
        "ends_at": START + timedelta(minutes=50),
        "specialist_time_zone": "Europe/Berlin",
        "counterpart": "Ольга Петрова",
        **fields,
    }
    return Session(**values)  # type: ignore[arg-type]


def test_uid_and_sequence_come_from_the_appointment_alone() -> None:
    assert appointment_uid(ID) == f"{ID}@praktika"
    assert [appointment_sequence(n, cancelled=False) for n in (0, 1, 2)] == [0, 1, 2]
    assert appointment_sequence(2, cancelled=True) == 3


def test_initials() -> None:
    assert initials("Мария Ивановна Петрова") == "М. И. П."
    assert initials("anna-maria smith") == "A. M. S."
    assert initials("") == "—"


def test_event_round_trips_with_utc_times_zones_alarms_and_no_alarm_when_cancelled() -> None:
    event = session_event(
        session(viewer_time_zone="Asia/Tokyo", address="ignored online"),
        language="en",
        stamp=START - timedelta(days=3),
        alarm_minutes=[60, 1440, 60],
        organizer=Person("no-reply@example.org", "Practice"),
        attendee=Person("client@example.org"),
    )
    parsed = Calendar.from_ical(calendar_document([event], method="REQUEST"))
    assert parsed["METHOD"] == "REQUEST"
    (vevent,) = parsed.walk("VEVENT")
    assert vevent.decoded("DTSTART") == START
    assert vevent["DTSTART"].to_ical() == b"20300315T090000Z"
    text = str(vevent["DESCRIPTION"])
    assert "2030-03-15 10:00–10:50 Europe/Berlin (the specialist's)" in text
    assert "2030-03-15 18:00–18:50 Asia/Tokyo (yours)" in text
    assert "2030-03-15 09:00–09:50 UTC" in text
    assert str(vevent["LOCATION"]) == "Online"
    assert sorted(a.decoded("TRIGGER") for a in vevent.walk("VALARM")) == [
        timedelta(days=-1),
        timedelta(hours=-1),
    ]
    cancelled = session_event(session(cancelled=True), language="ru", stamp=START)
    assert cancelled["STATUS"] == "CANCELLED" and cancelled["SEQUENCE"] == 1
    assert str(cancelled["SUMMARY"]).startswith("ОТМЕНЕНО: ")
    assert not cancelled.walk("VALARM")


def test_in_person_location_and_specialist_view() -> None:
    event = session_event(
        session(
            format="in_person",
            address="Москва, ул. Тверская, 1",
            viewer="specialist",
            counterpart="М. И.",
        ),
        language="ru",
        stamp=START,
    )
    assert str(event["LOCATION"]) == "Москва, ул. Тверская, 1"
    assert str(event["SUMMARY"]) == "Консультация: клиент М. И."
    assert "(у вас)" in str(event["DESCRIPTION"])  # the specialist's zone is their own


def test_google_calendar_template_link() -> None:
    url = urlsplit(google_calendar_url(session(), language="en"))
    query = parse_qs(url.query)
    assert url.netloc == "calendar.google.com" and query["action"] == ["TEMPLATE"]
    assert query["dates"] == ["20300315T090000Z/20300315T095000Z"]
    assert query["location"] == ["Online"]

"""Appointments as RFC 5545 calendar data (``icalendar``): one builder for notify's invitations
(``METHOD:REQUEST`` / ``METHOD:CANCEL`` mails, the ``.ics`` behind a Telegram link) and booking's
private feeds (one ``VCALENDAR`` of a person's appointments).

Pure: no I/O, no clock (the caller passes ``stamp``). Every event of one appointment has the
same ``UID`` (:func:`appointment_uid`); its ``SEQUENCE`` is the appointment's reschedule count,
one more once it is cancelled (:func:`appointment_sequence`): both come from booking's own
counter, so every producer of a file agrees and a redelivered event cannot lower it.

What an event says is the appointment's facts only: the service, with whom (the specialist's
name for a client; the client's initials, or name when the specialist chose so, for a
specialist), the format and where (the practice's address, or that the meeting link follows),
the time in UTC with the zones written out in the text. Never intake answers, notes, reasons or
anything else about a person's health.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

PRODID: Final = "-//Praktika//Appointments//EN"
UID_DOMAIN: Final = "praktika"

Method = Literal["REQUEST", "CANCEL", "PUBLISH"]
Role = Literal["client", "specialist"]

TEXTS: Final[Mapping[str, Mapping[str, str]]] = {
    "ru": {
        "summary_client": "{service}: {who}",
        "summary_specialist": "{service}: клиент {who}",
        "cancelled": "ОТМЕНЕНО",
        "with_specialist": "Специалист: {who}",
        "with_client": "Клиент: {who}",
        "online": "Формат: онлайн",
        "in_person": "Формат: очно",
        "link_follows": "Ссылка на встречу придёт перед сессией.",
        "meeting_link": "Ссылка на встречу: {url}",
        "address": "Адрес: {address}",
        "time": "Время",
        "specialist_zone": "у специалиста",
        "client_zone": "у вас",
        "your_zone": "у вас",
        "online_location": "Онлайн",
        "alarm": "Напоминание: {summary}",
        "calendar_name": "Практика: мои встречи",
    },
    "en": {
        "summary_client": "{service}: {who}",
        "summary_specialist": "{service}: client {who}",
        "cancelled": "CANCELLED",
        "with_specialist": "Specialist: {who}",
        "with_client": "Client: {who}",
        "online": "Format: online",
        "in_person": "Format: in person",
        "link_follows": "The meeting link will follow before the session.",
        "meeting_link": "Meeting link: {url}",
        "address": "Address: {address}",
        "time": "Time",
        "specialist_zone": "the specialist's",
        "client_zone": "yours",
        "your_zone": "yours",
        "online_location": "Online",
        "alarm": "Reminder: {summary}",
        "calendar_name": "Praktika: my sessions",
    },
}


def texts(language: str) -> Mapping[str, str]:
    """The calendar texts in ``language`` (Russian when it is not one we write)."""
    return TEXTS.get(language, TEXTS["ru"])


def appointment_uid(appointment_id: uuid.UUID) -> str:
    """The ``UID`` of every calendar event of one appointment."""
    return f"{appointment_id}@{UID_DOMAIN}"


def appointment_sequence(reschedule_count: int, *, cancelled: bool) -> int:
    """``SEQUENCE``: one step per reschedule, one more for the cancellation (it ends the
    appointment, so nothing follows it). Derived from booking's counter, never from how many
    messages went out: a repeat of a message carries the same number."""
    return max(reschedule_count, 0) + (1 if cancelled else 0)


def initials(name: str) -> str:
    """``"Мария Ивановна Петрова"`` → ``"М. И. П."``: a client as a specialist's feed shows
    them unless the specialist chose full names."""
    parts = [p for p in name.replace("-", " ").split() if p[:1].isalpha()]
    return " ".join(f"{p[0].upper()}." for p in parts) or "—"


@dataclass(frozen=True)
class Session:
    """One appointment as a calendar shows it to one person."""

    appointment_id: uuid.UUID
    service_name: str
    format: str  # online | in_person
    starts_at: datetime
    ends_at: datetime
    specialist_time_zone: str
    counterpart: str  # the specialist's name (client's view) or the client's initials/name
    viewer: Role = "client"
    reschedule_count: int = 0
    cancelled: bool = False
    viewer_time_zone: str | None = None  # the reader's own zone, when known
    address: str | None = None  # in person: the practice's address
    meeting_url: str | None = None  # online: where the session takes place, when known


@dataclass(frozen=True)
class Person:
    """An organizer or attendee: an address and a display name."""

    email: str
    name: str | None = None


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _span(start: datetime, end: datetime, zone: ZoneInfo) -> str:
    a, b = start.astimezone(zone), end.astimezone(zone)
    if a.date() == b.date():
        return f"{a:%Y-%m-%d %H:%M}–{b:%H:%M}"
    return f"{a:%Y-%m-%d %H:%M} – {b:%Y-%m-%d %H:%M}"


def summary_of(session: Session, language: str) -> str:
    """The event's title, in ``language``."""
    t = texts(language)
    key = "summary_specialist" if session.viewer == "specialist" else "summary_client"
    title = t[key].format(service=session.service_name, who=session.counterpart)
    return f"{t['cancelled']}: {title}" if session.cancelled else title


def location_of(session: Session, language: str) -> str | None:
    """``LOCATION``: the practice's address in person; online, the meeting link or "Online"."""
    if session.format == "in_person":
        return session.address or None
    return session.meeting_url or texts(language)["online_location"]


def description_of(session: Session, language: str) -> str:
    """The event's text: with whom, the format and where, and the time in the specialist's zone,
    the reader's own zone (when known and different) and UTC."""
    t = texts(language)
    who_key = "with_client" if session.viewer == "specialist" else "with_specialist"
    lines = [session.service_name, t[who_key].format(who=session.counterpart)]
    if session.format == "in_person":
        lines.append(t["in_person"])
        if session.address:
            lines.append(t["address"].format(address=session.address))
    else:
        lines.append(t["online"])
        if session.meeting_url:
            lines.append(t["meeting_link"].format(url=session.meeting_url))
        else:
            lines.append(t["link_follows"])
    lines.append("")
    lines.append(f"{t['time']}:")
    start, end = session.starts_at, session.ends_at
    specialist = _zone(session.specialist_time_zone)
    own = _zone(session.viewer_time_zone)
    if specialist is not None:
        mine = session.viewer == "specialist"
        label = t["your_zone"] if mine else t["specialist_zone"]
        lines.append(f"{_span(start, end, specialist)} {session.specialist_time_zone} ({label})")
    if own is not None and session.viewer_time_zone != session.specialist_time_zone:
        lines.append(f"{_span(start, end, own)} {session.viewer_time_zone} ({t['client_zone']})")
    lines.append(f"{_span(start, end, ZoneInfo('UTC'))} UTC")
    return "\n".join(lines)


def _address(person: Person, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    if person.name:
        address.params["CN"] = vText(person.name)
    for key, value in params.items():
        address.params[key] = value
    return address


def session_event(
    session: Session,
    *,
    language: str,
    stamp: datetime,
    alarm_minutes: Iterable[int] = (),
    organizer: Person | None = None,
    attendee: Person | None = None,
    url: str | None = None,
) -> Event:
    """One ``VEVENT`` of an appointment: times in UTC, texts in ``language``, a ``VALARM`` per
    reminder (minutes before the start; none for a cancelled one)."""
    event = Event()
    summary = summary_of(session, language)
    event.add("uid", appointment_uid(session.appointment_id))
    sequence = appointment_sequence(session.reschedule_count, cancelled=session.cancelled)
    event.add("sequence", sequence)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", session.starts_at.astimezone(UTC))
    event.add("dtend", session.ends_at.astimezone(UTC))
    event.add("summary", summary)
    event.add("description", description_of(session, language))
    location = location_of(session, language)
    if location:
        event.add("location", location)
    if url:
        event.add("url", url)
    event.add("status", "CANCELLED" if session.cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if session.cancelled else "OPAQUE")
    if organizer is not None:
        event.add("organizer", _address(organizer))
    if attendee is not None:
        status = "DECLINED" if session.cancelled else "ACCEPTED"
        event.add(
            "attendee",
            _address(attendee, ROLE="REQ-PARTICIPANT", PARTSTAT=status, RSVP="FALSE"),
        )
    if not session.cancelled:
        for minutes in sorted(set(alarm_minutes), reverse=True):
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", texts(language)["alarm"].format(summary=summary))
            alarm.add("trigger", timedelta(minutes=-minutes))
            event.add_component(alarm)
    return event


def calendar_document(
    events: Sequence[Event], *, method: Method | None = None, name: str | None = None
) -> bytes:
    """A ``VCALENDAR`` holding ``events`` (with ``METHOD`` for iTIP mail, RFC 5546), as bytes."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method is not None:
        calendar.add("method", method)
    if name:
        calendar.add("x-wr-calname", name)
    for event in events:
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def google_calendar_url(session: Session, *, language: str) -> str:
    """A Google Calendar "add event" template link with the same texts and UTC times."""
    fmt = "%Y%m%dT%H%M%SZ"
    start = session.starts_at.astimezone(UTC).strftime(fmt)
    end = session.ends_at.astimezone(UTC).strftime(fmt)
    query = {
        "action": "TEMPLATE",
        "text": summary_of(session, language),
        "dates": f"{start}/{end}",
        "details": description_of(session, language),
    }
    location = location_of(session, language)
    if location:
        query["location"] = location
    return "https://calendar.google.com/calendar/render?" + urlencode(query)

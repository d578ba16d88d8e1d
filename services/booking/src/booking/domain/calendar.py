"""Google Calendar rules without I/O: our event's id and content, which imported events block
time, and what a change of one of our events in Google means (docs/google-calendar.md).
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

#: The private extended property naming the appointment an event is for.
APPOINTMENT_PROPERTY = "praktika_appointment_id"

ClientLabel = Literal["initials", "none"]
Change = Literal["deleted", "moved"]


def event_id_for(appointment_id: uuid.UUID) -> str:
    """Our event's id: base32hex (``[0-9a-v]``) of SHA-256 of the appointment id. The same
    appointment always gets the same id, so a repeated insert is Google's 409 ``duplicate``,
    never a second event."""
    digest = hashlib.sha256(f"praktika:{appointment_id}".encode()).digest()
    return base64.b32hexencode(digest).decode().lower().rstrip("=")


def initials(name: str | None) -> str:
    """``"Мария Иванова"`` → ``"М. И."``; nothing for an empty name."""
    parts = [p for p in (name or "").replace("-", " ").split() if p]
    return " ".join(f"{p[0].upper()}." for p in parts[:2])


def event_body(
    *,
    appointment_id: uuid.UUID,
    service_name: str,
    client_name: str | None,
    client_label: ClientLabel,
    starts_at: datetime,
    ends_at: datetime,
    time_zone: str,
) -> dict[str, Any]:
    """The event an appointment puts in the specialist's calendar: the service, the client's
    initials (or nothing, as the specialist chose), the times; no contact, no health data, no
    attendees (Google would mail them)."""
    summary = service_name
    label = initials(client_name) if client_label == "initials" else ""
    description = f"Клиент: {label}" if label else ""
    zone = ZoneInfo(time_zone)
    return {
        "id": event_id_for(appointment_id),
        "summary": summary,
        "description": description,
        "start": {"dateTime": starts_at.astimezone(zone).isoformat(), "timeZone": time_zone},
        "end": {"dateTime": ends_at.astimezone(zone).isoformat(), "timeZone": time_zone},
        "status": "confirmed",
        "transparency": "opaque",
        "visibility": "private",
        "extendedProperties": {"private": {APPOINTMENT_PROPERTY: str(appointment_id)}},
        "reminders": {"useDefault": True},
    }


def appointment_of(event: dict[str, Any]) -> uuid.UUID | None:
    """The appointment an event of ours is for; ``None`` for the specialist's own events."""
    value = ((event.get("extendedProperties") or {}).get("private") or {}).get(APPOINTMENT_PROPERTY)
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _when(part: dict[str, Any], zone: ZoneInfo) -> datetime | None:
    if "dateTime" in part:
        return datetime.fromisoformat(str(part["dateTime"]).replace("Z", "+00:00")).astimezone(UTC)
    if "date" in part:
        day = date.fromisoformat(str(part["date"]))
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    return None


def event_range(event: dict[str, Any], time_zone: str) -> tuple[datetime, datetime] | None:
    """An event's UTC range; an all-day event spans its days in the specialist's zone."""
    zone = ZoneInfo(time_zone)
    start = _when(event.get("start") or {}, zone)
    end = _when(event.get("end") or {}, zone)
    if start is None or end is None or end <= start:
        return None
    return start, end


def blocks_time(event: dict[str, Any], *, own_email: str | None = None) -> bool:
    """Whether one of the specialist's own events makes them busy (the import rules):

    - cancelled (deleted) events: no;
    - ``transparency: transparent`` ("show as available"): no;
    - events the specialist declined (their attendee entry ``self`` or with their address has
      ``responseStatus: declined``): no;
    - tentative events (``status: tentative``, or the specialist answered "maybe"): yes — a
      maybe is not a free hour to sell;
    - all-day events: yes, over their whole local days, unless transparent (Google makes
      all-day events transparent by default, so only those marked "busy" block);
    - working-location, out-of-office and focus-time entries follow the same rules by their
      transparency.
    """
    if event.get("status") == "cancelled":
        return False
    if event.get("transparency") == "transparent":
        return False
    for attendee in event.get("attendees") or []:
        mine = attendee.get("self") or (own_email and attendee.get("email") == own_email)
        if mine and attendee.get("responseStatus") == "declined":
            return False
    return event.get("eventType") != "workingLocation"


@dataclass(frozen=True)
class Pushed:
    """What booking last put in Google for an appointment."""

    starts_at: datetime | None
    ends_at: datetime | None


def change_in_google(event: dict[str, Any], pushed: Pushed, time_zone: str) -> Change | None:
    """What the specialist did to one of our events in Google, if anything: ``deleted`` it,
    ``moved`` it (other times than we pushed), or nothing (our own write echoing back)."""
    if event.get("status") == "cancelled":
        return "deleted"
    span = event_range(event, time_zone)
    if span is None or pushed.starts_at is None or pushed.ends_at is None:
        return None
    if span != (pushed.starts_at, pushed.ends_at):
        return "moved"
    return None


def full_sync_from(now: datetime) -> datetime:
    """How far back a full sync lists (events that ended before cannot block a slot)."""
    return now - timedelta(days=1)

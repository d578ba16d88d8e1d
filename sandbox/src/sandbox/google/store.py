"""The Google Calendar fake's state: calendars with their events, sync tokens and watch channels.

Every change to a calendar takes the next number of that calendar's change sequence; an event
remembers the number of its last change. A sync token names a sequence number: an incremental
``events.list`` returns the events changed after it (deleted ones with ``status: cancelled``).
Tokens can be invalidated (``expire_sync_tokens``), after which using one answers 410
``fullSyncRequired``, as Google does when a token is too old. Page tokens name a position in a
snapshot of the matching events, so pages stay stable while the calendar changes.

Deleted events are kept with ``status: cancelled``: ``get`` still returns them, a second delete is
410 ``deleted``, inserting their id again is 409 ``duplicate``, and an update that sets
``status: confirmed`` brings them back.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.google.errors import GoogleError, bad_request, not_found

Clock = Callable[[], datetime]

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
"""A client-chosen event id: base32hex characters, 5–1024 of them."""

MAX_RESULTS = 2500
DEFAULT_MAX_RESULTS = 250

#: Fields a client may not set (the server owns them).
_READ_ONLY = {"kind", "etag", "htmlLink", "created", "updated", "creator", "organizer", "iCalUID"}


def utc_now() -> datetime:
    """The real time, UTC."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """``2026-03-16T09:00:00.000Z``, as Google writes ``created``/``updated``."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(value: Any, field_name: str) -> datetime:
    """An RFC 3339 time with an offset (``Z`` allowed)."""
    if not isinstance(value, str):
        raise bad_request(f"Invalid value for: {field_name}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"Invalid value for: {field_name}") from exc
    if parsed.tzinfo is None:
        raise bad_request(f"Missing time zone definition for {field_name}")
    return parsed


def event_bounds(event: dict[str, Any]) -> tuple[datetime, datetime]:
    """The UTC range of an event; all-day events (``date``) span whole UTC days here."""

    def bound(part: dict[str, Any], name: str) -> datetime:
        if "dateTime" in part:
            return parse_time(part["dateTime"], f"{name}.dateTime").astimezone(UTC)
        day = date.fromisoformat(part["date"])
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    return bound(event["start"], "start"), bound(event["end"], "end")


def _check_when(event: dict[str, Any]) -> None:
    for name in ("start", "end"):
        part = event.get(name)
        if not isinstance(part, dict) or not ({"dateTime", "date"} & part.keys()):
            raise bad_request(f"Missing {name} time.", "required")
        if "date" in part:
            try:
                date.fromisoformat(part["date"])
            except (TypeError, ValueError) as exc:
                raise bad_request(f"Invalid value for: {name}.date") from exc
        else:
            parse_time(part["dateTime"], f"{name}.dateTime")
    start, end = event_bounds(event)
    if end <= start:
        raise bad_request("The specified time range is empty.", "timeRangeEmpty")


def _etag(event: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
    return f'"{int(digest[:15], 16)}"'


@dataclass
class Channel:
    """A watch channel on one calendar's events."""

    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str | None
    expiration: datetime
    owner: str
    message_number: int = 0
    stopped: bool = False

    def view(self, base_url: str) -> dict[str, Any]:
        """The Channel resource as ``watch`` answers it."""
        body: dict[str, Any] = {
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": self.resource_uri(base_url),
            "expiration": str(int(self.expiration.timestamp() * 1000)),
        }
        if self.token is not None:
            body["token"] = self.token
        return body

    def resource_uri(self, base_url: str) -> str:
        """What ``X-Goog-Resource-URI`` names."""
        return f"{base_url}/calendar/v3/calendars/{self.calendar_id}/events?alt=json"


@dataclass
class Calendar:
    """One calendar: its events by id and its change sequence."""

    id: str
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_at: dict[str, int] = field(default_factory=dict)
    sequence: int = 0
    token_epoch: int = 0


@dataclass
class Page:
    """A snapshot being paged through."""

    items: list[dict[str, Any]]
    sync_sequence: int | None  # set when the listing may end with a nextSyncToken
    calendar_id: str
    epoch: int


class CalendarStore:
    """Thread-safe calendars, sync tokens, page snapshots and watch channels of one fake."""

    def __init__(self, *, clock: Clock = utc_now) -> None:
        self.clock = clock
        self._lock = threading.RLock()
        self._calendars: dict[str, Calendar] = {}
        self._pages: dict[str, tuple[Page, int]] = {}
        self._channels: dict[str, Channel] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        """Forget every calendar and channel."""
        with self._lock:
            self._calendars.clear()
            self._pages.clear()
            self._channels.clear()

    # ------------------------------------------------------------------ helpers

    def _calendar(self, calendar_id: str) -> Calendar:
        calendar = self._calendars.get(calendar_id)
        if calendar is None:
            calendar = self._calendars[calendar_id] = Calendar(calendar_id)
        return calendar

    def _touch(self, calendar: Calendar, event: dict[str, Any], *, bump: bool = True) -> None:
        calendar.sequence += 1
        calendar.changed_at[event["id"]] = calendar.sequence
        now = self.clock()
        event["updated"] = rfc3339(now)
        if bump:
            event["sequence"] = int(event.get("sequence", 0)) + 1
        event.pop("etag", None)
        event["etag"] = _etag(event)

    def _new_id(self) -> str:
        return base64.b32hexencode(secrets.token_bytes(10)).decode().lower().rstrip("=")

    # ------------------------------------------------------------------ events

    def insert(self, calendar_id: str, body: dict[str, Any], owner: str) -> dict[str, Any]:
        """``events.insert``: a new event (409 ``duplicate`` for an id already used)."""
        with self._lock:
            calendar = self._calendar(calendar_id)
            event_id = body.get("id")
            if event_id is None:
                event_id = self._new_id()
            elif not isinstance(event_id, str) or not EVENT_ID.match(event_id):
                raise bad_request("Invalid resource id value.", "invalid")
            if event_id in calendar.events:
                raise GoogleError(409, "duplicate", "The requested identifier already exists.")
            _check_when(body)
            now = rfc3339(self.clock())
            event: dict[str, Any] = {
                k: copy.deepcopy(v) for k, v in body.items() if k not in _READ_ONLY
            }
            event.update(
                kind="calendar#event",
                id=event_id,
                status=body.get("status") or "confirmed",
                htmlLink=f"https://www.google.com/calendar/event?eid={event_id}",
                created=now,
                creator={"email": owner},
                organizer={"email": calendar_id if calendar_id != "primary" else owner},
                iCalUID=f"{event_id}@google.com",
                sequence=0,
                reminders=body.get("reminders") or {"useDefault": True},
            )
            for attendee in event.get("attendees", []) or []:
                attendee.setdefault("responseStatus", "needsAction")
            self._touch(calendar, event, bump=False)
            calendar.events[event_id] = event
            return copy.deepcopy(event)

    def get(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """``events.get`` (a deleted event comes back with ``status: cancelled``)."""
        with self._lock:
            event = self._calendar(calendar_id).events.get(event_id)
            if event is None:
                raise not_found()
            return copy.deepcopy(event)

    def update(
        self,
        calendar_id: str,
        event_id: str,
        body: dict[str, Any],
        *,
        patch: bool,
        if_match: str | None = None,
    ) -> dict[str, Any]:
        """``events.update`` (``patch=False``: the body replaces the event) or ``events.patch``
        (merged; a ``null`` private extended property is removed). ``If-Match`` must equal the
        current etag (412 ``conditionNotMet``)."""
        with self._lock:
            calendar = self._calendar(calendar_id)
            current = calendar.events.get(event_id)
            if current is None:
                raise not_found()
            if if_match is not None and if_match != current["etag"]:
                raise GoogleError(412, "conditionNotMet", "Precondition Failed", "global")
            given = {k: copy.deepcopy(v) for k, v in body.items() if k not in _READ_ONLY | {"id"}}
            if patch:
                event = copy.deepcopy(current)
                for key, value in given.items():
                    if key == "extendedProperties" and isinstance(value, dict):
                        props = event.setdefault("extendedProperties", {})
                        for scope, values in value.items():
                            merged = {**props.get(scope, {}), **(values or {})}
                            props[scope] = {k: v for k, v in merged.items() if v is not None}
                    elif value is None:
                        event.pop(key, None)
                    else:
                        event[key] = value
            else:
                event = {k: current[k] for k in _READ_ONLY | {"id", "sequence"} if k in current}
                event.update(given)
                event.setdefault("status", "confirmed")
                event.setdefault("reminders", {"useDefault": True})
            _check_when(event)
            self._touch(calendar, event)
            calendar.events[event_id] = event
            return copy.deepcopy(event)

    def delete(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """``events.delete``: the event stays as ``cancelled`` (410 ``deleted`` the second
        time)."""
        with self._lock:
            calendar = self._calendar(calendar_id)
            event = calendar.events.get(event_id)
            if event is None:
                raise not_found()
            if event["status"] == "cancelled":
                raise GoogleError(410, "deleted", "Resource has been deleted")
            event["status"] = "cancelled"
            self._touch(calendar, event)
            return copy.deepcopy(event)

    # ------------------------------------------------------------------ listing and sync

    def _matches(
        self,
        event: dict[str, Any],
        *,
        show_deleted: bool,
        time_min: datetime | None,
        time_max: datetime | None,
        private: Iterable[tuple[str, str]],
    ) -> bool:
        if event["status"] == "cancelled" and not show_deleted:
            return False
        start, end = event_bounds(event)
        if time_min is not None and end <= time_min:
            return False
        if time_max is not None and start >= time_max:
            return False
        props = (event.get("extendedProperties") or {}).get("private") or {}
        return all(props.get(k) == v for k, v in private)

    def list_events(
        self,
        calendar_id: str,
        *,
        max_results: int | None,
        page_token: str | None,
        sync_token: str | None,
        show_deleted: bool,
        time_min: datetime | None,
        time_max: datetime | None,
        private: list[tuple[str, str]],
    ) -> dict[str, Any]:
        """``events.list``: one page, with ``nextPageToken`` or (last page) ``nextSyncToken``."""
        size = min(max_results or DEFAULT_MAX_RESULTS, MAX_RESULTS)
        with self._lock:
            calendar = self._calendar(calendar_id)
            if page_token is not None:
                found = self._pages.get(page_token)
                if found is None or found[0].calendar_id != calendar_id:
                    raise bad_request("Invalid page token value.", "invalid")
                page, offset = found
                if page.epoch != calendar.token_epoch and page.sync_sequence is not None:
                    raise GoogleError(410, "fullSyncRequired", "Sync token is no longer valid")
            else:
                if sync_token is not None:
                    if private or time_min or time_max:
                        raise bad_request(
                            "Sync token cannot be used with other query parameters", "invalid"
                        )
                    since = self._parse_sync_token(calendar, sync_token)
                    items = [
                        e
                        for i, e in calendar.events.items()
                        if calendar.changed_at.get(i, 0) > since
                    ]
                    sync_sequence: int | None = calendar.sequence
                else:
                    items = [
                        e
                        for e in calendar.events.values()
                        if self._matches(
                            e,
                            show_deleted=show_deleted,
                            time_min=time_min,
                            time_max=time_max,
                            private=private,
                        )
                    ]
                    # Google gives no sync token to a listing filtered by property.
                    sync_sequence = None if private else calendar.sequence
                items.sort(key=lambda e: calendar.changed_at.get(e["id"], 0))
                page = Page(
                    [copy.deepcopy(e) for e in items],
                    sync_sequence,
                    calendar_id,
                    calendar.token_epoch,
                )
                offset = 0
            chunk = page.items[offset : offset + size]
            body: dict[str, Any] = {
                "kind": "calendar#events",
                "etag": f'"p{calendar.sequence}"',
                "summary": calendar_id,
                "updated": rfc3339(self.clock()),
                "timeZone": "UTC",
                "accessRole": "owner",
                "defaultReminders": [],
                "items": chunk,
            }
            if offset + size < len(page.items):
                token = f"p{next(self._ids)}{secrets.token_hex(6)}"
                self._pages[token] = (page, offset + size)
                body["nextPageToken"] = token
            elif page.sync_sequence is not None:
                body["nextSyncToken"] = self._sync_token(calendar, page.sync_sequence)
            return body

    def _sync_token(self, calendar: Calendar, sequence: int) -> str:
        raw = json.dumps([calendar.id, calendar.token_epoch, sequence]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _parse_sync_token(self, calendar: Calendar, token: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            calendar_id, epoch, sequence = json.loads(raw)
        except (ValueError, TypeError) as exc:
            raise bad_request("Invalid sync token value.", "invalid") from exc
        if calendar_id != calendar.id:
            raise bad_request("Invalid sync token value.", "invalid")
        if epoch != calendar.token_epoch:
            raise GoogleError(
                410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required."
            )
        return int(sequence)

    def expire_sync_tokens(self, calendar_id: str) -> None:
        """Every sync token (and sync listing being paged) of the calendar answers 410 now."""
        with self._lock:
            self._calendar(calendar_id).token_epoch += 1

    def events(self, calendar_id: str, *, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Every event of a calendar, in change order."""
        with self._lock:
            calendar = self._calendar(calendar_id)
            items = [
                copy.deepcopy(e)
                for e in calendar.events.values()
                if include_deleted or e["status"] != "cancelled"
            ]
            items.sort(key=lambda e: calendar.changed_at.get(e["id"], 0))
            return items

    def calendars(self) -> list[str]:
        """The calendar ids seen so far."""
        with self._lock:
            return list(self._calendars)

    def busy(
        self, calendar_id: str, time_min: datetime, time_max: datetime
    ) -> list[dict[str, str]]:
        """``freeBusy`` periods: opaque, not cancelled, overlapping the window; merged."""
        with self._lock:
            spans = sorted(
                event_bounds(e)
                for e in self._calendar(calendar_id).events.values()
                if e["status"] != "cancelled" and e.get("transparency", "opaque") != "transparent"
            )
        merged: list[list[datetime]] = []
        for start, end in spans:
            start, end = max(start, time_min), min(end, time_max)
            if end <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return [{"start": s.strftime(fmt), "end": e.strftime(fmt)} for s, e in merged]

    # ------------------------------------------------------------------ channels

    def watch(
        self,
        calendar_id: str,
        *,
        channel_id: str,
        address: str,
        token: str | None,
        expiration_ms: int | None,
        owner: str,
        max_ttl: timedelta,
    ) -> Channel:
        """``events.watch``: a new channel (400 if its id is in use)."""
        now = self.clock()
        latest = now + max_ttl
        expiration = latest
        if expiration_ms is not None:
            expiration = min(latest, datetime.fromtimestamp(expiration_ms / 1000, UTC))
        with self._lock:
            existing = self._channels.get(channel_id)
            if existing is not None and not existing.stopped:
                raise bad_request(f"Channel id {channel_id} not unique", "channelIdNotUnique")
            self._calendar(calendar_id)
            channel = Channel(
                id=channel_id,
                resource_id=f"r{self._new_id()}",
                calendar_id=calendar_id,
                address=address,
                token=token,
                expiration=expiration,
                owner=owner,
            )
            self._channels[channel_id] = channel
            return channel

    def stop(self, channel_id: str, resource_id: str) -> None:
        """``channels.stop`` (404 for an unknown channel or resource)."""
        with self._lock:
            channel = self._channels.get(channel_id)
            if channel is None or channel.resource_id != resource_id or channel.stopped:
                raise not_found()
            channel.stopped = True

    def live_channels(self, calendar_id: str) -> list[Channel]:
        """Channels that hear about a change of the calendar now."""
        now = self.clock()
        with self._lock:
            return [
                c
                for c in self._channels.values()
                if c.calendar_id == calendar_id and not c.stopped and c.expiration > now
            ]

    def channels(self) -> list[Channel]:
        """Every channel ever opened."""
        with self._lock:
            return list(self._channels.values())

    def next_message_number(self, channel: Channel) -> int:
        """The channel's next ``X-Goog-Message-Number``."""
        with self._lock:
            channel.message_number += 1
            return channel.message_number


def require_found(value: Any) -> Any:
    """``value`` or 404 ``notFound``."""
    if value is None:
        raise not_found()
    return value


__all__ = ["EVENT_ID", "CalendarStore", "Channel", "GoogleError", "event_bounds", "rfc3339"]

"""Slot search: the bookable starts of a service in a window, remembered between searches.

An answer depends on rows (the service, the specialists giving it, their overrides, time off
and appointments) and on the time now. What is remembered is the part the rows decide — the
starts the schedules and bookings leave open (:func:`open_starts`) — with the versions the rows
were read at (migration 0007 bumps one in every transaction that changes them, whoever writes).
Before a remembered search answers, one small statement reads the versions again; only equal
versions, which mean equal rows, reuse it. The part the time decides is applied to every answer:
the starts are cut to the notice and horizon of the moment of asking, and a remembered search is
not used once a hold it counted has expired (that frees time without any write), nor for a
moment before it was computed.

Clients look at the same calendars again and again (the next week, the same specialist), and a
search computed from scratch costs several times what checking the versions does
(bench/RESULTS.md).
"""

from __future__ import annotations

import bisect
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from booking.adapters.schedules import (
    Fingerprint,
    ServiceSlotRules,
    read_slot_search,
    read_slot_versions,
    slot_policy,
)
from booking.application.catalog import ServiceNotFound, SpecialistNotGiving
from booking.domain.catalog import DurationNotOffered, session_length
from booking.domain.slots import SlotPolicy, open_starts


@dataclass(frozen=True)
class SlotQuery:
    """What a search asks: a service, optionally one specialist, a window and a duration
    (``None``: the service's first)."""

    service_id: uuid.UUID
    specialist_id: uuid.UUID | None
    window_from: datetime
    window_to: datetime
    duration_minutes: int | None


class SearchDurationNotOffered(DurationNotOffered):
    """A search asked for a session length the service does not offer."""


@dataclass
class OpenSlots:
    """What one search found before notice and horizon apply; it answers every search of the
    same query while the rows stay as they were read (see the module's docstring)."""

    service: ServiceSlotRules
    duration_minutes: int
    policy: SlotPolicy
    #: The zones of the specialists found (an answer's default zone when there is one).
    zones: frozenset[str]
    #: The starts in time order (then by specialist), and the specialist of each: two flat
    #: lists rather than a tuple per start, so a full memory adds a few objects, not tens of
    #: thousands, to what the garbage collector walks.
    times: list[datetime]
    specialist_ids: list[uuid.UUID]
    fingerprint: Fingerprint
    read_at: datetime
    #: The earliest expiry of a hold counted as occupying time (``None``: no hold was).
    holds_expire_at: datetime | None
    #: Room for the API to keep what it made of these starts (an answer's bytes by zone).
    rendered: dict[str, tuple[int, int, bytes]] = field(default_factory=dict)

    def usable_at(self, now: datetime) -> bool:
        """Whether the time alone leaves these starts as they were computed."""
        return self.read_at <= now and (self.holds_expire_at is None or now < self.holds_expire_at)

    def bookable(self, now: datetime) -> tuple[int, int]:
        """``times[i:j]`` are the ones bookable at ``now`` (notice and horizon)."""
        first, last = self.policy.bookable_between(now)
        return bisect.bisect_left(self.times, first), bisect.bisect_right(self.times, last)


class SlotCache:
    """Recent searches by query; beyond ``capacity`` the least recently used is forgotten
    (``capacity`` 0: nothing is remembered), and beyond ``max_starts`` starts in all (memory
    grows with them: a 30-day search of a whole team is thousands). One per process, checked
    against the database before every use, so replicas need not agree."""

    def __init__(
        self,
        capacity: int,
        registry: CollectorRegistry | None = None,
        *,
        max_starts: int = 50_000,
    ) -> None:
        self.capacity, self.max_starts = capacity, max_starts
        self._found: OrderedDict[SlotQuery, OpenSlots] = OrderedDict()
        self._starts = 0  # in all remembered searches
        answers = Counter(
            "slot_search_answers",
            "Slot searches answered, by whether a remembered search was still valid",
            ["source"],
            registry=registry,
        )
        self.remembered = answers.labels("remembered")
        self.computed = answers.labels("computed")

    def __len__(self) -> int:
        return len(self._found)

    def get(self, query: SlotQuery) -> OpenSlots | None:
        """The remembered search of ``query`` (unchecked: see :func:`search_open_slots`)."""
        return self._found.get(query)

    @property
    def starts(self) -> int:
        """Starts in all remembered searches."""
        return self._starts

    def put(self, query: SlotQuery, found: OpenSlots) -> None:
        if self.capacity <= 0 or len(found.times) > self.max_starts:
            return
        replaced = self._found.pop(query, None)
        if replaced is not None:
            self._starts -= len(replaced.times)
        self._found[query] = found
        self._starts += len(found.times)
        while len(self._found) > self.capacity or self._starts > self.max_starts:
            _, dropped = self._found.popitem(last=False)
            self._starts -= len(dropped.times)

    # Between get and these, other searches ran (the version check awaits): ``found`` may have
    # been forgotten, or replaced by a newer search, which these then leave alone.
    def forget(self, query: SlotQuery, found: OpenSlots) -> None:
        if self._found.get(query) is found:
            del self._found[query]
            self._starts -= len(found.times)

    def used(self, query: SlotQuery, found: OpenSlots) -> None:
        if self._found.get(query) is found:
            self._found.move_to_end(query)


async def search_open_slots(
    conn: asyncpg.Connection,
    cache: SlotCache,
    query: SlotQuery,
    *,
    now: datetime,
    remember: bool = True,
) -> OpenSlots:
    """The open starts of ``query``: remembered when the rows are still those it was computed
    from and the time allows, else computed (and remembered, unless ``remember`` is false: a
    window that starts now is never asked again).

    Raises :class:`~booking.application.catalog.ServiceNotFound` (no such active service),
    :class:`~booking.application.catalog.SpecialistNotGiving` (the asked specialist does not
    give it) and :class:`SearchDurationNotOffered`.
    """
    known = cache.get(query)
    if known is not None:
        if known.usable_at(now) and (
            await read_slot_versions(conn, query.service_id, query.specialist_id)
            == known.fingerprint
        ):
            cache.used(query, known)
            cache.remembered.inc()
            return known
        cache.forget(query, known)
    found = await _compute(conn, query, now=now)
    if remember:
        cache.put(query, found)
    cache.computed.inc()
    return found


async def _compute(conn: asyncpg.Connection, query: SlotQuery, *, now: datetime) -> OpenSlots:
    window_from, window_to = query.window_from, query.window_to
    inputs = await read_slot_search(
        conn, query.service_id, query.specialist_id, window_from, window_to, now=now
    )
    if inputs is None:
        raise ServiceNotFound()
    service = inputs.service
    duration = session_length(service.durations, query.duration_minutes)
    if duration is None:
        raise SearchDurationNotOffered(service.durations)
    if query.specialist_id is not None and not inputs.specialists:
        raise SpecialistNotGiving()
    policy = slot_policy(service, duration)
    starts: list[tuple[datetime, uuid.UUID]] = []
    for specialist, taken in inputs.specialists:
        found = open_starts(
            taken.schedule, policy, taken.booked, window_from=window_from, window_to=window_to
        )
        starts += [(start, specialist.user_id) for start in found]
    starts.sort()  # by time, then specialist (UUIDs order as their text does)
    expiries = [t.holds_expire_at for _, t in inputs.specialists if t.holds_expire_at]
    return OpenSlots(
        service=service,
        duration_minutes=duration,
        policy=policy,
        zones=frozenset(s.time_zone for s, _ in inputs.specialists),
        times=[time for time, _ in starts],
        specialist_ids=[specialist for _, specialist in starts],
        fingerprint=inputs.fingerprint,
        read_at=now,
        holds_expire_at=min(expiries, default=None),
    )


async def bookable_in_windows(
    conn: asyncpg.Connection,
    cache: SlotCache,
    *,
    service_id: uuid.UUID,
    specialist_id: uuid.UUID | None,
    duration_minutes: int,
    windows: list[tuple[datetime, datetime]],
    now: datetime,
    max_window: timedelta,
    limit: int,
) -> list[tuple[datetime, uuid.UUID]]:
    """The earliest ``limit`` starts bookable now within any of ``windows`` (each cut to now
    and to ``max_window``), with their specialists, in time order."""
    found: set[tuple[datetime, uuid.UUID]] = set()
    for window_from, window_to in windows:
        start = max(window_from, now)
        end = min(window_to, start + max_window)
        if end <= start:
            continue
        query = SlotQuery(service_id, specialist_id, start, end, duration_minutes)
        slots = await search_open_slots(conn, cache, query, now=now, remember=False)
        lo, hi = slots.bookable(now)
        found.update(zip(slots.times[lo:hi], slots.specialist_ids[lo:hi], strict=True))
    return sorted(found)[:limit]

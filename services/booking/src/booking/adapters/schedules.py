"""Reading a specialist's schedule rows into the domain's :class:`Schedule`.

:func:`read_occupancy` is the one read behind slot search, booking, rescheduling and waitlist
matching: for any number of specialists, one prepared asyncpg statement returns the overrides,
time off and occupying appointments around a window (the ORM took five statements and most of a
request's CPU for the same rows; see bench/RESULTS.md).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import asyncpg
from servicekit.http.pagination import keyset_page
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.appointments import intake_required_sql
from booking.adapters.tables import ScheduleOverride
from booking.domain.appointments import OCCUPYING
from booking.domain.schedule import DayOverride, Schedule, WallInterval, parse_wall_time, zone_named
from booking.domain.slots import Booked, SlotPolicy


def wall_intervals(items: Iterable[Mapping[str, Any]]) -> tuple[WallInterval, ...]:
    """``[{"start": "09:00", "end": "13:00"}, …]`` → intervals."""
    return tuple(
        WallInterval(parse_wall_time(i["start"]), parse_wall_time(i["end"])) for i in items
    )


def weekly_hours(items: Iterable[Mapping[str, Any]]) -> dict[int, tuple[WallInterval, ...]]:
    """``[{"weekday": 1, "start": …, "end": …}, …]`` → intervals by ISO weekday."""
    by_day: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for item in items:
        by_day[int(item["weekday"])].append(item)
    return {day: wall_intervals(entries) for day, entries in by_day.items()}


class WorkingHours(Protocol):
    """What a specialist's schedule is built from (a ``specialists`` row or its ORM object)."""

    @property
    def user_id(self) -> uuid.UUID: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def weekly_hours(self) -> list[dict[str, Any]]: ...
    @property
    def daily_cap(self) -> int | None: ...


class SlotRules(Protocol):
    """A service's fields that shape its slots (a ``services`` row or its ORM object)."""

    @property
    def buffer_before_minutes(self) -> int: ...
    @property
    def buffer_after_minutes(self) -> int: ...
    @property
    def min_notice_minutes(self) -> int: ...
    @property
    def horizon_days(self) -> int: ...
    @property
    def slot_step_minutes(self) -> int | None: ...


@dataclass(frozen=True)
class SpecialistHours:
    """A specialist's working-time fields, read without the ORM."""

    user_id: uuid.UUID
    time_zone: str
    weekly_hours: list[dict[str, Any]]
    daily_cap: int | None


@dataclass(frozen=True)
class Occupancy:
    """A specialist's schedule and what occupies their time around a window.

    ``stale_holds`` are the occupied ranges of holds past their expiry whose timer has not fired
    yet: they no longer count (they are not in ``booked``), but a booking that takes their time
    must expire them first, or the exclusion constraint refuses it. ``holds_expire_at``: the
    earliest expiry of a hold still in ``booked`` — from then on, without any write, this
    occupancy no longer holds.
    """

    schedule: Schedule
    booked: list[Booked]
    stale_holds: list[tuple[datetime, datetime]]
    holds_expire_at: datetime | None = None

    def stale_hold_overlaps(self, occupied: tuple[datetime, datetime]) -> bool:
        """Whether a stale hold stands in the way of ``occupied``."""
        return any(f < occupied[1] and occupied[0] < u for f, u in self.stale_holds)


_STATUSES = ", ".join(f"'{s.value}'" for s in sorted(OCCUPYING))


def occupancy_columns(specialist: str, first: int) -> str:
    """The three array columns :func:`occupancy_from_row` reads, for the specialist whose id
    is the SQL expression ``specialist``; their parameters are ``$first`` … ``$first+5`` as
    :func:`occupancy_params` gives them. ``time_off`` holds the busy time imported from the
    specialist's Google Calendar too: it blocks slots exactly as time off does.

    One statement can so carry a specialist's whole schedule beside whatever else it reads
    (slot search and booking each need a single round trip). The appointments condition
    repeats the exclusion constraint's predicate and range, so the planner uses its GiST index
    (specialist =, range &&) whatever the specialist's history.
    """
    d0, d1, lo, hi, now, exclude = (f"${first + i}" for i in range(6))
    return f"""
  ARRAY(SELECT ROW(o.on_date, o.hours, o.daily_cap) FROM schedule_overrides o
        WHERE o.specialist_id = {specialist} AND o.on_date BETWEEN {d0} AND {d1}) AS overrides,
  ARRAY(SELECT ROW(t.starts_at, t.ends_at) FROM time_off t
        WHERE t.specialist_id = {specialist} AND t.starts_at < {hi} AND t.ends_at > {lo}
        UNION ALL
        SELECT ROW(b.starts_at, b.ends_at) FROM calendar_busy b
        WHERE b.specialist_id = {specialist} AND b.starts_at < {hi} AND b.ends_at > {lo})
    AS time_off,
  ARRAY(SELECT ROW(a.starts_at, a.occupied_from, a.occupied_until,
                   a.status = 'held' AND a.hold_expires_at <= {now},
                   CASE WHEN a.status = 'held' THEN a.hold_expires_at END)
        FROM appointments a
        WHERE a.specialist_id = {specialist} AND a.status IN ({_STATUSES})
          AND tstzrange(a.occupied_from, a.occupied_until, '[)')
              && tstzrange({lo}, {hi}, '[)')
          AND a.id IS DISTINCT FROM {exclude}::uuid) AS booked"""


def occupancy_params(
    window_from: datetime, window_to: datetime, now: datetime, exclude: uuid.UUID | None = None
) -> tuple[date, date, datetime, datetime, datetime, uuid.UUID | None]:
    """The parameters of :func:`occupancy_columns` for a window.

    Overrides and time off are read a day beyond the window on each side (a period of the day
    before may run into it), appointments too (a day's cap counts the whole local day). Local
    dates of any zone lie within 14 hours of UTC: two days either side covers them.
    """
    return (
        window_from.date() - timedelta(days=2),
        window_to.date() + timedelta(days=2),
        window_from - timedelta(days=1),
        window_to + timedelta(days=1),
        now,
        exclude,
    )


def occupancy_from_row(specialist: WorkingHours, row: Mapping[str, Any]) -> Occupancy:
    """The :class:`Occupancy` of a row carrying :func:`occupancy_columns`.

    A hold whose expiry has passed no longer counts, even before its timer has fired (it is
    listed in ``stale_holds``: booking expires it in the same transaction that takes its slot).
    """
    schedule = Schedule(
        zone=zone_named(specialist.time_zone),
        weekly=weekly_hours(specialist.weekly_hours),
        overrides={
            on_date: DayOverride(
                hours=None if hours is None else wall_intervals(hours), daily_cap=cap
            )
            for on_date, hours, cap in row["overrides"]
        },
        time_off=[(start, end) for start, end in row["time_off"]],
        daily_cap=specialist.daily_cap,
    )
    booked = [Booked(s, f, u) for s, f, u, stale, _ in row["booked"] if not stale]
    stale_holds = [(f, u) for _, f, u, stale, _ in row["booked"] if stale]
    expiries = [e for *_, stale, e in row["booked"] if e is not None and not stale]
    return Occupancy(schedule, booked, stale_holds, min(expiries, default=None))


OCCUPANCY_SQL = f"""
SELECT sp.user_id, {occupancy_columns("sp.user_id", 2)}
FROM unnest($1::uuid[]) AS sp(user_id)
"""


async def read_occupancy(
    conn: asyncpg.Connection,
    specialists: Sequence[WorkingHours],
    window_from: datetime,
    window_to: datetime,
    *,
    now: datetime,
    exclude: uuid.UUID | None = None,
) -> dict[uuid.UUID, Occupancy]:
    """Each specialist's schedule and bookings that touch ``[window_from, window_to)``;
    ``exclude`` leaves out the appointment being moved (a reschedule)."""
    if not specialists:
        return {}
    rows = await conn.fetch(
        OCCUPANCY_SQL,
        [s.user_id for s in specialists],
        *occupancy_params(window_from, window_to, now, exclude),
    )
    by_id = {row["user_id"]: row for row in rows}
    return {s.user_id: occupancy_from_row(s, by_id[s.user_id]) for s in specialists}


@dataclass(frozen=True)
class ServiceSlotRules:
    """A service's fields that slot search needs, read without the ORM."""

    id: uuid.UUID
    durations: list[int]
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    horizon_days: int
    slot_step_minutes: int | None


def columns(shape: type[Any], alias: str) -> str:
    """``alias.field, …`` for a dataclass's fields in order: the SELECT list it is built from."""
    return ", ".join(f"{alias}.{f.name}" for f in fields(shape))


_SERVICE_RULES, _HOURS = len(fields(ServiceSlotRules)), len(fields(SpecialistHours))

# An active service ($1) and the active specialists giving it (only $2, when it is not null),
# with the versions of both (see migration 0007: every write to what slot search reads bumps
# one in the same transaction).
_SERVICE_AND_SPECIALISTS = """
FROM services s
LEFT JOIN specialists sp
  ON sp.active AND sp.service_ids @> ARRAY[s.id] AND ($2::uuid IS NULL OR sp.user_id = $2)
WHERE s.id = $1 AND s.active
ORDER BY sp.user_id"""
_VERSIONS = """(SELECT v.version FROM slot_versions v WHERE v.key = s.id) AS service_version,
       (SELECT v.version FROM slot_versions v WHERE v.key = sp.user_id) AS specialist_version"""

SLOT_SEARCH_SQL = f"""
SELECT {columns(ServiceSlotRules, "s")}, {columns(SpecialistHours, "sp")},
       {occupancy_columns("sp.user_id", 3)},
       {_VERSIONS}
{_SERVICE_AND_SPECIALISTS}
"""
SLOT_VERSIONS_SQL = f"""
SELECT sp.user_id, {_VERSIONS}
{_SERVICE_AND_SPECIALISTS}
"""

#: The versions of a service and its specialists, as :func:`read_slot_versions` gives them:
#: equal fingerprints mean slot search would read the very same rows.
Fingerprint = tuple[tuple[uuid.UUID | None, int | None, int | None], ...]


def _fingerprint(rows: Sequence[Mapping[str, Any]]) -> Fingerprint:
    return tuple((r["user_id"], r["service_version"], r["specialist_version"]) for r in rows)


async def read_slot_versions(
    conn: asyncpg.Connection, service_id: uuid.UUID, only: uuid.UUID | None
) -> Fingerprint:
    """The fingerprint slot search's rows would have now (empty: no such active service)."""
    return _fingerprint(await conn.fetch(SLOT_VERSIONS_SQL, service_id, only))


@dataclass(frozen=True)
class SlotSearchInputs:
    """What slot search reads: the service's rules, each specialist giving it with their
    schedule and bookings around the window, and the versions they were read at."""

    service: ServiceSlotRules
    specialists: list[tuple[SpecialistHours, Occupancy]]
    fingerprint: Fingerprint


async def read_slot_search(
    conn: asyncpg.Connection,
    service_id: uuid.UUID,
    only: uuid.UUID | None,
    window_from: datetime,
    window_to: datetime,
    *,
    now: datetime,
) -> SlotSearchInputs | None:
    """In one statement: an active service, the active specialists who give it (optionally
    just ``only``), by id, and their occupancy; ``None`` when there is no such service."""
    rows = await conn.fetch(
        SLOT_SEARCH_SQL, service_id, only, *occupancy_params(window_from, window_to, now)
    )
    if not rows:
        return None
    service = ServiceSlotRules(*rows[0][:_SERVICE_RULES])
    specialists = []
    for row in rows:
        if row["user_id"] is not None:
            hours = SpecialistHours(*row[_SERVICE_RULES : _SERVICE_RULES + _HOURS])
            specialists.append((hours, occupancy_from_row(hours, row)))
    return SlotSearchInputs(service, specialists, _fingerprint(rows))


def slot_policy(service: SlotRules, duration_minutes: int) -> SlotPolicy:
    """The slot rules of a service for one of its durations."""
    return SlotPolicy(
        duration=timedelta(minutes=duration_minutes),
        buffer_before=timedelta(minutes=service.buffer_before_minutes),
        buffer_after=timedelta(minutes=service.buffer_after_minutes),
        min_notice=timedelta(minutes=service.min_notice_minutes),
        horizon=timedelta(days=service.horizon_days),
        step=None
        if service.slot_step_minutes is None
        else timedelta(minutes=service.slot_step_minutes),
    )


@dataclass(frozen=True)
class ServiceTerms(ServiceSlotRules):
    """A service's fields that a booking copies or obeys, read without the ORM."""

    name: str
    price_amount: int
    format: str
    prepayment_required: bool
    cancellation_tiers: list[dict[str, int]]
    reschedule_min_notice_minutes: int
    max_reschedules: int


@dataclass(frozen=True)
class SpecialistTerms(SpecialistHours):
    """A specialist's fields that a booking copies, read without the ORM."""

    display_name: str


@dataclass(frozen=True)
class BookingContext:
    """Everything a new booking checks, read in one statement (see :func:`read_booking_context`).

    ``service`` is ``None`` when there is no active such service, ``specialist`` when that
    specialist does not (actively) give it. ``offers_near``: open waitlist offers of the
    specialist within a day of the start (the booking then withdraws the overlapping ones).
    ``intake_required``: the client's first session with the specialist and no form yet
    (:func:`booking.adapters.appointments.intake_required_sql`).
    ``client_verified``: cabinet told booking the client's email is verified.
    """

    service: ServiceTerms | None
    specialist: SpecialistTerms | None
    occupancy: Occupancy | None
    offers_near: bool
    intake_required: bool
    client_verified: bool = False


_SERVICE_TERMS, _SPECIALIST_TERMS = len(fields(ServiceTerms)), len(fields(SpecialistTerms))
BOOKING_CONTEXT_SQL = f"""
SELECT {columns(ServiceTerms, "s")}, {columns(SpecialistTerms, "sp")},
       {occupancy_columns("sp.user_id", 5)},
       EXISTS(SELECT 1 FROM waitlist_offers w
              WHERE w.specialist_id = sp.user_id AND w.status = 'open'
                AND w.starts_at < $4::timestamptz + interval '1 day'
                AND w.ends_at > $4::timestamptz - interval '1 day')
         AS offers_near,
       {intake_required_sql("$3", "sp.user_id")} AS intake_required,
       COALESCE((SELECT c.email_verified FROM clients c WHERE c.user_id = $3), false)
         AS client_verified
FROM services s
LEFT JOIN specialists sp
  ON sp.user_id = $2 AND sp.active AND sp.service_ids @> ARRAY[s.id]
WHERE s.id = $1 AND s.active
"""


async def read_booking_context(
    conn: asyncpg.Connection,
    *,
    service_id: uuid.UUID,
    specialist_id: uuid.UUID,
    client_id: uuid.UUID,
    starts_at: datetime,
    now: datetime,
) -> BookingContext:
    """The service, the specialist, their occupancy around ``starts_at`` (any session of the
    service fits in the half day either side), nearby open offers and whether the client owes
    an intake form — a booking's reads in one round trip."""
    row = await conn.fetchrow(
        BOOKING_CONTEXT_SQL,
        service_id,
        specialist_id,
        client_id,
        starts_at,
        *occupancy_params(starts_at - timedelta(hours=12), starts_at + timedelta(hours=12), now),
    )
    if row is None:
        return BookingContext(None, None, None, False, False)
    service = ServiceTerms(*row[:_SERVICE_TERMS])
    verified = bool(row["client_verified"])
    if row["user_id"] is None:
        return BookingContext(service, None, None, False, False, verified)
    specialist = SpecialistTerms(*row[_SERVICE_TERMS : _SERVICE_TERMS + _SPECIALIST_TERMS])
    return BookingContext(
        service,
        specialist,
        occupancy_from_row(specialist, row),
        bool(row["offers_near"]),
        bool(row["intake_required"]),
        verified,
    )


async def overrides_page(
    session: AsyncSession,
    specialist_id: uuid.UUID,
    *,
    first: date | None,
    last: date | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ScheduleOverride], str | None]:
    """A page of a specialist's date overrides between ``first`` and ``last`` (both
    included), by date (servicekit's one keyset pagination; the cursor holds the last date)."""
    query = select(ScheduleOverride).where(ScheduleOverride.specialist_id == specialist_id)
    if first is not None:
        query = query.where(col(ScheduleOverride.on_date) >= first)
    if last is not None:
        query = query.where(col(ScheduleOverride.on_date) <= last)
    return await keyset_page(
        session,
        query,
        order=col(ScheduleOverride.on_date),
        tiebreak=col(ScheduleOverride.specialist_id),  # one specialist: the date decides
        limit=limit,
        cursor=cursor,
    )

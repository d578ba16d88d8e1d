"""Slot search: the start times a client may book, and why one start time may not be booked.

A session ``[start, start + duration)`` *occupies* ``[start - buffer_before, end + buffer_after)``.
Two sessions of one specialist may not occupy overlapping time, so the gap between them is at
least the earlier one's buffer after plus the later one's buffer before: both neighbours' buffers
count. The database's exclusion constraint on ``appointments`` enforces exactly this rule; the
search only avoids offering what the database would refuse.

A start time is offered when it lies on the grid of a working period (period start + k × step),
the session fits inside that period, it does not touch time off, its occupied range is free, the
local day is under its cap, and ``now + min_notice <= start <= now + horizon`` (both edges
included).
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from servicekit.errors import DomainError

from booking.domain.schedule import Schedule


class Unavailable(StrEnum):
    """Why a start time cannot be booked (the API's problem ``code``)."""

    NOTICE_TOO_SHORT = "notice_too_short"
    BEYOND_HORIZON = "beyond_horizon"
    OUTSIDE_WORKING_HOURS = "outside_working_hours"
    TIME_OFF = "time_off"
    DAY_FULL = "day_full"
    SLOT_TAKEN = "slot_taken"


@dataclass(frozen=True)
class SlotPolicy:
    """The service's booking rules that shape slots."""

    duration: timedelta
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(minutes=10)
    min_notice: timedelta = timedelta(hours=12)
    horizon: timedelta = timedelta(days=60)
    step: timedelta | None = None  # None: the session length

    @property
    def grid(self) -> timedelta:
        """Distance between offered start times."""
        return self.step or self.duration

    def bookable_between(self, now: datetime) -> tuple[datetime, datetime]:
        """The first and the last start time bookable at ``now`` (both included)."""
        return now + self.min_notice, now + self.horizon

    def occupied(self, start: datetime) -> tuple[datetime, datetime]:
        """The time a session starting at ``start`` takes, buffers included."""
        return start - self.buffer_before, start + self.duration + self.buffer_after


@dataclass(frozen=True)
class Booked:
    """An appointment that occupies the specialist's time (held, confirmed, or past)."""

    starts_at: datetime
    occupied_from: datetime
    occupied_until: datetime


class _Busy:
    """Occupied ranges sorted for overlap queries."""

    def __init__(self, ranges: Iterable[tuple[datetime, datetime]]) -> None:
        self.ranges = sorted(ranges)
        self.starts = [r[0] for r in self.ranges]
        # Longest range, so a query need only look back that far.
        self.longest = max((u - f for f, u in self.ranges), default=timedelta(0))

    def overlaps(self, start: datetime, end: datetime) -> bool:
        lo = bisect.bisect_left(self.starts, start - self.longest)
        hi = bisect.bisect_left(self.starts, end)
        return any(self.ranges[i][1] > start for i in range(lo, hi))


@dataclass
class _Context:
    schedule: Schedule
    policy: SlotPolicy
    now: datetime
    busy: _Busy
    time_off: _Busy
    per_day: Counter[date]

    @classmethod
    def build(
        cls, schedule: Schedule, policy: SlotPolicy, booked: Sequence[Booked], now: datetime
    ) -> _Context:
        return cls(
            schedule,
            policy,
            now,
            _Busy((b.occupied_from, b.occupied_until) for b in booked),
            _Busy(schedule.time_off),
            Counter(schedule.local_date(b.starts_at) for b in booked),
        )

    def reject(self, start: datetime, period_end: datetime) -> Unavailable | None:
        """Why ``start`` (already on the grid of a period ending at ``period_end``) is refused."""
        policy = self.policy
        end = start + policy.duration
        if start < self.now + policy.min_notice:
            return Unavailable.NOTICE_TOO_SHORT
        if start > self.now + policy.horizon:
            return Unavailable.BEYOND_HORIZON
        if end > period_end:
            return Unavailable.OUTSIDE_WORKING_HOURS
        if self.time_off.overlaps(start, end):
            return Unavailable.TIME_OFF
        cap = self.schedule.cap_on(self.schedule.local_date(start))
        if cap is not None and self.per_day[self.schedule.local_date(start)] >= cap:
            return Unavailable.DAY_FULL
        if self.busy.overlaps(*policy.occupied(start)):
            return Unavailable.SLOT_TAKEN
        return None


def _days(schedule: Schedule, start: datetime, end: datetime) -> Iterable[date]:
    # A period of the previous local day may run past midnight into the window (24:00 ends).
    day = schedule.local_date(start) - timedelta(days=1)
    last = schedule.local_date(end)
    while day <= last:
        yield day
        day += timedelta(days=1)


def find_slots(
    schedule: Schedule,
    policy: SlotPolicy,
    booked: Sequence[Booked],
    *,
    now: datetime,
    window_from: datetime,
    window_to: datetime,
) -> list[datetime]:
    """Bookable start times (UTC) with ``window_from <= start < window_to``, in order."""
    first, last = policy.bookable_between(now)
    return _sweep(
        schedule,
        policy,
        booked,
        max(window_from, first),
        min(window_to, last + timedelta(microseconds=1)),
    )


def open_starts(
    schedule: Schedule,
    policy: SlotPolicy,
    booked: Sequence[Booked],
    *,
    window_from: datetime,
    window_to: datetime,
) -> list[datetime]:
    """The start times with ``window_from <= start < window_to`` that the schedule and the
    bookings leave open, whatever the time now: :func:`find_slots` is exactly these, cut to
    :meth:`SlotPolicy.bookable_between` (notice and horizon only bound the grid's sweep)."""
    return _sweep(schedule, policy, booked, window_from, window_to)


def _sweep(
    schedule: Schedule,
    policy: SlotPolicy,
    booked: Sequence[Booked],
    earliest: datetime,
    latest: datetime,
) -> list[datetime]:
    # In UTC's own tzinfo: comparing datetimes of one tzinfo object skips the offset lookups
    # (a request's times carry pydantic's tzinfo, which doubled this function's time).
    earliest, latest = earliest.astimezone(UTC), latest.astimezone(UTC)
    if earliest >= latest:
        return []
    grid, duration = policy.grid, policy.duration
    before, after = policy.buffer_before, policy.duration + policy.buffer_after
    # The rules of `_Context.reject` turned around, so one sweep answers every candidate: a
    # start s is refused when it lies strictly inside a "forbidden" interval — (f - after,
    # u + before) for each booked range [f, u) (the buffers of both neighbours), (f - duration,
    # u) for each time off [f, u). Notice and horizon are the loop's bounds, the period's end
    # its condition, a capped day is skipped whole (a start in a period of `day` lies on `day`).
    forbidden = _merged(
        [(b.occupied_from - after, b.occupied_until + before) for b in booked]
        + [(f - duration, u) for f, u in schedule.time_off]
    )
    lows, n = [lo for lo, _ in forbidden], len(forbidden)
    per_day = Counter(schedule.local_date(b.starts_at) for b in booked)
    found: list[datetime] = []
    for day in _days(schedule, earliest, latest):
        cap = schedule.cap_on(day)
        if cap is not None and per_day[day] >= cap:
            continue
        for period_start, period_end in schedule.periods_on(day):
            if period_end <= earliest or period_start >= latest:
                continue
            # Jump to the first grid point at or after `earliest`.
            skip = max(0, -(-(earliest - period_start) // grid))
            start = period_start + skip * grid
            last = period_end - duration  # the session must end inside the period
            i = max(0, bisect.bisect_left(lows, start) - 1)
            while start < latest and start <= last:
                while i < n and forbidden[i][1] <= start:
                    i += 1
                if i == n or not forbidden[i][0] < start:
                    found.append(start)
                start += grid
    # Periods come in time order, so the starts do too — unless a day's periods overlap (the
    # API refuses such hours; the search must not depend on it): then sort, drop the repeats.
    if any(a >= b for a, b in itertools.pairwise(found)):
        return sorted(set(found))
    return found


def _merged(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Open intervals merged where they overlap (touching ones stay apart: the point between
    two open intervals is in neither), sorted."""
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(intervals):
        if out and lo < out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def check_slot(
    schedule: Schedule,
    policy: SlotPolicy,
    booked: Sequence[Booked],
    *,
    now: datetime,
    start: datetime,
) -> Unavailable | None:
    """``None`` when ``start`` may be booked now; otherwise the first reason it may not.

    ``booked`` must leave out the appointment being moved, for a reschedule.
    """
    ctx = _Context.build(schedule, policy, booked, now)
    day = schedule.local_date(start)
    reasons: list[Unavailable] = []
    for candidate_day in (day - timedelta(days=1), day):
        for period_start, period_end in schedule.periods_on(candidate_day):
            if period_start <= start < period_end and (start - period_start) % policy.grid == (
                timedelta(0)
            ):
                reason = ctx.reject(start, period_end)
                if reason is None:
                    return None
                reasons.append(reason)
    if reasons:
        return reasons[0]
    # Off the grid or outside every period: the time rules still come first for a clear answer.
    if start < now + policy.min_notice:
        return Unavailable.NOTICE_TOO_SHORT
    if start > now + policy.horizon:
        return Unavailable.BEYOND_HORIZON
    return Unavailable.OUTSIDE_WORKING_HOURS


class NoticeTooShort(DomainError):
    """The start is closer than the service's notice."""

    code = "notice_too_short"


class BeyondHorizon(DomainError):
    """The start is further ahead than the service's horizon."""

    code = "beyond_horizon"


class OutsideWorkingHours(DomainError):
    """The specialist does not offer this start."""

    code = "outside_working_hours"


class DuringTimeOff(DomainError):
    """The specialist is off then."""

    code = "time_off"


class DayFull(DomainError):
    """The specialist's day has reached its cap."""

    code = "day_full"


class SlotTaken(DomainError):
    """Another appointment occupies the time."""

    code = "slot_taken"


def ensure_bookable(
    schedule: Schedule,
    policy: SlotPolicy,
    booked: Sequence[Booked],
    *,
    now: datetime,
    start: datetime,
) -> None:
    """:func:`check_slot`, raising the refusal of a start that may not be booked (one error
    class per :class:`Unavailable` reason)."""
    match check_slot(schedule, policy, booked, now=now, start=start):
        case None:
            return
        case Unavailable.NOTICE_TOO_SHORT:
            raise NoticeTooShort()
        case Unavailable.BEYOND_HORIZON:
            raise BeyondHorizon()
        case Unavailable.OUTSIDE_WORKING_HOURS:
            raise OutsideWorkingHours()
        case Unavailable.TIME_OFF:
            raise DuringTimeOff()
        case Unavailable.DAY_FULL:
            raise DayFull()
        case Unavailable.SLOT_TAKEN:
            raise SlotTaken()

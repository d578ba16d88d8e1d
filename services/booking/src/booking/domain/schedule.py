"""A specialist's working time: weekly hours and date overrides in their IANA zone, time off.

Working hours are wall-clock times in the specialist's zone (``09:00``–``18:00`` stays 09:00–18:00
local on both sides of a DST change, so its UTC instants move). A wall time that does not exist
(the spring-forward gap) is read with the offset before the change, i.e. as the same distance
past the gap; an ambiguous one (autumn) as its first occurrence. Periods are then measured in real
elapsed time, so a night shift across a change is an hour shorter or longer, as it really is.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
MINUTES_PER_DAY = 24 * 60


def parse_wall_time(text: str) -> int:
    """``"09:30"`` → 570 minutes after midnight; ``"24:00"`` (end of day) → 1440."""
    if not _HHMM.match(text):
        raise ValueError(f"{text!r} is not a HH:MM time (00:00–24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def format_wall_time(minutes: int) -> str:
    """Inverse of :func:`parse_wall_time`."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` when the name is not one."""
    if not name or "\\" in name or name.startswith("/") or ".." in name:
        raise ValueError(f"{name!r} is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc


@dataclass(frozen=True, order=True)
class WallInterval:
    """Working time on one local day, in minutes after local midnight (end exclusive)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError("a working interval must start before it ends, within the day")


@functools.lru_cache(maxsize=8192)
def _periods(
    zone: ZoneInfo, day: date, hours: tuple[WallInterval, ...]
) -> tuple[tuple[datetime, datetime], ...]:
    # Pure in its arguments, and the same few (zone, day, hours) come up in search after
    # search: converting wall times to instants was a fifth of slot search's own work.
    schedule = Schedule(zone=zone, weekly={})
    periods = []
    for interval in sorted(hours):
        start, end = schedule.instant(day, interval.start), schedule.instant(day, interval.end)
        if start < end:
            periods.append((start, end))
    return tuple(periods)


def check_disjoint(intervals: Sequence[WallInterval]) -> None:
    """``ValueError`` when intervals of one day overlap."""
    ordered = sorted(intervals)
    for left, right in itertools.pairwise(ordered):
        if right.start < left.end:
            raise ValueError("working intervals of one day overlap")


@dataclass(frozen=True)
class DayOverride:
    """A date that does not follow the weekly hours: other hours (``()`` = day off), another cap."""

    hours: tuple[WallInterval, ...] | None = None  # None: the weekly hours apply
    daily_cap: int | None = None


@dataclass(frozen=True)
class Schedule:
    """Everything about a specialist's time that slot search needs."""

    zone: ZoneInfo
    weekly: Mapping[int, Sequence[WallInterval]]  # ISO weekday 1 (Monday) … 7 (Sunday)
    overrides: Mapping[date, DayOverride] = field(default_factory=dict)
    time_off: Sequence[tuple[datetime, datetime]] = ()  # UTC, end exclusive
    daily_cap: int | None = None

    def hours_on(self, day: date) -> Sequence[WallInterval]:
        """The working intervals of a local date."""
        override = self.overrides.get(day)
        if override is not None and override.hours is not None:
            return override.hours
        return self.weekly.get(day.isoweekday(), ())

    def cap_on(self, day: date) -> int | None:
        """The most sessions the specialist takes on a local date (None: no cap)."""
        override = self.overrides.get(day)
        if override is not None and override.daily_cap is not None:
            return override.daily_cap
        return self.daily_cap

    def instant(self, day: date, minutes: int) -> datetime:
        """The UTC instant of a wall time on a local date (see the module doc for gaps/folds)."""
        if minutes == MINUTES_PER_DAY:
            day, minutes = day + timedelta(days=1), 0
        local = datetime(
            day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=self.zone
        )
        return local.astimezone(UTC)

    def periods_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Working periods of a local date as UTC instants (empty ones dropped)."""
        return _periods(self.zone, day, tuple(self.hours_on(day)))

    def local_date(self, instant: datetime) -> date:
        """The specialist's calendar date at ``instant``."""
        return instant.astimezone(self.zone).date()

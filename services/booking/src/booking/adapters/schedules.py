"""Reading a specialist's schedule rows into the domain's :class:`Schedule`."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import ScheduleOverride, ServiceOffering, Specialist, TimeOff
from booking.domain.schedule import DayOverride, Schedule, WallInterval, parse_wall_time, zone_named
from booking.domain.slots import SlotPolicy


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


async def load_schedule(
    session: AsyncSession, specialist: Specialist, window_from: datetime, window_to: datetime
) -> Schedule:
    """The specialist's schedule with the overrides and time off that touch the window."""
    zone = zone_named(specialist.time_zone)
    first: date = window_from.astimezone(zone).date() - timedelta(days=1)
    last: date = window_to.astimezone(zone).date() + timedelta(days=1)
    overrides = (
        await session.exec(
            select(ScheduleOverride).where(
                ScheduleOverride.specialist_id == specialist.user_id,
                col(ScheduleOverride.on_date) >= first,
                col(ScheduleOverride.on_date) <= last,
            )
        )
    ).all()
    time_off = (
        await session.exec(
            select(TimeOff.starts_at, TimeOff.ends_at).where(
                TimeOff.specialist_id == specialist.user_id,
                col(TimeOff.starts_at) < window_to + timedelta(days=1),
                col(TimeOff.ends_at) > window_from - timedelta(days=1),
            )
        )
    ).all()
    return Schedule(
        zone=zone,
        weekly=weekly_hours(specialist.weekly_hours),
        overrides={
            o.on_date: DayOverride(
                hours=None if o.hours is None else wall_intervals(o.hours), daily_cap=o.daily_cap
            )
            for o in overrides
        },
        time_off=[(start, end) for start, end in time_off],
        daily_cap=specialist.daily_cap,
    )


async def specialists_giving(
    session: AsyncSession, service_id: uuid.UUID, only: uuid.UUID | None = None
) -> Sequence[Specialist]:
    """Active specialists who give a service (optionally just one of them)."""
    query = select(Specialist).where(
        col(Specialist.active).is_(True), col(Specialist.service_ids).contains([service_id])
    )
    if only is not None:
        query = query.where(Specialist.user_id == only)
    return (await session.exec(query.order_by(col(Specialist.user_id)))).all()


def slot_policy(service: ServiceOffering, duration_minutes: int) -> SlotPolicy:
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

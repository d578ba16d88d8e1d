"""``GET /api/booking/slots``: bookable start times of a service, in UTC and in the asked zone."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.problems import NotFound, Problem
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.appointments import booked_for
from booking.adapters.schedules import load_schedule, slot_policy, specialists_giving
from booking.adapters.tables import ServiceOffering, Specialist
from booking.api.common import SettingsDep
from booking.domain.schedule import zone_named
from booking.domain.slots import find_slots

router = APIRouter(prefix="/slots", tags=["slots"])


class Slot(BaseModel):
    """A bookable start: UTC (``Z``) and the same instants in the asked zone."""

    specialist_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    local_starts_at: datetime
    local_ends_at: datetime


class SlotList(BaseModel):
    """Bookable starts in a window, in time order. The window bounds the list (no more pages)."""

    service_id: uuid.UUID
    duration_minutes: int
    time_zone: str
    window_from: datetime
    window_to: datetime
    items: list[Slot]
    next_cursor: str | None = None


def _bad_query(name: str, message: str) -> Problem:
    return Problem(
        "The request does not match the expected shape.",
        status=422,
        code="validation_failed",
        title="Invalid request",
        errors=[{"loc": ["query", name], "msg": message, "type": "value_error"}],
    )


async def search(
    session: AsyncSession,
    service: ServiceOffering,
    specialists: list[Specialist],
    duration: int,
    *,
    now: datetime,
    window_from: datetime,
    window_to: datetime,
) -> list[tuple[Specialist, datetime]]:
    """Bookable (specialist, start) pairs in the window, ordered by start then specialist."""
    policy = slot_policy(service, duration)
    found: list[tuple[Specialist, datetime]] = []
    for specialist in specialists:
        schedule = await load_schedule(session, specialist, window_from, window_to)
        booked = await booked_for(session, specialist.user_id, window_from, window_to, now=now)
        starts = find_slots(
            schedule, policy, booked, now=now, window_from=window_from, window_to=window_to
        )
        found += [(specialist, start) for start in starts]
    found.sort(key=lambda pair: (pair[1], str(pair[0].user_id)))
    return found


@router.get("", response_model=SlotList, summary="Bookable start times (anyone)")
async def list_slots(
    uow: UowDep,
    now: NowDep,
    settings: SettingsDep,
    service_id: uuid.UUID,
    specialist_id: uuid.UUID | None = None,
    window_from: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    window_to: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    tz: Annotated[str | None, Query(description="IANA zone to render in")] = None,
    duration_minutes: int | None = None,
) -> SlotList:
    start = window_from or now
    end = window_to or start + timedelta(days=7)
    if end <= start:
        raise _bad_query("to", "must be after from")
    if end - start > timedelta(days=settings.max_slot_window_days):
        raise _bad_query("to", f"the window may span at most {settings.max_slot_window_days} days")
    zone = None
    if tz is not None:
        try:
            zone = zone_named(tz)
        except ValueError as exc:
            raise _bad_query("tz", str(exc)) from None
    service = await uow.session.get(ServiceOffering, service_id)
    if service is None or not service.active:
        raise NotFound("No such service.")
    duration = duration_minutes or service.durations[0]
    if duration not in service.durations:
        raise _bad_query("duration_minutes", f"the service lasts one of {service.durations}")
    specialists = list(await specialists_giving(uow.session, service.id, specialist_id))
    if specialist_id is not None and not specialists:
        raise NotFound("No such specialist gives this service.")
    if zone is None:
        names = {s.time_zone for s in specialists}
        zone = zone_named(names.pop() if len(names) == 1 else "UTC")
    found = await search(
        uow.session,
        service,
        specialists,
        duration,
        now=now,
        window_from=start,
        window_to=end,
    )
    length = timedelta(minutes=duration)
    return SlotList(
        service_id=service.id,
        duration_minutes=duration,
        time_zone=zone.key,
        window_from=start.astimezone(zone),
        window_to=end.astimezone(zone),
        items=[
            Slot(
                specialist_id=specialist.user_id,
                starts_at=slot_start,
                ends_at=slot_start + length,
                local_starts_at=slot_start.astimezone(zone),
                local_ends_at=(slot_start + length).astimezone(zone),
            )
            for specialist, slot_start in found
        ],
    )

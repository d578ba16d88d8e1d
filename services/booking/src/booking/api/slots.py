"""``GET /api/booking/slots``: bookable start times of a service, in UTC and in the asked zone."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from servicekit.db.driver import read_connection
from servicekit.http.deps import get_runtime, query_model, query_parameters
from servicekit.http.inputs import Instant, SafeText
from servicekit.http.problems import Msg, Problem, validation_failed
from servicekit.http.responses import problem_responses

from booking.api.common import part_of
from booking.application.slot_search import OpenSlots, SlotCache, SlotQuery, search_open_slots
from booking.config import BookingSettings
from booking.domain.schedule import zone_named

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


def _bad_query(name: str, message: Msg) -> Problem:
    return validation_failed([{"loc": ["query", name], "msg": message, "type": "value_error"}])


def _iso(moment: datetime) -> str:
    # As pydantic writes an aware datetime: ISO 8601, ``Z`` for a zero offset.
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


@functools.lru_cache(maxsize=16384)
def _item(specialist: uuid.UUID, start: datetime, length: timedelta, zone: ZoneInfo) -> str:
    end = start + length
    return (
        f'{{"specialist_id":"{specialist}","starts_at":"{_iso(start)}","ends_at":"{_iso(end)}",'
        f'"local_starts_at":"{_iso(start.astimezone(zone))}",'
        f'"local_ends_at":"{_iso(end.astimezone(zone))}"}}'
    )


class SlotSearchParams(BaseModel):
    """The query of ``GET /slots``."""

    service_id: uuid.UUID
    specialist_id: uuid.UUID | None = Field(
        default=None, description="Only this specialist (default: all who give the service)"
    )
    window_from: Instant | None = Field(
        default=None, alias="from", description="Window start (default: now)"
    )
    window_to: Instant | None = Field(
        default=None, alias="to", description="Window end (default: 7 days after the start)"
    )
    tz: SafeText | None = Field(
        default=None,
        max_length=64,
        description="IANA zone to render in (default: the specialists' own)",
    )
    duration_minutes: int | None = Field(
        default=None,
        ge=5,
        le=12 * 60,
        description="One of the service's durations (default: its first)",
    )


@router.get(
    "",
    response_model=SlotList,
    summary="Bookable start times (anyone)",
    openapi_extra=query_parameters(SlotSearchParams),
    responses=problem_responses(404),
)
async def list_slots(
    request: Request,
    params: Annotated[SlotSearchParams, Depends(query_model(SlotSearchParams))],
) -> Response:
    # The runtime's parts straight from it, not as four dependencies: FastAPI spent a quarter
    # of a remembered search's CPU resolving those (bench/booking.py).
    runtime = await get_runtime(request)
    now = runtime.clock()
    settings = part_of(runtime, "settings", BookingSettings)
    cache = part_of(runtime, "slot_cache", SlotCache)
    service_id, specialist_id, tz = params.service_id, params.specialist_id, params.tz
    window_from, window_to, duration_minutes = (
        params.window_from,
        params.window_to,
        params.duration_minutes,
    )
    start = window_from or now  # UTC, in UTC's own tzinfo: the cheap one for arithmetic
    end = window_to or start + timedelta(days=7)
    if end <= start:
        raise _bad_query("to", Msg(ru="Конец должен быть позже начала.", en="must be after from"))
    if end - start > timedelta(days=settings.max_slot_window_days):
        days = settings.max_slot_window_days
        raise _bad_query(
            "to",
            Msg(
                ru=f"Окно поиска — не больше {days} дней.",
                en=f"the window may span at most {days} days",
            ),
        )
    zone = None
    if tz is not None:
        try:
            zone = zone_named(tz)
        except ValueError as exc:
            raise _bad_query(
                "tz", Msg(ru=f"Неизвестный часовой пояс: {tz}.", en=str(exc))
            ) from None
    query = SlotQuery(service_id, specialist_id, start, end, duration_minutes)
    async with read_connection(runtime.engine) as conn:
        found = await search_open_slots(
            conn, cache, query, now=now, remember=window_from is not None
        )
    if zone is None:
        zone = zone_named(next(iter(found.zones)) if len(found.zones) == 1 else "UTC")
    lo, hi = found.bookable(now)
    kept = found.rendered.get(zone.key)
    if kept is not None and kept[:2] == (lo, hi):
        body = kept[2]
    else:  # kept per zone, for the latest cut by notice and horizon only
        body = _render(found, zone, start, end, lo, hi)
        if kept is None and len(found.rendered) >= 2:
            found.rendered.clear()
        found.rendered[zone.key] = (lo, hi, body)
    return Response(body, media_type="application/json")


def _render(
    found: OpenSlots, zone: ZoneInfo, start: datetime, end: datetime, lo: int, hi: int
) -> bytes:
    # Written directly in SlotList's shape: validating and serialising 200+ response models
    # cost more CPU than finding the slots, and formatting datetimes most of the rest, so each
    # item's text is cached (slot starts repeat from search to search).
    length = timedelta(minutes=found.duration_minutes)
    head = json.dumps(
        {
            "service_id": str(found.service.id),
            "duration_minutes": found.duration_minutes,
            "time_zone": zone.key,
            "window_from": _iso(start.astimezone(zone)),
            "window_to": _iso(end.astimezone(zone)),
            "next_cursor": None,
        },
        separators=(",", ":"),
    )
    items = ",".join(
        _item(specialist, slot_start, length, zone)
        for specialist, slot_start in zip(
            found.specialist_ids[lo:hi], found.times[lo:hi], strict=True
        )
    )
    return f'{head[:-1]},"items":[{items}]}}'.encode()

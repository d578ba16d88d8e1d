"""``/api/booking/specialists``: who gives which services, when they work, when they are off.

This is the one public catalogue of specialists: the profile cabinet announces (name, bio,
photo), the services given, the schedule's zone and hours. Anyone reads active specialists and
their overrides (an inactive one — e.g. no longer holding the specialist role — only they and
admins see); time off (its reasons are private) is read by the specialist and admins. An admin
creates a specialist for a cabinet user holding the specialist role (or cabinet's first profile
of them does); an admin or the specialist changes it. A specialist gives only their own services
and shared ones.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, Field, field_validator, model_validator
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import Instant, SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery, Page, keyset_page
from servicekit.http.problems import Msg, NotFound, get_or_404
from servicekit.http.responses import problem_responses
from sqlmodel import col, select

from booking.adapters.schedules import overrides_page
from booking.adapters.tables import ScheduleOverride, Specialist, TimeOff
from booking.api.common import (
    AdminPrincipal,
    OptionalPrincipal,
    StaffPrincipal,
    check_if_match,
    dump_changes,
    ensure_manages,
    etag,
    is_admin,
)
from booking.application import catalog, schedules
from booking.domain.schedule import (
    WallInterval,
    check_disjoint,
    parse_wall_time,
    zone_named,
)

router = APIRouter(prefix="/specialists", tags=["specialists"])


class HoursIO(BaseModel):
    """Working time on a local day, ``"09:00"``–``"18:00"`` (``"24:00"`` ends at midnight)."""

    start: SafeText = Field(max_length=5, examples=["09:00"])
    end: SafeText = Field(max_length=5, examples=["18:00"])

    @model_validator(mode="after")
    def _ordered(self) -> HoursIO:
        self.interval()
        return self

    def interval(self) -> WallInterval:
        """The domain interval."""
        return WallInterval(parse_wall_time(self.start), parse_wall_time(self.end))


class WeeklyHoursIO(HoursIO):
    """Working time on a weekday (ISO: 1 Monday … 7 Sunday) in the specialist's zone."""

    weekday: Annotated[int, Field(ge=1, le=7)]


def _zone(value: str | None) -> str | None:
    if value is not None:
        zone_named(value)
    return value


def _weekly(value: list[WeeklyHoursIO] | None) -> list[WeeklyHoursIO] | None:
    if value is not None:
        for day in range(1, 8):
            check_disjoint([h.interval() for h in value if h.weekday == day])
    return value


def _distinct(value: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
    return None if value is None else list(dict.fromkeys(value))


class SpecialistCreate(BaseModel):
    """A new specialist record (an admin creates it for a cabinet user)."""

    user_id: uuid.UUID = Field(
        description="The specialist's cabinet user id; they must hold the specialist role"
    )
    display_name: SafeText | None = Field(
        default=None, min_length=1, max_length=200, description="Default: the user's name"
    )
    bio: SafeText | None = Field(default=None, max_length=4000)
    time_zone: SafeText = Field(
        default="Europe/Moscow", max_length=64, description="IANA zone of the schedule"
    )
    weekly_hours: list[WeeklyHoursIO] = Field(default_factory=list, max_length=70)
    daily_cap: Annotated[int, Field(ge=1, le=50)] | None = None
    service_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    active: bool = True

    _zone = field_validator("time_zone")(_zone)
    _weekly = field_validator("weekly_hours")(_weekly)
    _distinct = field_validator("service_ids")(_distinct)


class SpecialistUpdate(BaseModel):
    """Changes to a specialist (only the fields sent change; ``daily_cap: null`` removes it)."""

    display_name: SafeText | None = Field(default=None, min_length=1, max_length=200)
    bio: SafeText | None = Field(default=None, max_length=4000)
    time_zone: SafeText | None = Field(default=None, max_length=64)
    weekly_hours: list[WeeklyHoursIO] | None = Field(default=None, max_length=70)
    daily_cap: Annotated[int, Field(ge=1, le=50)] | None = None
    service_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)
    active: bool | None = None

    _zone = field_validator("time_zone")(_zone)
    _weekly = field_validator("weekly_hours")(_weekly)
    _distinct = field_validator("service_ids")(_distinct)


class SpecialistPublic(BaseModel):
    """A specialist as anyone sees them."""

    user_id: uuid.UUID
    display_name: str
    bio: str | None
    photo_url: str | None
    time_zone: str
    weekly_hours: list[WeeklyHoursIO]
    daily_cap: int | None
    service_ids: list[uuid.UUID]
    active: bool
    created_at: datetime
    updated_at: datetime
    version: int


def to_public(row: Specialist) -> SpecialistPublic:
    """The public view of a row."""
    return SpecialistPublic(
        user_id=row.user_id,
        display_name=row.display_name,
        bio=row.bio,
        photo_url=row.photo_url,
        time_zone=row.time_zone,
        weekly_hours=[WeeklyHoursIO.model_validate(h) for h in row.weekly_hours],
        daily_cap=row.daily_cap,
        service_ids=list(row.service_ids),
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _hours_json(hours: list[WeeklyHoursIO]) -> list[dict[str, object]]:
    ordered = sorted(hours, key=lambda h: (h.weekday, parse_wall_time(h.start)))
    return [{"weekday": h.weekday, "start": h.start, "end": h.end} for h in ordered]


_NO_SPECIALIST = Msg(ru="Такого специалиста нет.", en="No such specialist.")


async def load_specialist(uow: UowDep, specialist_id: uuid.UUID) -> Specialist:
    """The specialist, or 404."""
    row = await get_or_404(uow.session, Specialist, specialist_id, _NO_SPECIALIST)
    return row


@router.get("", response_model=Page[SpecialistPublic], summary="List specialists (anyone)")
async def list_specialists(
    uow: UowDep,
    principal: OptionalPrincipal,
    service_id: uuid.UUID | None = Query(default=None, description="who give this service"),
    include_inactive: bool = Query(default=False, description="admins only"),
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[SpecialistPublic]:
    query = select(Specialist)
    if not (include_inactive and is_admin(principal)):
        query = query.where(col(Specialist.active).is_(True))
    if service_id is not None:
        query = query.where(col(Specialist.service_ids).contains([service_id]))
    rows, next_cursor = await keyset_page(
        uow.session,
        query,
        order=col(Specialist.created_at),
        tiebreak=col(Specialist.user_id),
        limit=limit,
        cursor=cursor,
    )
    return Page[SpecialistPublic](items=[to_public(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{specialist_id}",
    response_model=SpecialistPublic,
    summary="One specialist (anyone)",
    responses=problem_responses(404),
)
async def get_specialist(
    specialist_id: uuid.UUID, uow: UowDep, response: Response, principal: OptionalPrincipal
) -> SpecialistPublic:
    row = await load_specialist(uow, specialist_id)
    if not row.active and not (
        is_admin(principal) or (principal is not None and principal.user_id == row.user_id)
    ):
        raise NotFound(_NO_SPECIALIST)
    response.headers.update(etag(row.version))
    return to_public(row)


@router.post(
    "",
    response_model=SpecialistPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a specialist record for a cabinet user holding the specialist role (admin)",
    responses=problem_responses(
        409,
        422,
        descriptions={
            409: "specialist_exists",
            422: "validation_failed, unknown_user, not_a_specialist, foreign_service",
        },
    ),
)
async def create_specialist(
    body: SpecialistCreate,
    uow: UowDep,
    now: NowDep,
    response: Response,
    _admin: AdminPrincipal,
) -> SpecialistPublic:
    row = await catalog.create_specialist(
        uow,
        user_id=body.user_id,
        display_name=body.display_name,
        service_ids=body.service_ids,
        fields={
            "bio": body.bio,
            "time_zone": body.time_zone,
            "weekly_hours": _hours_json(body.weekly_hours),
            "daily_cap": body.daily_cap,
            "active": body.active,
        },
        now=now,
    )
    await uow.commit()
    response.headers.update(etag(row.version))
    response.headers["Location"] = f"/api/booking/specialists/{row.user_id}"
    return to_public(row)


@router.patch(
    "/{specialist_id}",
    response_model=SpecialistPublic,
    summary="Change a specialist (admin or the specialist); If-Match: the version you read",
    responses=problem_responses(
        404,
        412,
        422,
        descriptions={422: "validation_failed, not_a_specialist, foreign_service"},
    ),
)
async def update_specialist(
    specialist_id: uuid.UUID,
    body: SpecialistUpdate,
    uow: UowDep,
    now: NowDep,
    response: Response,
    principal: StaffPrincipal,
    if_match: Annotated[SafeText | None, Header(max_length=100)] = None,
) -> SpecialistPublic:
    ensure_manages(principal, specialist_id)
    row = await load_specialist(uow, specialist_id)
    check_if_match(if_match, row.version)
    changes = dump_changes(body)
    if body.weekly_hours is not None:
        changes["weekly_hours"] = _hours_json(body.weekly_hours)
    await catalog.update_specialist(uow, row, changes, now=now)
    await uow.commit()
    response.headers.update(etag(row.version))
    return to_public(row)


# -- date overrides -------------------------------------------------------------------------


class OverrideIO(BaseModel):
    """Other hours on one local date (``[]``: day off; ``null``: the weekly hours), another cap."""

    hours: list[HoursIO] | None = Field(default=None, max_length=10)
    daily_cap: Annotated[int, Field(ge=0, le=50)] | None = None
    note: SafeText | None = Field(default=None, max_length=500)

    @field_validator("hours")
    @classmethod
    def _disjoint(cls, value: list[HoursIO] | None) -> list[HoursIO] | None:
        if value is not None:
            check_disjoint([h.interval() for h in value])
        return value


class OverridePublic(OverrideIO):
    """A date override."""

    specialist_id: uuid.UUID
    date: date


def _override_public(row: ScheduleOverride) -> OverridePublic:
    return OverridePublic(
        specialist_id=row.specialist_id,
        date=row.on_date,
        hours=None if row.hours is None else [HoursIO.model_validate(h) for h in row.hours],
        daily_cap=row.daily_cap,
        note=row.note,
    )


@router.get(
    "/{specialist_id}/overrides",
    response_model=Page[OverridePublic],
    summary="Date overrides from a date on (anyone)",
    responses=problem_responses(404),
)
async def list_overrides(
    specialist_id: uuid.UUID,
    uow: UowDep,
    from_date: Annotated[date | None, Query(alias="from")] = None,
    to_date: Annotated[date | None, Query(alias="to")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[OverridePublic]:
    await load_specialist(uow, specialist_id)
    rows, next_cursor = await overrides_page(
        uow.session, specialist_id, first=from_date, last=to_date, limit=limit, cursor=cursor
    )
    return Page[OverridePublic](items=[_override_public(r) for r in rows], next_cursor=next_cursor)


@router.put(
    "/{specialist_id}/overrides/{on_date}",
    response_model=OverridePublic,
    summary="Set the hours or cap of one local date (admin or the specialist)",
    responses=problem_responses(404),
)
async def put_override(
    specialist_id: uuid.UUID,
    on_date: date,
    body: OverrideIO,
    uow: UowDep,
    principal: StaffPrincipal,
) -> OverridePublic:
    ensure_manages(principal, specialist_id)
    await load_specialist(uow, specialist_id)
    row = await schedules.set_override(
        uow,
        specialist_id,
        on_date,
        hours=None if body.hours is None else [h.model_dump() for h in body.hours],
        daily_cap=body.daily_cap,
        note=body.note,
    )
    await uow.commit()
    return _override_public(row)


@router.delete(
    "/{specialist_id}/overrides/{on_date}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Back to the weekly hours on that date (admin or the specialist)",
    responses=problem_responses(404),
)
async def delete_override(
    specialist_id: uuid.UUID, on_date: date, uow: UowDep, principal: StaffPrincipal
) -> Response:
    ensure_manages(principal, specialist_id)
    await schedules.remove_override(uow, specialist_id, on_date)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- time off -------------------------------------------------------------------------------


class TimeOffCreate(BaseModel):
    """A span the specialist does not work."""

    starts_at: Instant
    ends_at: Instant
    reason: SafeText | None = Field(default=None, max_length=500, description="Private; encrypted")

    @model_validator(mode="after")
    def _ordered(self) -> TimeOffCreate:
        if self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self


class TimeOffPublic(BaseModel):
    """Time off as the specialist and admins see it."""

    id: uuid.UUID
    specialist_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_at: datetime


def _time_off_public(row: TimeOff) -> TimeOffPublic:
    return TimeOffPublic.model_validate(row, from_attributes=True)


@router.get(
    "/{specialist_id}/time-off",
    response_model=Page[TimeOffPublic],
    summary="Time off (admin or the specialist)",
)
async def list_time_off(
    specialist_id: uuid.UUID,
    uow: UowDep,
    principal: StaffPrincipal,
    ending_after: Instant | None = Query(default=None),
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[TimeOffPublic]:
    ensure_manages(principal, specialist_id)
    query = select(TimeOff).where(TimeOff.specialist_id == specialist_id)
    if ending_after is not None:
        query = query.where(col(TimeOff.ends_at) > ending_after)
    rows, next_cursor = await keyset_page(
        uow.session,
        query,
        order=col(TimeOff.starts_at),
        tiebreak=col(TimeOff.id),
        limit=limit,
        cursor=cursor,
    )
    return Page[TimeOffPublic](items=[_time_off_public(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/{specialist_id}/time-off",
    response_model=TimeOffPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add time off (admin or the specialist)",
    responses=problem_responses(404),
)
async def add_time_off(
    specialist_id: uuid.UUID,
    body: TimeOffCreate,
    uow: UowDep,
    now: NowDep,
    principal: StaffPrincipal,
) -> TimeOffPublic:
    ensure_manages(principal, specialist_id)
    await load_specialist(uow, specialist_id)
    row = await schedules.add_time_off(
        uow,
        specialist_id,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        reason=body.reason,
        now=now,
    )
    await uow.commit()
    return _time_off_public(row)


@router.delete(
    "/{specialist_id}/time-off/{time_off_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove time off (admin or the specialist)",
    responses=problem_responses(404),
)
async def delete_time_off(
    specialist_id: uuid.UUID, time_off_id: uuid.UUID, uow: UowDep, principal: StaffPrincipal
) -> Response:
    ensure_manages(principal, specialist_id)
    await schedules.remove_time_off(uow, specialist_id, time_off_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

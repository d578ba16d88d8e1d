"""``/api/booking/waitlist``: join, read and leave the waitlist; accept an offered slot."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from servicekit.db.driver import read_connection
from servicekit.http.deps import NowDep, RuntimeDep, UowDep
from servicekit.http.inputs import Instant
from servicekit.http.pagination import CursorQuery, LimitQuery, Page, keyset_page
from servicekit.http.problems import Msg, NotFound
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, require_roles
from servicekit.security.jwt import Principal
from sqlmodel import col, select

from booking.adapters.tables import WaitlistEntry, WaitlistOffer
from booking.api.answers import AppointmentPublic, booked
from booking.api.common import (
    GatewayDep,
    IdempotencyKeyHeader,
    IdempotentRequest,
    PracticeDep,
    SettingsDep,
    SlotCacheDep,
)
from booking.application import bookings, waitlist
from booking.application.slot_search import bookable_in_windows

router = APIRouter(prefix="/waitlist", tags=["waitlist"])

_NO_ENTRY = Msg(ru="Такой заявки в листе ожидания нет.", en="No such waitlist entry.")

ClientPrincipal = Annotated[Principal, Depends(require_roles("client"))]


class WindowIO(BaseModel):
    """A span in which the client could come."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    starts: Instant = Field(alias="from")
    ends: Instant = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> WindowIO:
        if self.starts >= self.ends:
            raise ValueError("from must be before to")
        return self


class WaitlistEntryCreate(BaseModel):
    """Wait for a service (with one specialist, or any who gives it) within windows."""

    model_config = ConfigDict(extra="forbid")

    service_id: uuid.UUID
    specialist_id: uuid.UUID | None = Field(default=None, description="null: any specialist")
    windows: list[WindowIO] = Field(min_length=1, max_length=20)
    duration_minutes: Annotated[int, Field(ge=5, le=720)] | None = None


class OfferPublic(BaseModel):
    """A slot offered to the client until ``expires_at``."""

    id: uuid.UUID
    entry_id: uuid.UUID
    service_id: uuid.UUID
    specialist_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    expires_at: datetime
    appointment_id: uuid.UUID | None


class WaitlistEntryPublic(BaseModel):
    """A waitlist entry as its client sees it."""

    id: uuid.UUID
    client_id: uuid.UUID
    service_id: uuid.UUID
    specialist_id: uuid.UUID | None
    duration_minutes: int
    windows: list[dict[Literal["from", "to"], datetime]]
    status: str
    created_at: datetime


FREE_SLOTS_SHOWN = 20


class FreeSlot(BaseModel):
    """A start that can be booked right now."""

    starts_at: datetime
    specialist_id: uuid.UUID


class WaitlistEntryJoined(WaitlistEntryPublic):
    """A new waitlist entry, and what is free within its windows already."""

    free_slots: list[FreeSlot] = Field(
        description=f"Up to {FREE_SLOTS_SHOWN} starts bookable now within the windows, earliest "
        "first: book one (POST /appointments) instead of waiting. Empty when nothing is free."
    )


def _entry(row: WaitlistEntry) -> WaitlistEntryPublic:
    return WaitlistEntryPublic(
        id=row.id,
        client_id=row.client_id,
        service_id=row.service_id,
        specialist_id=row.specialist_id,
        duration_minutes=row.duration_minutes,
        windows=[
            {"from": datetime.fromisoformat(a), "to": datetime.fromisoformat(b)}
            for a, b in row.windows
        ],
        status=row.status,
        created_at=row.created_at,
    )


def _offer(row: WaitlistOffer) -> OfferPublic:
    return OfferPublic(
        id=row.id,
        entry_id=row.entry_id,
        service_id=row.service_id,
        specialist_id=row.specialist_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        status=row.status,
        expires_at=row.expires_at,
        appointment_id=row.appointment_id,
    )


@router.post(
    "",
    response_model=WaitlistEntryJoined,
    status_code=status.HTTP_201_CREATED,
    summary="Join the waitlist (client); the answer lists what is free in the windows already",
    responses=problem_responses(404),
)
async def join_waitlist(
    body: WaitlistEntryCreate,
    uow: UowDep,
    now: NowDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
    cache: SlotCacheDep,
    principal: ClientPrincipal,
) -> WaitlistEntryJoined:
    row = await waitlist.join(
        uow,
        client_id=principal.user_id,
        service_id=body.service_id,
        specialist_id=body.specialist_id,
        windows=[(w.starts, w.ends) for w in body.windows],
        duration_minutes=body.duration_minutes,
        now=now,
    )
    await uow.commit()
    async with read_connection(runtime.engine) as conn:
        free = await bookable_in_windows(
            conn,
            cache,
            service_id=row.service_id,
            specialist_id=row.specialist_id,
            duration_minutes=row.duration_minutes,
            windows=[(w.starts, w.ends) for w in body.windows],
            now=now,
            max_window=timedelta(days=settings.max_slot_window_days),
            limit=FREE_SLOTS_SHOWN,
        )
    return WaitlistEntryJoined(
        **_entry(row).model_dump(),
        free_slots=[FreeSlot(starts_at=start, specialist_id=who) for start, who in free],
    )


@router.get("", response_model=Page[WaitlistEntryPublic], summary="My waitlist entries")
async def my_entries(
    uow: UowDep, principal: CurrentPrincipal, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[WaitlistEntryPublic]:
    query = select(WaitlistEntry).where(WaitlistEntry.client_id == principal.user_id)
    rows, next_cursor = await keyset_page(
        uow.session,
        query,
        order=col(WaitlistEntry.created_at),
        tiebreak=col(WaitlistEntry.id),
        limit=limit,
        cursor=cursor,
    )
    return Page[WaitlistEntryPublic](items=[_entry(r) for r in rows], next_cursor=next_cursor)


@router.get("/offers", response_model=Page[OfferPublic], summary="Offers made to me")
async def my_offers(
    uow: UowDep,
    principal: CurrentPrincipal,
    only_open: bool = True,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[OfferPublic]:
    query = select(WaitlistOffer).where(WaitlistOffer.client_id == principal.user_id)
    if only_open:
        query = query.where(WaitlistOffer.status == "open")
    rows, next_cursor = await keyset_page(
        uow.session,
        query,
        order=col(WaitlistOffer.created_at),
        tiebreak=col(WaitlistOffer.id),
        limit=limit,
        cursor=cursor,
    )
    return Page[OfferPublic](items=[_offer(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/offers/{offer_id}/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentPublic,
    summary="Take an offered slot (its client); the first acceptance wins",
    responses=problem_responses(404, 409),
)
async def accept_offer(
    offer_id: uuid.UUID,
    uow: UowDep,
    now: NowDep,
    settings: SettingsDep,
    practice: PracticeDep,
    gateway: GatewayDep,
    principal: ClientPrincipal,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    guard = IdempotentRequest(
        uow, principal, idempotency_key, f"waitlist.accept:{offer_id}", {}, settings, now
    )
    if (replay := await guard.replay()) is not None:
        return replay
    appointment, payment = await bookings.accept_offer(
        uow, practice, offer_id, client_id=principal.user_id, now=now
    )
    return await booked(uow, gateway, guard, appointment, payment, now=now)


@router.get(
    "/{entry_id}",
    response_model=WaitlistEntryPublic,
    summary="One of my entries",
    responses=problem_responses(404),
)
async def get_entry(
    entry_id: uuid.UUID, uow: UowDep, principal: CurrentPrincipal
) -> WaitlistEntryPublic:
    row = await uow.session.get(WaitlistEntry, entry_id)
    if row is None or row.client_id != principal.user_id:
        raise NotFound(_NO_ENTRY)
    return _entry(row)


@router.delete(
    "/{entry_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Leave the waitlist",
    responses=problem_responses(404),
)
async def leave_waitlist(
    entry_id: uuid.UUID,
    uow: UowDep,
    now: NowDep,
    practice: PracticeDep,
    principal: CurrentPrincipal,
) -> Response:
    row = await uow.session.get(WaitlistEntry, entry_id, with_for_update=True)
    if row is None or row.client_id != principal.user_id:
        raise NotFound(_NO_ENTRY)
    await waitlist.leave(uow, practice, row, now)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""``/api/booking/services``: the catalog. Anyone reads; an admin or the owning specialist
writes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel, Field, field_validator, model_validator
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery, Page, keyset_page
from servicekit.http.problems import Msg, get_or_404
from servicekit.http.responses import problem_responses
from sqlmodel import col, or_, select

from booking.adapters.tables import ServiceOffering, Specialist
from booking.api.common import (
    MoneyIO,
    OptionalPrincipal,
    StaffPrincipal,
    check_if_match,
    dump_changes,
    ensure_manages,
    etag,
    is_admin,
    money,
)
from booking.application import catalog
from booking.domain.catalog import PrepaymentOfFreeService, check_prepayment
from booking.domain.policies import DEFAULT_TIERS, CancellationTier, check_tiers

router = APIRouter(prefix="/services", tags=["catalog"])

Minutes = Annotated[int, Field(ge=0, le=60 * 24 * 30)]
Duration = Annotated[int, Field(ge=5, le=12 * 60)]


class TierIO(BaseModel):
    """Cancelling at least ``min_notice_minutes`` before the start refunds ``refund_percent``."""

    min_notice_minutes: Annotated[int, Field(ge=0, le=60 * 24 * 365)]
    refund_percent: Annotated[int, Field(ge=0, le=100)]


DEFAULT_TIERS_IO = [
    TierIO(
        min_notice_minutes=int(t.min_notice.total_seconds() // 60), refund_percent=t.refund_percent
    )
    for t in DEFAULT_TIERS
]


def _check_tiers(tiers: list[TierIO] | None) -> list[TierIO] | None:
    if tiers is not None:
        check_tiers(
            [
                CancellationTier(timedelta(minutes=t.min_notice_minutes), t.refund_percent)
                for t in tiers
            ]
        )
    return tiers


def _check_durations(durations: list[int] | None) -> list[int] | None:
    if durations is not None and len(set(durations)) != len(durations):
        raise ValueError("durations must be distinct")
    return durations


class ServiceFields(BaseModel):
    """Fields every write may set (``ServiceCreate`` gives defaults, ``ServiceUpdate`` none)."""

    name: SafeText = Field(min_length=1, max_length=128)
    description: SafeText = Field(default="", max_length=4000)
    durations_minutes: list[Duration] = Field(min_length=1, max_length=10)
    price: MoneyIO
    format: Literal["online", "in_person"]
    buffer_before_minutes: Annotated[int, Field(ge=0, le=240)] = 0
    buffer_after_minutes: Annotated[int, Field(ge=0, le=240)] = 10
    min_notice_minutes: Minutes = 12 * 60
    horizon_days: Annotated[int, Field(ge=1, le=365)] = 60
    slot_step_minutes: Annotated[int, Field(ge=5, le=12 * 60)] | None = Field(
        default=None, description="Distance between start times; null: the session length"
    )
    prepayment_required: bool = False
    cancellation_tiers: list[TierIO] = Field(
        default_factory=lambda: list(DEFAULT_TIERS_IO), max_length=10
    )
    reschedule_min_notice_minutes: Minutes = 24 * 60
    max_reschedules: Annotated[int, Field(ge=0, le=20)] = 2
    active: bool = True


class ServiceCreate(ServiceFields):
    """A new service offering. A specialist who creates one owns it and gives it."""

    _durations = field_validator("durations_minutes")(_check_durations)
    _tiers = field_validator("cancellation_tiers")(_check_tiers)

    @model_validator(mode="after")
    def _prepayment_needs_price(self) -> ServiceCreate:
        try:
            check_prepayment(
                price_amount=self.price.amount, prepayment_required=self.prepayment_required
            )
        except PrepaymentOfFreeService as exc:
            raise ValueError(str(exc)) from None
        return self


class ServiceUpdate(BaseModel):
    """Changes to a service (only the fields sent change)."""

    name: SafeText | None = Field(default=None, min_length=1, max_length=128)
    description: SafeText | None = Field(default=None, max_length=4000)
    durations_minutes: list[Duration] | None = Field(default=None, min_length=1, max_length=10)
    price: MoneyIO | None = None
    format: Literal["online", "in_person"] | None = None
    buffer_before_minutes: Annotated[int, Field(ge=0, le=240)] | None = None
    buffer_after_minutes: Annotated[int, Field(ge=0, le=240)] | None = None
    min_notice_minutes: Minutes | None = None
    horizon_days: Annotated[int, Field(ge=1, le=365)] | None = None
    slot_step_minutes: Annotated[int, Field(ge=5, le=12 * 60)] | None = None
    prepayment_required: bool | None = None
    cancellation_tiers: list[TierIO] | None = Field(default=None, max_length=10)
    reschedule_min_notice_minutes: Minutes | None = None
    max_reschedules: Annotated[int, Field(ge=0, le=20)] | None = None
    active: bool | None = None

    _durations = field_validator("durations_minutes")(_check_durations)
    _tiers = field_validator("cancellation_tiers")(_check_tiers)


class ServicePublic(ServiceFields):
    """A service offering as anyone sees it."""

    id: uuid.UUID
    owner_specialist_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int


def to_public(row: ServiceOffering) -> ServicePublic:
    """The public view of a row."""
    return ServicePublic(
        id=row.id,
        name=row.name,
        description=row.description,
        durations_minutes=list(row.durations),
        price=money(row.price_amount),
        format=row.format,
        buffer_before_minutes=row.buffer_before_minutes,
        buffer_after_minutes=row.buffer_after_minutes,
        min_notice_minutes=row.min_notice_minutes,
        horizon_days=row.horizon_days,
        slot_step_minutes=row.slot_step_minutes,
        prepayment_required=row.prepayment_required,
        cancellation_tiers=[TierIO.model_validate(t) for t in row.cancellation_tiers],
        reschedule_min_notice_minutes=row.reschedule_min_notice_minutes,
        max_reschedules=row.max_reschedules,
        active=row.active,
        owner_specialist_id=row.owner_specialist_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """A request's fields as the columns of a service (durations, price in kopecks)."""
    columns = dict(fields)
    if "durations_minutes" in columns:
        columns["durations"] = list(columns.pop("durations_minutes"))
    if "price" in columns:
        columns["price_amount"] = columns.pop("price")["amount"]
    if "cancellation_tiers" in columns:
        columns["cancellation_tiers"] = list(columns["cancellation_tiers"])
    return columns


async def load_service(uow: UowDep, service_id: uuid.UUID) -> ServiceOffering:
    """The service, or 404."""
    row = await get_or_404(
        uow.session, ServiceOffering, service_id, Msg(ru="Такой услуги нет.", en="No such service.")
    )
    return row


@router.get("", response_model=Page[ServicePublic], summary="List services (anyone)")
async def list_services(
    uow: UowDep,
    principal: OptionalPrincipal,
    specialist_id: uuid.UUID | None = Query(default=None, description="given by this specialist"),
    include_inactive: bool = Query(default=False, description="admins and owners only"),
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ServicePublic]:
    query = select(ServiceOffering)
    if not include_inactive:
        query = query.where(col(ServiceOffering.active).is_(True))
    elif not is_admin(principal):
        # Everyone sees active services; an owner also sees their own inactive ones.
        owner = principal.user_id if principal is not None else None
        query = query.where(
            or_(
                col(ServiceOffering.active).is_(True),
                col(ServiceOffering.owner_specialist_id) == owner,
            )
        )
    if specialist_id is not None:
        specialist = await uow.session.get(Specialist, specialist_id)
        given = list(specialist.service_ids) if specialist is not None else []
        query = query.where(col(ServiceOffering.id).in_(given))
    rows, next_cursor = await keyset_page(
        uow.session,
        query,
        order=col(ServiceOffering.created_at),
        tiebreak=col(ServiceOffering.id),
        limit=limit,
        cursor=cursor,
    )
    return Page[ServicePublic](items=[to_public(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/{service_id}",
    response_model=ServicePublic,
    summary="One service (anyone)",
    responses=problem_responses(404),
)
async def get_service(service_id: uuid.UUID, uow: UowDep, response: Response) -> ServicePublic:
    row = await load_service(uow, service_id)
    response.headers.update(etag(row.version))
    return to_public(row)


@router.post(
    "",
    response_model=ServicePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a service (admin or specialist)",
)
async def create_service(
    body: ServiceCreate,
    uow: UowDep,
    now: NowDep,
    response: Response,
    principal: StaffPrincipal,
) -> ServicePublic:
    row = await catalog.create_service(
        uow,
        _columns(body.model_dump()),
        created_by=principal.user_id,
        by_admin=principal.has_role("admin"),
        now=now,
    )
    await uow.commit()
    response.headers.update(etag(row.version))
    response.headers["Location"] = f"/api/booking/services/{row.id}"
    return to_public(row)


@router.patch(
    "/{service_id}",
    response_model=ServicePublic,
    summary="Change a service (admin or its owner); If-Match: the version you read",
    responses=problem_responses(404, 412),
)
async def update_service(
    service_id: uuid.UUID,
    body: ServiceUpdate,
    uow: UowDep,
    now: NowDep,
    response: Response,
    principal: StaffPrincipal,
    if_match: Annotated[SafeText | None, Header(max_length=100)] = None,
) -> ServicePublic:
    row = await load_service(uow, service_id)
    ensure_manages(principal, row.owner_specialist_id)
    check_if_match(if_match, row.version)
    changes = dump_changes(body)
    nullable = {"slot_step_minutes"}
    changes = {k: v for k, v in changes.items() if v is not None or k in nullable}
    await catalog.update_service(uow, row, _columns(changes), now=now)
    await uow.commit()
    response.headers.update(etag(row.version))
    return to_public(row)

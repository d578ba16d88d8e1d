"""``/api/notify/deliveries``: the delivery log, for admins, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from servicekit.http.deps import UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.pagination import (
    CursorQuery,
    LimitQuery,
    Page,
    decode_cursor,
    encode_cursor,
)
from servicekit.http.problems import Msg, get_or_404
from servicekit.http.responses import problem_responses
from servicekit.security.deps import require_roles
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import Delivery

router = APIRouter(
    prefix="/deliveries", tags=["deliveries"], dependencies=[Depends(require_roles("admin"))]
)

StatusFilter = Literal["pending", "sending", "sent", "retrying", "failed", "skipped", "unconfirmed"]


class DeliveryPublic(BaseModel):
    """One message of the log."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    user_id: uuid.UUID | None
    channel: Literal["telegram", "email"]
    template: str
    category: str
    recipient: str
    status: StatusFilter
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None
    edit_message_id: int | None
    source_event_id: uuid.UUID | None
    source_event_type: str | None
    fallback_of: uuid.UUID | None


async def newest_first(
    session: AsyncSession, query: Any, *, limit: int, cursor: str | None
) -> tuple[list[Delivery], str | None]:
    """One page of deliveries, newest first by (created_at, id), and the next page's cursor.

    The log is read for what just happened, so it runs the other way from the house lists
    (``servicekit.http.pagination.keyset_page`` is oldest first); same cursor format.
    """
    created, ident = col(Delivery.created_at), col(Delivery.id)
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        query = query.where(or_(created < at, (created == at) & (ident < last_id)))
    query = query.order_by(created.desc(), ident.desc()).limit(limit + 1)
    rows = list((await session.exec(query)).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].id)


@router.get(
    "", response_model=Page[DeliveryPublic], summary="The delivery log, newest first (admin)"
)
async def list_deliveries(
    uow: UowDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    status: Annotated[StatusFilter | None, Query()] = None,
    channel: Annotated[Literal["telegram", "email"] | None, Query()] = None,
    template: Annotated[SafeText | None, Query(max_length=64)] = None,
    user_id: uuid.UUID | None = None,
    source_event_id: uuid.UUID | None = None,
) -> Page[DeliveryPublic]:
    query = select(Delivery)
    if status:
        query = query.where(Delivery.status == status)
    if channel:
        query = query.where(Delivery.channel == channel)
    if template:
        query = query.where(Delivery.template == template)
    if user_id:
        query = query.where(Delivery.user_id == user_id)
    if source_event_id:
        query = query.where(Delivery.source_event_id == source_event_id)
    rows, next_cursor = await newest_first(uow.session, query, limit=limit, cursor=cursor)
    items = [DeliveryPublic.model_validate(r, from_attributes=True) for r in rows]
    return Page[DeliveryPublic](items=items, next_cursor=next_cursor)


@router.get(
    "/{delivery_id}",
    response_model=DeliveryPublic,
    summary="One delivery (admin)",
    responses=problem_responses(404),
)
async def get_delivery(delivery_id: uuid.UUID, uow: UowDep) -> DeliveryPublic:
    row = await get_or_404(
        uow.session,
        Delivery,
        delivery_id,
        Msg(ru="Такой отправки уведомления нет.", en="No such delivery."),
    )
    return DeliveryPublic.model_validate(row, from_attributes=True)

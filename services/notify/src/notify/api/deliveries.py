"""``/api/notify/deliveries``: the delivery log, for admins, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from servicekit.http.deps import UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.responses import problem_responses
from servicekit.security.deps import require_roles

from notify.adapters.deliveries import LogFilter
from notify.application import deliveries

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
    where = LogFilter(status, channel, template, user_id, source_event_id)
    rows, next_cursor = await deliveries.delivery_log(uow, where, limit=limit, cursor=cursor)
    items = [DeliveryPublic.model_validate(r, from_attributes=True) for r in rows]
    return Page[DeliveryPublic](items=items, next_cursor=next_cursor)


@router.get(
    "/{delivery_id}",
    response_model=DeliveryPublic,
    summary="One delivery (admin)",
    responses=problem_responses(404),
)
async def get_delivery(delivery_id: uuid.UUID, uow: UowDep) -> DeliveryPublic:
    row = await deliveries.delivery(uow, delivery_id)
    return DeliveryPublic.model_validate(row, from_attributes=True)

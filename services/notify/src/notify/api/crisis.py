"""``/api/notify/crisis-alerts``: the crisis audit, for admins, newest first.

One entry per recipient and channel of every crisis alert and of every escalation of an alert
that could not be delivered: who was told (``recipient_user_id``, the address or chat), why them
(``route``), on which channel, and what became of it when (``sent_at`` / ``failed_at``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from servicekit.http.deps import UowDep
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.security.deps import require_roles

from notify.adapters.crisis import AlertFilter
from notify.application import crisis

router = APIRouter(
    prefix="/crisis-alerts",
    tags=["crisis alerts"],
    dependencies=[Depends(require_roles("admin"))],
)

AlertStatus = Literal["pending", "sent", "failed", "skipped"]
AlertKind = Literal["alert", "escalation"]
Route = Literal[
    "assigned", "next_appointment", "last_appointment", "on_duty", "admins", "admin_address"
]


class CrisisAlertPublic(BaseModel):
    """One recipient and channel of a crisis alert (or of its escalation)."""

    id: uuid.UUID
    run_id: uuid.UUID
    client_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    kind: AlertKind
    route: Route
    recipient_user_id: uuid.UUID | None
    channel: Literal["telegram", "email"]
    recipient: str
    delivery_id: uuid.UUID | None
    status: AlertStatus
    error: str | None
    sent_at: datetime | None
    failed_at: datetime | None
    escalated_at: datetime | None
    escalation_of: uuid.UUID | None


@router.get(
    "",
    response_model=Page[CrisisAlertPublic],
    summary="The crisis audit: who was told of each crisis answer, on which channel, and when; "
    "newest first (admin)",
)
async def list_crisis_alerts(
    uow: UowDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
    run_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    status: Annotated[AlertStatus | None, Query()] = None,
    kind: Annotated[AlertKind | None, Query()] = None,
) -> Page[CrisisAlertPublic]:
    where = AlertFilter(run_id=run_id, client_id=client_id, status=status, kind=kind)
    rows, next_cursor = await crisis.crisis_log(uow, where, limit=limit, cursor=cursor)
    items = [CrisisAlertPublic.model_validate(r, from_attributes=True) for r in rows]
    return Page[CrisisAlertPublic](items=items, next_cursor=next_cursor)

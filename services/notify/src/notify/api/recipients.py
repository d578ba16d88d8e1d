"""``/api/notify/recipients``: what notify knows about where to reach a user."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from servicekit.http.deps import UowDep
from servicekit.http.inputs import EmailSearch
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, ensure_owner, require_roles

from notify.adapters.tables import Recipient
from notify.application import recipients

router = APIRouter(prefix="/recipients", tags=["recipients"])


class RecipientPublic(BaseModel):
    """A recipient as the API shows it."""

    user_id: uuid.UUID
    email: str
    name: str
    phone: str | None
    time_zone: str
    language: str
    updated_at: datetime


class RecipientList(BaseModel):
    """A page of recipients."""

    items: list[RecipientPublic]
    next_cursor: str | None = None


def _public(r: Recipient) -> RecipientPublic:
    return RecipientPublic.model_validate(r, from_attributes=True)


@router.post(
    "/search",
    response_model=RecipientList,
    dependencies=[Depends(require_roles("admin"))],
    summary="Find recipients by email (admin)",
)
async def find_by_email(uow: UowDep, body: EmailSearch) -> RecipientList:
    found = await recipients.recipients_with_email(uow, str(body.email))
    return RecipientList(items=[_public(r) for r in found])


@router.get(
    "/{user_id}",
    response_model=RecipientPublic,
    summary="A user's notification contacts (the user or an admin)",
    responses=problem_responses(404),
)
async def get_recipient(
    user_id: uuid.UUID, uow: UowDep, principal: CurrentPrincipal
) -> RecipientPublic:
    ensure_owner(principal, user_id)
    return _public(await recipients.recipient(uow, user_id))

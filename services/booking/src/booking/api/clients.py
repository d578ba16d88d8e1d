"""``/api/booking/clients``: what booking knows of a client."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from servicekit.http.deps import UowDep
from servicekit.http.problems import Msg, get_or_404
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, ensure_owner

from booking.adapters.tables import Client

router = APIRouter(prefix="/clients", tags=["clients"])


class ClientPublic(BaseModel):
    """A client as booking knows them."""

    user_id: uuid.UUID
    name: str
    time_zone: str
    known_since: datetime
    email_verified: bool = Field(description="Only a verified email books and submits forms")
    roles: list[str]


@router.get(
    "/{user_id}",
    response_model=ClientPublic,
    summary="booking's record of a client (the client or an admin)",
    responses=problem_responses(404),
)
async def get_client(user_id: uuid.UUID, uow: UowDep, principal: CurrentPrincipal) -> ClientPublic:
    ensure_owner(principal, user_id)
    client = await get_or_404(
        uow.session, Client, user_id, Msg(ru="Такого клиента нет.", en="No such client.")
    )
    return ClientPublic.model_validate(client, from_attributes=True)

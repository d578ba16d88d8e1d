"""``/api/notify/deeplinks``: one-time Telegram deep links bound to an action.

- ``link_account``: the signed-in user links their own Telegram chat (no one makes one for
  someone else, admins included); the chat that opens it waits until the user confirms it with
  ``POST /me/telegram/confirm`` (the link's ``opened_by_username`` helps them tell their chat);
- ``attribution``: a campaign or source link (admin); opening it publishes
  ``notify.deeplink.activated`` (cabinet turns it into a lead);
- ``start_booking``: opens booking for a service or specialist (specialist or admin);
- ``waitlist_offer``: opens a waitlist offer in its owner's linked chat (made by notify itself
  for offer emails; admin); it never links a chat.

The answer carries the token and the ``t.me`` link once; only the token's hash is stored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from servicekit.http.deps import UowDep
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, ensure_owner

from notify.adapters.tables import DeepLink
from notify.api.deps import NotifyDep
from notify.application import deeplinks
from notify.domain.deeplinks import Action

router = APIRouter(prefix="/deeplinks", tags=["deep links"])

Label = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class DeepLinkCreate(BaseModel):
    """What the link will do when opened."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    user_id: uuid.UUID | None = Field(
        default=None,
        description="waitlist_offer: whose; link_account: only the caller (the default)",
    )
    source: str | None = Label
    campaign: str | None = Label
    waitlist_offer_id: uuid.UUID | None = None
    service_id: uuid.UUID | None = None
    specialist_id: uuid.UUID | None = None
    ttl_minutes: int | None = Field(default=None, ge=1, le=60 * 24 * 30)

    @model_validator(mode="after")
    def _fields_for_action(self) -> DeepLinkCreate:
        if self.action == "attribution" and not self.source:
            raise ValueError("attribution links need a source")
        if self.action == "waitlist_offer" and (
            self.waitlist_offer_id is None or self.user_id is None
        ):
            raise ValueError("waitlist_offer links need waitlist_offer_id and user_id")
        return self


class DeepLinkPublic(BaseModel):
    """A deep link as the API shows it."""

    id: uuid.UUID
    action: Action
    user_id: uuid.UUID | None
    source: str | None
    campaign: str | None
    waitlist_offer_id: uuid.UUID | None
    service_id: uuid.UUID | None
    specialist_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    confirmed_at: datetime | None = Field(
        description="link_account: when the owner confirmed the chat that opened it"
    )
    opened_by_username: str | None = Field(
        default=None,
        description="link_account: the Telegram username of the chat that opened it (if any)",
    )


class DeepLinkCreated(DeepLinkPublic):
    """The new link, with its token and ``t.me`` URL (shown only now)."""

    token: str = Field(description="The /start payload: ≤ 64 chars of A-Za-z0-9_-")
    link: str = Field(examples=["https://t.me/praktika_bot?start=..."])


def _fields(link: DeepLink) -> dict[str, Any]:
    """What the API shows of a deep link (never the token after creation)."""
    return {
        "id": link.id,
        "action": link.action,
        "user_id": link.user_id,
        "source": link.source,
        "campaign": link.campaign,
        "waitlist_offer_id": link.waitlist_offer_id,
        "service_id": link.service_id,
        "specialist_id": link.specialist_id,
        "created_at": link.created_at,
        "expires_at": link.expires_at,
        "used_at": link.used_at,
        "confirmed_at": link.confirmed_at,
    }


@router.post(
    "",
    response_model=DeepLinkCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a one-time deep link",
    responses=problem_responses(403, descriptions={403: "forbidden, own_account_only"}),
)
async def create(
    body: DeepLinkCreate, uow: UowDep, principal: CurrentPrincipal, notify: NotifyDep
) -> DeepLinkCreated:
    request = deeplinks.DeepLinkRequest(**body.model_dump())
    created = await deeplinks.create_deeplink(
        uow, notify, request, caller=principal.user_id, caller_roles=principal.roles
    )
    return DeepLinkCreated(**_fields(created.link), token=created.token, link=created.url)


@router.get(
    "/{deeplink_id}",
    response_model=DeepLinkPublic,
    summary="A deep link (its creator)",
    responses=problem_responses(404),
)
async def get_one(
    deeplink_id: uuid.UUID, uow: UowDep, principal: CurrentPrincipal
) -> DeepLinkPublic:
    link = await deeplinks.deeplink(uow, deeplink_id)
    ensure_owner(principal, link.created_by if link else None)
    assert link is not None
    opener = await deeplinks.opened_by(uow, link)
    return DeepLinkPublic(**_fields(link), opened_by_username=opener)

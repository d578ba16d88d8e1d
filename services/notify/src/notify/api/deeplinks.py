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
from datetime import datetime, timedelta
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from servicekit.http.deps import UowDep
from servicekit.http.problems import Forbidden, Msg, Problem
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, ensure_owner

from notify.adapters.deeplinks import create_deeplink, link_fields
from notify.adapters.tables import DeepLink, TelegramChat
from notify.api.deps import ContextDep

router = APIRouter(prefix="/deeplinks", tags=["deep links"])

Action = Literal["link_account", "attribution", "waitlist_offer", "start_booking"]
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


@router.post(
    "",
    response_model=DeepLinkCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a one-time deep link",
    responses=problem_responses(403, descriptions={403: "forbidden, own_account_only"}),
)
async def create(
    body: DeepLinkCreate, uow: UowDep, principal: CurrentPrincipal, ctx: ContextDep
) -> DeepLinkCreated:
    is_admin = principal.has_role("admin")
    user_id = body.user_id
    if body.action == "link_account":
        # Whoever holds the token may link a chat to the account: only its owner makes one.
        user_id = user_id or principal.user_id
        if user_id != principal.user_id:
            raise Forbidden(
                Msg(
                    ru="Подключить Telegram к аккаунту может только его владелец.",
                    en="Only the account's owner links a Telegram chat to it.",
                ),
                code="own_account_only",
            )
    elif body.action in ("attribution", "waitlist_offer") and not is_admin:
        raise Forbidden(
            Msg(
                ru="Такие ссылки создают только администраторы.",
                en="Only admins create this kind of link.",
            )
        )
    elif body.action == "start_booking" and not principal.has_role("admin", "specialist"):
        raise Forbidden(
            Msg(
                ru="Ссылки на запись создают только специалисты и администраторы.",
                en="Only specialists and admins create booking links.",
            )
        )
    own_calendar = body.specialist_id in (None, principal.user_id)
    if body.action == "start_booking" and not is_admin and not own_calendar:
        raise Problem(
            Msg(
                ru="Специалист может давать ссылку только на свой календарь.",
                en="A specialist links to their own calendar.",
            ),
            status=422,
            code="not_own_specialist",
        )
    now = ctx.clock()
    ttl = timedelta(minutes=body.ttl_minutes or ctx.settings.deeplink_ttl_minutes)
    link, token = await create_deeplink(
        uow.session,
        action=body.action,
        now=now,
        expires_at=now + ttl,
        user_id=user_id if body.action in ("link_account", "waitlist_offer") else None,
        source=body.source,
        campaign=body.campaign,
        waitlist_offer_id=body.waitlist_offer_id,
        service_id=body.service_id,
        specialist_id=body.specialist_id,
        created_by=principal.user_id,
    )
    await uow.commit()
    return DeepLinkCreated(**link_fields(link), token=token, link=ctx.deeplink(token))


@router.get(
    "/{deeplink_id}",
    response_model=DeepLinkPublic,
    summary="A deep link (its creator)",
    responses=problem_responses(404),
)
async def get_one(
    deeplink_id: uuid.UUID, uow: UowDep, principal: CurrentPrincipal
) -> DeepLinkPublic:
    link = await uow.session.get(DeepLink, deeplink_id)
    ensure_owner(principal, link.created_by if link else None)
    assert link is not None
    opener = None
    if link.action == "link_account" and link.used_by_chat_ref is not None:
        chat = await uow.session.get(TelegramChat, link.used_by_chat_ref)
        opener = chat.username if chat else None
    return DeepLinkPublic(**link_fields(link), opened_by_username=opener)

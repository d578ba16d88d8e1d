"""``/api/notify/me/...``: the caller's own notification settings, without knowing their id.

``GET``/``PATCH /me/preferences`` are the caller's preferences; ``POST /me/telegram/confirm``
links the chat that opened the caller's own ``link_account`` deep link (the second step of
linking: a chat that opens a link only waits for this); ``DELETE /me/telegram`` unlinks the
caller's Telegram chat (messages waiting for it go by email instead). Every route acts on the
token's own user only, so no one can reach another user's settings here.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict
from servicekit.http.deps import UowDep
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal

from notify.api.deps import NotifyDep
from notify.api.preferences import PreferencesPublic, PreferencesUpdate
from notify.application import linking, preferences

router = APIRouter(prefix="/me", tags=["me"])


@router.get(
    "/preferences",
    response_model=PreferencesPublic,
    summary="My preferences",
    responses=problem_responses(404),
)
async def get_my_preferences(uow: UowDep, principal: CurrentPrincipal) -> PreferencesPublic:
    return PreferencesPublic.of(await preferences.preferences(uow, principal.user_id))


@router.patch(
    "/preferences",
    response_model=PreferencesPublic,
    summary="Change my preferences",
    responses=problem_responses(404),
)
async def update_my_preferences(
    body: PreferencesUpdate, uow: UowDep, principal: CurrentPrincipal, notify: NotifyDep
) -> PreferencesPublic:
    view = await preferences.change_preferences(uow, notify, principal.user_id, body.change())
    return PreferencesPublic.of(view)


class TelegramLinkConfirm(BaseModel):
    """Which of my links' chats to link: the deep link the app made and showed me."""

    model_config = ConfigDict(extra="forbid")

    deeplink_id: uuid.UUID


class TelegramLinkPublic(BaseModel):
    """My linked Telegram chat."""

    deeplink_id: uuid.UUID
    telegram_username: str | None
    linked_at: datetime


@router.post(
    "/telegram/confirm",
    response_model=TelegramLinkPublic,
    summary="Link the Telegram chat that opened my link",
    responses=problem_responses(404, descriptions={404: "telegram_link_not_pending"}),
)
async def confirm_my_telegram(
    body: TelegramLinkConfirm, uow: UowDep, principal: CurrentPrincipal, notify: NotifyDep
) -> TelegramLinkPublic:
    link, chat = await linking.confirm_link(
        uow, notify, owner=principal.user_id, deeplink_id=body.deeplink_id
    )
    assert chat.linked_at is not None
    return TelegramLinkPublic(
        deeplink_id=link.id, telegram_username=chat.username, linked_at=chat.linked_at
    )


@router.delete(
    "/telegram",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unlink my Telegram chat",
    responses=problem_responses(404, descriptions={404: "telegram_not_linked"}),
)
async def unlink_my_telegram(
    uow: UowDep, principal: CurrentPrincipal, notify: NotifyDep
) -> Response:
    await linking.unlink(uow, notify, principal.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

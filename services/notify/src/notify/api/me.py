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
from servicekit.http.problems import Msg, NotFound
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal
from sqlalchemy import update
from sqlmodel import col, select

from notify.adapters.deliveries import move_pending_to_email
from notify.adapters.linking import confirm_link
from notify.adapters.tables import Recipient, TelegramChat, TelegramMessage
from notify.api.deps import ContextDep
from notify.api.preferences import (
    PreferencesPublic,
    PreferencesUpdate,
    change_preferences,
    preferences_of,
    recipient_or_404,
)

router = APIRouter(prefix="/me", tags=["me"])


@router.get(
    "/preferences",
    response_model=PreferencesPublic,
    summary="My preferences",
    responses=problem_responses(404),
)
async def get_my_preferences(uow: UowDep, principal: CurrentPrincipal) -> PreferencesPublic:
    return await preferences_of(uow, await recipient_or_404(uow, principal.user_id))


@router.patch(
    "/preferences",
    response_model=PreferencesPublic,
    summary="Change my preferences",
    responses=problem_responses(404),
)
async def update_my_preferences(
    body: PreferencesUpdate, uow: UowDep, principal: CurrentPrincipal, ctx: ContextDep
) -> PreferencesPublic:
    recipient = await recipient_or_404(uow, principal.user_id)
    return await change_preferences(uow, ctx, recipient, body)


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
    body: TelegramLinkConfirm, uow: UowDep, principal: CurrentPrincipal, ctx: ContextDep
) -> TelegramLinkPublic:
    confirmed = await confirm_link(uow, ctx, owner=principal.user_id, deeplink_id=body.deeplink_id)
    if confirmed is None:
        raise NotFound(
            Msg(
                ru="Нет открытой в Telegram ссылки, ждущей вашего подтверждения. "
                "Создайте новую и откройте её в Telegram.",
                en="No link of yours was opened in Telegram and waits for your confirmation. "
                "Make a new one and open it in Telegram.",
            ),
            code="telegram_link_not_pending",
        )
    link, chat = confirmed
    assert chat.linked_at is not None
    await uow.commit()
    return TelegramLinkPublic(
        deeplink_id=link.id, telegram_username=chat.username, linked_at=chat.linked_at
    )


@router.delete(
    "/telegram",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unlink my Telegram chat",
    responses=problem_responses(404, descriptions={404: "telegram_not_linked"}),
)
async def unlink_my_telegram(uow: UowDep, principal: CurrentPrincipal, ctx: ContextDep) -> Response:
    chat = (
        await uow.session.exec(
            select(TelegramChat).where(TelegramChat.user_id == principal.user_id).with_for_update()
        )
    ).first()
    if chat is None:
        raise NotFound(
            Msg(
                ru="Telegram к вашему профилю не подключён.",
                en="No Telegram chat is linked to you.",
            ),
            code="telegram_not_linked",
        )
    chat.user_id = None
    chat.linked_at = None
    uow.session.add(chat)
    # Its old buttons stop working (a tap needs a linked chat) and later events no longer edit
    # messages in a chat the user took back.
    await uow.session.exec(
        update(TelegramMessage)
        .where(col(TelegramMessage.chat_ref) == chat.id)
        .values(has_buttons=False)
    )
    recipient = await uow.session.get(Recipient, principal.user_id)
    await move_pending_to_email(uow, ctx, principal.user_id, recipient.email if recipient else None)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)

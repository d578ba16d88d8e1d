"""``/api/notify/preferences/{user_id}``: how a user wants to be reached (owner or admin).

The caller's own preferences are also at ``/api/notify/me/preferences`` (``notify.api.me``).
"""

from __future__ import annotations

import uuid
from datetime import time
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator
from servicekit.http.deps import UowDep
from servicekit.http.problems import Msg, get_or_404
from servicekit.http.responses import problem_responses
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.deps import CurrentPrincipal, ensure_owner

from notify.adapters.deliveries import MARKETING_CONSENT, channels_of, linked_chat
from notify.adapters.tables import Consent, Preference, Recipient
from notify.api.deps import ContextDep
from notify.context import NotifyContext
from notify.domain.preferences import DEFAULT_CHANNELS, Channel

router = APIRouter(prefix="/preferences", tags=["preferences"])


class QuietHoursModel(BaseModel):
    """A daily window in the user's own zone when non-urgent messages wait (may span midnight).

    Reminders, payment links, waitlist offers and alerts are urgent and are not held back.
    """

    model_config = ConfigDict(extra="forbid")

    start: time = Field(examples=["22:00"])
    end: time = Field(examples=["08:00"])

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHoursModel:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


Channels = Annotated[list[Channel], Field(min_length=1, max_length=2)]


class PreferencesPublic(BaseModel):
    """A user's notification preferences and what notify knows of their reachability."""

    user_id: uuid.UUID
    channels: list[Channel] = Field(description="In order of preference")
    quiet_hours: QuietHoursModel | None
    time_zone: str
    language: str
    telegram_linked: bool
    telegram_reachable: bool
    marketing_consent: bool = Field(description="From cabinet's consents (read only here)")
    news_unsubscribed: bool = Field(description="One-click unsubscribe from non-essential mail")


class PreferencesUpdate(BaseModel):
    """Only the fields sent change; ``quiet_hours: null`` removes the quiet hours."""

    model_config = ConfigDict(extra="forbid")

    channels: Channels | None = None
    quiet_hours: QuietHoursModel | None = None
    news_unsubscribed: bool | None = None

    @model_validator(mode="after")
    def _distinct(self) -> PreferencesUpdate:
        if self.channels is not None and len(set(self.channels)) != len(self.channels):
            raise ValueError("channels must not repeat")
        return self


async def recipient_or_404(uow: UnitOfWork, user_id: uuid.UUID) -> Recipient:
    """notify's copy of a user (404 while cabinet's registration has not arrived)."""
    recipient = await get_or_404(
        uow.session, Recipient, user_id, Msg(ru="Такого пользователя нет.", en="No such user.")
    )
    return recipient


async def _load(uow: UnitOfWork, principal: CurrentPrincipal, user_id: uuid.UUID) -> Recipient:
    ensure_owner(principal, user_id)
    return await recipient_or_404(uow, user_id)


async def preferences_of(uow: UnitOfWork, recipient: Recipient) -> PreferencesPublic:
    """A user's preferences as the API shows them."""
    prefs = await uow.session.get(Preference, recipient.user_id)
    chat = await linked_chat(uow.session, recipient.user_id)
    consent = await uow.session.get(Consent, (recipient.user_id, MARKETING_CONSENT))
    quiet = (
        QuietHoursModel(start=prefs.quiet_start, end=prefs.quiet_end)
        if prefs and prefs.quiet_start is not None and prefs.quiet_end is not None
        else None
    )
    return PreferencesPublic(
        user_id=recipient.user_id,
        channels=channels_of(prefs),
        quiet_hours=quiet,
        time_zone=recipient.time_zone,
        language=recipient.language,
        telegram_linked=chat is not None,
        telegram_reachable=chat is not None and chat.unreachable_at is None,
        marketing_consent=bool(consent and consent.granted),
        news_unsubscribed=bool(prefs and prefs.unsubscribed_at),
    )


@router.get(
    "/{user_id}",
    response_model=PreferencesPublic,
    summary="A user's preferences",
    responses=problem_responses(404),
)
async def get_preferences(
    user_id: uuid.UUID, uow: UowDep, principal: CurrentPrincipal
) -> PreferencesPublic:
    return await preferences_of(uow, await _load(uow, principal, user_id))


@router.patch(
    "/{user_id}",
    response_model=PreferencesPublic,
    summary="Change preferences",
    responses=problem_responses(404),
)
async def update_preferences(
    user_id: uuid.UUID,
    body: PreferencesUpdate,
    uow: UowDep,
    principal: CurrentPrincipal,
    ctx: ContextDep,
) -> PreferencesPublic:
    recipient = await _load(uow, principal, user_id)
    return await change_preferences(uow, ctx, recipient, body)


async def change_preferences(
    uow: UnitOfWork, ctx: NotifyContext, recipient: Recipient, body: PreferencesUpdate
) -> PreferencesPublic:
    """Apply ``body`` to a user's preferences, commit, and return them."""
    user_id = recipient.user_id
    now = ctx.clock()
    prefs = await uow.session.get(Preference, user_id, with_for_update=True)
    if prefs is None:
        prefs = Preference(user_id=user_id, channels=list(DEFAULT_CHANNELS), updated_at=now)
    if body.channels is not None:
        prefs.channels = list(body.channels)
    if "quiet_hours" in body.model_fields_set:
        prefs.quiet_start = body.quiet_hours.start if body.quiet_hours else None
        prefs.quiet_end = body.quiet_hours.end if body.quiet_hours else None
    if body.news_unsubscribed is not None:
        prefs.unsubscribed_at = now if body.news_unsubscribed else None
    prefs.updated_at = now
    uow.session.add(prefs)
    await uow.commit()
    return await preferences_of(uow, recipient)

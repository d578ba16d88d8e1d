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
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, ensure_owner

from notify.api.deps import NotifyDep
from notify.application import preferences
from notify.domain.preferences import Channel, QuietHours

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

    @classmethod
    def of(cls, view: preferences.PreferencesView) -> PreferencesPublic:
        """The API's form of a user's preferences."""
        quiet = view.quiet_hours
        return cls(
            user_id=view.user_id,
            channels=view.channels,
            quiet_hours=QuietHoursModel(start=quiet.start, end=quiet.end) if quiet else None,
            time_zone=view.time_zone,
            language=view.language,
            telegram_linked=view.telegram_linked,
            telegram_reachable=view.telegram_reachable,
            marketing_consent=view.marketing_consent,
            news_unsubscribed=view.news_unsubscribed,
        )


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

    def change(self) -> preferences.PreferencesChange:
        """What the request changes."""
        quiet = self.quiet_hours
        return preferences.PreferencesChange(
            channels=self.channels,
            set_quiet_hours="quiet_hours" in self.model_fields_set,
            quiet_hours=QuietHours(quiet.start, quiet.end) if quiet else None,
            news_unsubscribed=self.news_unsubscribed,
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
    ensure_owner(principal, user_id)
    return PreferencesPublic.of(await preferences.preferences(uow, user_id))


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
    notify: NotifyDep,
) -> PreferencesPublic:
    ensure_owner(principal, user_id)
    view = await preferences.change_preferences(uow, notify, user_id, body.change())
    return PreferencesPublic.of(view)

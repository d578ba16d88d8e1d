"""notify events, version 1."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, model_validator

from contracts.booking.v1 import TelegramAction
from contracts.data_rights import DataExportPart, UserDataErased
from contracts.registry import event
from contracts.types import Payload, PersonalData, PersonalId

DeeplinkAction = Literal["link_account", "attribution", "waitlist_offer", "start_booking"]


@event("notify.telegram.linked", version=1, aggregate="user_id")
class TelegramLinkedV1(Payload):
    """A user linked their Telegram chat to their account through a one-time deep link.

    Consumers: cabinet (CRM leads: the chat's lead and the account's lead are merged); front
    ends read ``telegram_linked`` from notify; see docs/events.md.
    """

    user_id: UUID
    telegram_chat_id: PersonalId
    telegram_username: PersonalData | None = None
    deeplink_id: UUID | None = None


@event("notify.deeplink.activated", version=1, aggregate="deeplink_id")
class DeeplinkActivatedV1(Payload):
    """Someone opened the bot with a valid deep-link payload (``/start <payload>``): once for a
    single-use link, at every opening of a campaign (``attribution``) link.

    Consumers: cabinet (CRM leads: a touch of the chat's lead, credited to the campaign whose
    id is ``deeplink_id`` when cabinet made the link).
    """

    deeplink_id: UUID
    action: DeeplinkAction
    source: str | None = None
    campaign: str | None = None
    user_id: UUID | None = Field(default=None, description="Set when the chat is linked")
    telegram_chat_id: PersonalId
    telegram_user_id: PersonalId
    telegram_username: PersonalData | None = None
    first_name: PersonalData | None = None
    last_name: PersonalData | None = None
    language_code: str | None = None


CalendarDecision = Literal["cancel", "keep"]


@event("notify.calendar.decision_requested", version=1, aggregate="user_id")
class CalendarDecisionRequestedV1(Payload):
    """A specialist tapped "cancel the appointment" or "keep it" under the message that they
    changed an appointment's event in Google Calendar (``booking.calendar.event_changed``). The
    button was verified to belong to them.

    Consumers: booking (cancels the appointment, or keeps it and puts its event back).
    """

    action_id: UUID = Field(description="Unique per tap")
    user_id: UUID
    appointment_id: UUID
    decision: CalendarDecision


@event("notify.telegram.action_requested", version=1, aggregate="user_id")
class TelegramActionRequestedV1(Payload):
    """A user tapped an inline button: confirm attendance, cancel an appointment, or accept a
    waitlist offer. The button was verified (signed/opaque callback data) to belong to the user.

    Consumers: booking (applies it; the outcome event carries this event's id as causation_id,
    a refusal is ``booking.action.rejected``).
    """

    action_id: UUID = Field(description="Unique per tap; booking's idempotency key")
    action: TelegramAction
    user_id: UUID
    appointment_id: UUID | None = None
    waitlist_offer_id: UUID | None = None

    @model_validator(mode="after")
    def _target_matches_action(self) -> TelegramActionRequestedV1:
        if self.action == "accept_waitlist_offer":
            if self.waitlist_offer_id is None:
                raise ValueError("accept_waitlist_offer needs waitlist_offer_id")
        elif self.appointment_id is None:
            raise ValueError(f"{self.action} needs appointment_id")
        return self


@event("notify.delivery.failed", version=1, aggregate="delivery_id")
class DeliveryFailedV1(Payload):
    """A message could not be delivered: permanently, or after its last retry.

    Consumers: notify itself (a Telegram message that failed goes by email once, where the
    user keeps email among their channels).
    """

    delivery_id: UUID
    user_id: UUID | None = None
    channel: Literal["telegram", "email"]
    template: str = Field(min_length=1)
    recipient: PersonalData = Field(description="Email address or Telegram chat id")
    error: PersonalData = Field(description="The provider's answer (it may quote the address)")
    attempts: int = Field(ge=1)
    permanent: bool = Field(description="True for e.g. SMTP 5xx or a bot blocked by the user")
    source_event_id: UUID | None = Field(default=None, description="Event that caused it")
    source_event_type: str | None = None


@event("notify.data_export.part_ready", version=1, aggregate="export_id")
class DataExportPartReadyV1(DataExportPart):
    """notify's part of a user's data export (preferences, delivery log) is ready.

    Consumers: cabinet (assembles the export).
    """


@event("notify.user_data.erased", version=1, aggregate="user_id")
class UserDataErasedV1(UserDataErased):
    """notify erased its copy of a user's contacts, chat links and delivery log.

    Consumers: cabinet (closes the erasure request).
    """

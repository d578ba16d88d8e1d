"""booking events, version 1.

Every appointment event carries the appointment's state after the change (times in UTC plus the
specialist's IANA zone, service name, price) so notify can render a message and keep reminders
without asking booking anything.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.data_rights import DataExportPart, UserDataErased
from contracts.registry import event
from contracts.types import (
    ActorRole,
    Money,
    Payload,
    PersonalData,
    SessionFormat,
    TimeZoneName,
    UtcDateTime,
)

TelegramAction = Literal["confirm_attendance", "cancel_appointment", "accept_waitlist_offer"]


class SlotFacts(Payload):
    """A bookable slot: which service, with whom, when (UTC and the specialist's zone), price."""

    service_id: UUID
    service_name: str
    specialist_id: UUID
    specialist_name: PersonalData
    format: SessionFormat
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    specialist_time_zone: TimeZoneName
    price: Money


class AppointmentFacts(SlotFacts):
    """An appointment's state after the change an event reports."""

    appointment_id: UUID
    client_id: UUID


@event("booking.appointment.held", version=1, aggregate="appointment_id")
class AppointmentHeldV1(AppointmentFacts):
    """A client took a slot; it is held until ``hold_expires_at`` while they pay.

    With prepayment, ``payment_id`` and ``confirmation_url`` (the YooKassa page) are set.
    Consumers: notify (message with the payment link; edits a waitlist offer message when the
    hold came from ``waitlist_offer_id``).
    """

    hold_expires_at: UtcDateTime
    prepayment_required: bool
    payment_id: UUID | None = None
    confirmation_url: str | None = Field(default=None, description="Where the client pays")
    waitlist_offer_id: UUID | None = Field(
        default=None, description="Set when the hold came from accepting a waitlist offer"
    )


@event("booking.appointment.confirmed", version=1, aggregate="appointment_id")
class AppointmentConfirmedV1(AppointmentFacts):
    """An appointment is confirmed: paid, or booked without prepayment.

    Consumers: notify (confirmation message, schedules the 24 h and 1 h reminders).
    """

    payment_id: UUID | None = None
    amount_paid: Money | None = Field(default=None, description="None without prepayment")
    intake_required: bool = Field(description="First session with this specialist: form needed")
    reschedule_count: int = Field(ge=0)
    waitlist_offer_id: UUID | None = Field(
        default=None, description="Set when the booking came from accepting a waitlist offer"
    )


@event("booking.appointment.rescheduled", version=1, aggregate="appointment_id")
class AppointmentRescheduledV1(AppointmentFacts):
    """A confirmed appointment moved to a new time (the same appointment, never a new one).

    ``starts_at``/``ends_at`` are the new times. Consumers: notify (message, moves reminders).
    """

    previous_starts_at: UtcDateTime
    previous_ends_at: UtcDateTime
    reschedule_count: int = Field(ge=1, description="Reschedules so far, this one included")
    max_reschedules: int = Field(ge=0)
    rescheduled_by: ActorRole
    rescheduled_by_user_id: UUID | None = None


@event("booking.appointment.cancelled", version=1, aggregate="appointment_id")
class AppointmentCancelledV1(AppointmentFacts):
    """A held or confirmed appointment was cancelled; says who, why, and what is refunded.

    A refund, if any, is started (``refund_id``) and reported by ``booking.refund.succeeded``.
    Consumers: notify (message with the refund, drops reminders), booking's own waitlist.
    """

    previous_status: Literal["held", "confirmed"]
    cancelled_by: ActorRole
    cancelled_by_user_id: UUID | None = None
    reason: PersonalData | None = Field(default=None, description="Free text from the canceller")
    late_cancellation: bool = Field(description="Inside the no-refund notice window")
    refund_percent: int = Field(ge=0, le=100)
    refund_amount: Money
    payment_id: UUID | None = None
    refund_id: UUID | None = None


@event("booking.appointment.expired", version=1, aggregate="appointment_id")
class AppointmentExpiredV1(AppointmentFacts):
    """A hold expired unpaid; the slot is free again and any pending payment is cancelled.

    Consumers: notify (tells the client the slot was released).
    """

    hold_expires_at: UtcDateTime
    payment_id: UUID | None = None


@event("booking.appointment.completed", version=1, aggregate="appointment_id")
class AppointmentCompletedV1(AppointmentFacts):
    """The specialist marked a session as held. Consumers: notify (follow-up message)."""

    marked_by_user_id: UUID


@event("booking.appointment.no_show", version=1, aggregate="appointment_id")
class AppointmentNoShowV1(AppointmentFacts):
    """The specialist marked that the client did not come; no refund.

    Consumers: notify (message to the client).
    """

    marked_by_user_id: UUID
    client_no_show_count: int = Field(ge=1, description="No-shows of this client, this included")


@event("booking.appointment.attendance_confirmed", version=1, aggregate="appointment_id")
class AppointmentAttendanceConfirmedV1(AppointmentFacts):
    """The client confirmed they will come (e.g. the Confirm button on a reminder).

    Consumers: notify (edits the reminder message to "confirmed").
    """

    confirmed_via: Literal["telegram", "web"]


@event("booking.payment.succeeded", version=1, aggregate="appointment_id")
class PaymentSucceededV1(Payload):
    """YooKassa reported a payment as succeeded (re-fetched and applied once).

    ``late`` means the hold had already expired: the money is refunded, never kept, and
    ``booking.refund.succeeded`` follows. Consumers: cabinet (CRM leads: a converted lead's
    revenue); the client hears of the payment through ``appointment.confirmed``, of a late one
    through ``refund.succeeded``; the receipt is YooKassa's. See docs/events.md.
    """

    payment_id: UUID
    provider: Literal["yookassa"] = "yookassa"
    provider_payment_id: str = Field(min_length=1)
    appointment_id: UUID
    client_id: UUID
    service_name: str
    starts_at: UtcDateTime
    specialist_time_zone: TimeZoneName
    amount: Money
    paid_at: UtcDateTime
    late: bool = False


@event("booking.payment.failed", version=1, aggregate="appointment_id")
class PaymentFailedV1(Payload):
    """A payment was cancelled or declined (YooKassa ``canceled``).

    Consumers: notify (tells the client; the hold may still be paid again until it expires).
    """

    payment_id: UUID
    provider: Literal["yookassa"] = "yookassa"
    provider_payment_id: str = Field(min_length=1)
    appointment_id: UUID
    client_id: UUID
    service_name: str
    amount: Money
    reason: str = Field(description="YooKassa cancellation_details.reason, e.g. card_expired")
    party: str | None = Field(default=None, description="YooKassa cancellation_details.party")
    hold_expires_at: UtcDateTime | None = None


@event("booking.refund.succeeded", version=1, aggregate="appointment_id")
class RefundSucceededV1(Payload):
    """Money went back to the client. Consumers: notify (refund message)."""

    refund_id: UUID
    provider_refund_id: str = Field(min_length=1)
    payment_id: UUID
    appointment_id: UUID
    client_id: UUID
    service_name: str
    amount: Money
    percent: int = Field(ge=0, le=100, description="Share of the payment refunded")
    reason: Literal[
        "client_cancellation", "specialist_cancellation", "admin_cancellation", "late_payment"
    ]
    refunded_at: UtcDateTime


@event("booking.refund.failed", version=1, aggregate="appointment_id")
class RefundFailedV1(Payload):
    """A refund YooKassa cancelled, still not done after booking's retries: the client has not
    got the money back and a person must act (refund by hand, talk to the client).

    Carries ids, the amount and YooKassa's reason code only (no names or contacts).
    Consumers: notify (alerts the practice's admins).
    """

    refund_id: UUID
    provider_refund_id: str | None = Field(
        default=None, description="YooKassa's id of the last attempt, to find it in their cabinet"
    )
    payment_id: UUID
    appointment_id: UUID
    client_id: UUID
    amount: Money
    reason: str = Field(
        min_length=1, description="YooKassa cancellation_details.reason, e.g. insufficient_funds"
    )
    attempts: int = Field(ge=1, description="Refund attempts made, the last one included")
    failed_at: UtcDateTime


@event("booking.waitlist.offer_made", version=1, aggregate="offer_id")
class WaitlistOfferMadeV1(SlotFacts):
    """A freed slot is offered to a waiting client until ``expires_at``; first acceptance wins.

    Consumers: notify (message with an Accept button).
    """

    offer_id: UUID
    waitlist_entry_id: UUID
    client_id: UUID
    expires_at: UtcDateTime


@event("booking.waitlist.offer_expired", version=1, aggregate="offer_id")
class WaitlistOfferExpiredV1(Payload):
    """An offer can no longer be accepted: it timed out, another client took the slot, or the
    slot went away. Consumers: notify (edits the offer message).
    """

    offer_id: UUID
    waitlist_entry_id: UUID
    client_id: UUID
    service_name: str
    starts_at: UtcDateTime
    specialist_time_zone: TimeZoneName
    reason: Literal["timed_out", "taken", "slot_unavailable"]


@event("booking.intake.submitted", version=1, aggregate="intake_form_id")
class IntakeSubmittedV1(Payload):
    """A client submitted an intake form; the answers stay in booking (P2, encrypted).

    Consumers: notify (tells the specialist a form is waiting).
    """

    intake_form_id: UUID
    client_id: UUID
    specialist_id: UUID
    appointment_id: UUID | None = None
    submitted_at: UtcDateTime


@event("booking.action.rejected", version=1, aggregate="user_id")
class ActionRejectedV1(Payload):
    """booking refused an action requested by event (``notify.telegram.action_requested``).

    The envelope's ``causation_id`` is the request's event id. Successful actions are reported by
    their own events (``appointment.attendance_confirmed``, ``appointment.cancelled``,
    ``appointment.held``). Consumers: notify (edits the message, e.g. "slot already taken").
    """

    action_id: UUID = Field(description="action_id of the request")
    action: TelegramAction
    user_id: UUID
    appointment_id: UUID | None = None
    waitlist_offer_id: UUID | None = None
    reason: Literal[
        "not_found", "not_allowed", "already_done", "too_late", "slot_taken", "offer_expired"
    ]


@event("booking.calendar.event_changed", version=1, aggregate="appointment_id")
class CalendarEventChangedV1(AppointmentFacts):
    """The specialist deleted or moved an appointment's event in their Google Calendar.

    booking does not cancel or move the appointment by itself: the specialist decides
    (``notify.calendar.decision_requested``: cancel it, or keep it and the event is put back as
    it was). ``event_starts_at``/``event_ends_at``: where the event is now (moved).
    Consumers: notify (asks the specialist, with both buttons).
    """

    change: Literal["deleted", "moved"]
    event_starts_at: UtcDateTime | None = None
    event_ends_at: UtcDateTime | None = None


@event("booking.calendar.sync_failed", version=1, aggregate="specialist_id")
class CalendarSyncFailedV1(Payload):
    """booking could not reach a specialist's Google Calendar for good: the consent was revoked
    (``revoked``), Google refused a change (``refused``), or it stayed unreachable through every
    retry (``unreachable``). The connection shows the error until the specialist reconnects.
    Consumers: notify (tells the specialist).
    """

    specialist_id: UUID
    reason: Literal["revoked", "refused", "unreachable"]
    failed_at: UtcDateTime
    appointment_id: UUID | None = None


@event("booking.data_export.part_ready", version=1, aggregate="export_id")
class DataExportPartReadyV1(DataExportPart):
    """booking's part of a user's data export (appointments, payments, forms) is ready.

    Consumers: cabinet (assembles the export).
    """


@event("booking.user_data.erased", version=1, aggregate="user_id")
class UserDataErasedV1(UserDataErased):
    """booking erased a user's personal data (payments kept as the law requires).

    Consumers: cabinet (closes the erasure request).
    """

"""Events notify consumes, each handed to its use case: cabinet's (recipients, consents, account
mail), booking's (appointment and payment messages, reminders, edits of Telegram messages, admin
alerts), content's (crisis alerts, intake suggestions, assigned questionnaires, articles) and
its own ``notify.delivery.failed`` (a Telegram message goes by email).

The use cases only write rows (recipients, consents, the appointments copy, deliveries, timers)
in the consumer's transaction; nothing is sent from here. The inbox makes a redelivered event a
no-op, so the same event twice gives one message. The queues that only plan read a
micro-batch's look-ups at once and write its timers in one statement
(:mod:`notify.application.batch`). No use case here refuses an event (nothing is mapped to a
rejection or a dead letter): a bad event fails its handler and dead-letters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from contracts.booking.v1 import (
    ActionRejectedV1,
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentHeldV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
    CalendarEventChangedV1,
    CalendarSyncFailedV1,
    IntakeSubmittedV1,
    PaymentFailedV1,
    RefundFailedV1,
    RefundSucceededV1,
    WaitlistOfferExpiredV1,
    WaitlistOfferMadeV1,
)
from contracts.cabinet.v1 import (
    CampaignLinkIssuedV1,
    CampaignLinkRevokedV1,
    ConsentGrantedV1,
    ConsentWithdrawnV1,
    DataExportCompletedV1,
    EmailVerificationRequestedV1,
    PasswordResetRequestedV1,
    RegistrationAttemptedV1,
    UserContactChangedV1,
    UserRegisteredV1,
    UserRolesChangedV1,
)
from contracts.content.v1 import (
    AssignmentCreatedV1,
    AssignmentOverdueV1,
    InteractiveRunCompletedV1,
    ItemPublishedV1,
    ModerationDecidedV1,
)
from contracts.envelope import EventEnvelope
from contracts.notify.v1 import DeliveryFailedV1
from pydantic import BaseModel
from servicekit.data_rights import PartLinks, skip_erased_users
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork

from notify.application import (
    appointments,
    bot,
    campaign_links,
    content,
    data_rights,
    deliveries,
    payments,
    recipients,
    waitlist,
)
from notify.application.batch import planning_batch, skipping_erased
from notify.application.ports import NotifyPorts

UseCase = Callable[[UnitOfWork, NotifyPorts, EventEnvelope[Any]], Awaitable[None]]

# Queue names are part of the deployed topology: keep them.
USER_EVENTS = "user-events"
BOOKING_EVENTS = "booking-events"
CONTENT_EVENTS = "content-events"
DELIVERY_FAILURES = "delivery-failures"
CAMPAIGN_LINKS = "campaign-links"

QUEUES: tuple[tuple[str, Sequence[tuple[type[BaseModel], UseCase]]], ...] = (
    (
        USER_EVENTS,
        (
            (UserRegisteredV1, recipients.user_registered),
            (UserContactChangedV1, recipients.contact_changed),
            (UserRolesChangedV1, recipients.roles_changed),
            (ConsentGrantedV1, recipients.consent_granted),
            (ConsentWithdrawnV1, recipients.consent_withdrawn),
            (EmailVerificationRequestedV1, recipients.email_verification_requested),
            (PasswordResetRequestedV1, recipients.password_reset_requested),
            (RegistrationAttemptedV1, recipients.registration_attempted),
            (DataExportCompletedV1, recipients.data_export_completed),
        ),
    ),
    (
        BOOKING_EVENTS,
        (
            (AppointmentHeldV1, appointments.held),
            (AppointmentConfirmedV1, appointments.confirmed),
            (AppointmentRescheduledV1, appointments.rescheduled),
            (AppointmentCancelledV1, appointments.cancelled),
            (AppointmentExpiredV1, appointments.expired),
            (AppointmentAttendanceConfirmedV1, appointments.attendance_confirmed),
            (AppointmentCompletedV1, appointments.completed),
            (AppointmentNoShowV1, appointments.no_show),
            (PaymentFailedV1, payments.payment_failed),
            (IntakeSubmittedV1, appointments.intake_submitted),
            (RefundFailedV1, payments.refund_failed),
            (RefundSucceededV1, payments.refund_succeeded),
            (WaitlistOfferMadeV1, waitlist.offer_made),
            (WaitlistOfferExpiredV1, waitlist.offer_expired),
            (ActionRejectedV1, bot.action_rejected),
            (CalendarEventChangedV1, appointments.calendar_event_changed),
            (CalendarSyncFailedV1, appointments.calendar_sync_failed),
        ),
    ),
    (
        CONTENT_EVENTS,
        (
            (InteractiveRunCompletedV1, content.run_completed),
            (AssignmentCreatedV1, content.assignment_created),
            (AssignmentOverdueV1, content.assignment_overdue),
            (ItemPublishedV1, content.item_published),
            (ModerationDecidedV1, content.moderation_decided),
        ),
    ),
    (DELIVERY_FAILURES, ((DeliveryFailedV1, deliveries.delivery_failed),)),
    (
        CAMPAIGN_LINKS,
        (
            (CampaignLinkIssuedV1, campaign_links.issued),
            (CampaignLinkRevokedV1, campaign_links.revoked),
        ),
    ),
)


# Queues whose micro-batches are planned at once (notify.application.batch): their handlers
# create no recipients, preferences or chats. user-events does, so it runs event by event.
PLANNED_IN_BATCHES = frozenset({BOOKING_EVENTS, CONTENT_EVENTS, DELIVERY_FAILURES})


def _handler(
    use_case: UseCase, notify: NotifyPorts
) -> Callable[[UnitOfWork, EventEnvelope[Any]], Awaitable[None]]:
    async def handle(uow: UnitOfWork, event: EventEnvelope[Any]) -> None:
        await use_case(uow, notify, event)

    return handle


def build_consumers(notify: NotifyPorts) -> tuple[EventConsumer, ...]:
    """notify's consumers (one per queue), each event handed to its use case with ``notify``."""
    consumers = []
    for purpose, handled in QUEUES:
        if purpose in PLANNED_IN_BATCHES:
            consumer = EventConsumer("notify", purpose, batch_scope=planning_batch)
            for model, use_case in handled:
                consumer.handles(model)(skipping_erased(_handler(use_case, notify)))
        else:
            consumer = EventConsumer("notify", purpose)
            for model, use_case in handled:
                consumer.handles(model)(_handler(use_case, notify))
            # An event about an erased user recreates nothing and sends nothing.
            skip_erased_users(consumer)
        consumers.append(consumer)
    consumers.append(data_rights.consumer(PartLinks.of(notify.settings)))
    return tuple(consumers)

"""Events that feed the CRM leads (docs/leads.md), on a queue of their own (``cabinet.leads``):
notify's deep-link openings and chat links, content's contacts left on anonymous questionnaire
runs, booking's bookings, sessions and money."""

from __future__ import annotations

from contracts.booking.v1 import (
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentHeldV1,
    PaymentSucceededV1,
    RefundSucceededV1,
)
from contracts.content.v1 import RunContactLeftV1
from contracts.envelope import EventEnvelope
from contracts.notify.v1 import DeeplinkActivatedV1, TelegramLinkedV1
from servicekit.data_rights import skip_erased_users
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import get_keyring

from cabinet.application import leads
from cabinet.domain.leads import Touch

lead_events = EventConsumer("cabinet", "leads")

# Openings of these links are interest; a waitlist offer or an account link is not.
INTEREST = frozenset({"attribution", "start_booking"})


@lead_events.handles(DeeplinkActivatedV1)
async def link_opened(uow: UnitOfWork, event: EventEnvelope[DeeplinkActivatedV1]) -> None:
    """A bot ``/start`` from a campaign (or booking) link: a touch of that chat's lead."""
    p = event.payload
    if p.action not in INTEREST:
        return
    name = " ".join(part for part in (p.first_name, p.last_name) if part) or None
    await leads.link_opened(
        uow,
        get_keyring(),
        deeplink_id=p.deeplink_id,
        source=p.source,
        campaign=p.campaign,
        contact=leads.Contact(
            user_id=p.user_id,
            name=name,
            telegram_chat_id=p.telegram_chat_id,
            telegram_username=p.telegram_username,
        ),
        at=event.occurred_at,
    )


@lead_events.handles(TelegramLinkedV1)
async def chat_linked(uow: UnitOfWork, event: EventEnvelope[TelegramLinkedV1]) -> None:
    """A user linked their chat: the chat's lead and the account's lead are one person."""
    p = event.payload
    await leads.contacts_linked(
        uow,
        get_keyring(),
        leads.Contact(
            user_id=p.user_id,
            telegram_chat_id=p.telegram_chat_id,
            telegram_username=p.telegram_username,
        ),
    )


@lead_events.handles(RunContactLeftV1)
async def contact_left(uow: UnitOfWork, event: EventEnvelope[RunContactLeftV1]) -> None:
    """An anonymous questionnaire run's taker left a contact: a ``questionnaire`` touch."""
    p = event.payload
    await leads.questionnaire_contact(
        uow,
        get_keyring(),
        leads.Contact(email=p.email, phone=p.phone, name=p.name, consented_at=p.consented_at),
        at=p.consented_at,
        source=p.utm_source,
        medium=p.utm_medium,
        campaign=p.utm_campaign,
    )


@lead_events.handles(AppointmentHeldV1)
async def booking_started(uow: UnitOfWork, event: EventEnvelope[AppointmentHeldV1]) -> None:
    """A booking started (not paid yet): a touch, a lead if the person had none."""
    contact = leads.Contact(user_id=event.payload.client_id)
    await leads.touched(uow, get_keyring(), contact, Touch("booking", event.occurred_at))


@lead_events.handles(AppointmentConfirmedV1)
async def booked(uow: UnitOfWork, event: EventEnvelope[AppointmentConfirmedV1]) -> None:
    """Confirmed (paid, or no prepayment): the lead's first booking."""
    await leads.booked(uow, get_keyring(), event.payload.client_id, event.occurred_at)


@lead_events.handles(AppointmentCompletedV1)
async def completed(uow: UnitOfWork, event: EventEnvelope[AppointmentCompletedV1]) -> None:
    """A session held: the first one converts the lead."""
    p = event.payload
    await leads.session_completed(uow, p.client_id, p.appointment_id, event.occurred_at)


@lead_events.handles(PaymentSucceededV1)
async def paid(uow: UnitOfWork, event: EventEnvelope[PaymentSucceededV1]) -> None:
    """Money in (a late payment is refunded at once: booking's refund event takes it back)."""
    p = event.payload
    await leads.money(uow, p.payment_id, p.client_id, p.amount.amount, p.paid_at)


@lead_events.handles(RefundSucceededV1)
async def refunded(uow: UnitOfWork, event: EventEnvelope[RefundSucceededV1]) -> None:
    """Money back to the client: less revenue."""
    p = event.payload
    await leads.money(uow, p.refund_id, p.client_id, -p.amount.amount, p.refunded_at)


# An event about an erased user recreates no lead.
skip_erased_users(lead_events)

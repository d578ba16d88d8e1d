"""Events content consumes: cabinet's consents and booking's appointments, kept as content's own
copies (whether answers may be stored and a specialist may read them; who is whose client and
the sessions beside a client's scores)."""

from __future__ import annotations

from typing import Any

from contracts.booking.states import APPOINTMENT_EVENTS, appointment_state
from contracts.booking.v1 import (
    AppointmentFacts,
)
from contracts.cabinet.v1 import ConsentDocumentPublishedV1, ConsentGrantedV1, ConsentWithdrawnV1
from contracts.envelope import EventEnvelope
from servicekit.data_rights import skip_erased_users
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork

from content.application import appointments, consents

consent_events = EventConsumer("content", "consents")
booking_events = EventConsumer("content", "booking-events")


@consent_events.handles(ConsentGrantedV1)
async def consent_granted(uow: UnitOfWork, event: EventEnvelope[ConsentGrantedV1]) -> None:
    """A user consented to a purpose."""
    await consents.record(uow, event.payload, granted=True, at=event.payload.granted_at)


@consent_events.handles(ConsentWithdrawnV1)
async def consent_withdrawn(uow: UnitOfWork, event: EventEnvelope[ConsentWithdrawnV1]) -> None:
    """A user withdrew a consent: answers stop being stored, specialists stop reading, at once."""
    await consents.record(uow, event.payload, granted=False, at=event.payload.withdrawn_at)


@consent_events.handles(ConsentDocumentPublishedV1)
async def document_published(
    uow: UnitOfWork, event: EventEnvelope[ConsentDocumentPublishedV1]
) -> None:
    """A new consent document version (it may make older grants stop counting)."""
    await consents.record_document(uow, event.payload)


async def remember_appointment(uow: UnitOfWork, event: EventEnvelope[Any]) -> None:
    """booking's appointment events: the copy follows the appointment (the reading of each event
    is contracts.booking.states, shared with the other copies)."""
    facts: AppointmentFacts = event.payload
    status, confirmed = appointment_state(facts)
    await appointments.remember(
        uow, facts, status=status, confirmed=confirmed, at=event.occurred_at
    )


for _appointment_event in APPOINTMENT_EVENTS:
    booking_events.handles(_appointment_event)(remember_appointment)


# An event about an erased user recreates nothing (servicekit.data_rights).
skip_erased_users(consent_events)
skip_erased_users(booking_events)

"""Events content consumes: cabinet's consents and booking's appointments, kept as content's own
copies (whether answers may be stored and a specialist may read them; who is whose client and
the sessions beside a client's scores)."""

from __future__ import annotations

from typing import Any

from contracts.booking.v1 import (
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentFacts,
    AppointmentHeldV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
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


async def _remember(
    uow: UnitOfWork, event: EventEnvelope[Any], status: str, *, confirmed: bool
) -> None:
    facts: AppointmentFacts = event.payload
    await appointments.remember(
        uow, facts, status=status, confirmed=confirmed, at=event.occurred_at
    )


@booking_events.handles(AppointmentHeldV1)
async def held(uow: UnitOfWork, event: EventEnvelope[AppointmentHeldV1]) -> None:
    """A slot held while the client pays: nobody's client yet."""
    await _remember(uow, event, "held", confirmed=False)


@booking_events.handles(AppointmentConfirmedV1)
async def confirmed(uow: UnitOfWork, event: EventEnvelope[AppointmentConfirmedV1]) -> None:
    """A confirmed appointment: the client is the specialist's client from now on."""
    await _remember(uow, event, "confirmed", confirmed=True)


@booking_events.handles(AppointmentRescheduledV1)
async def rescheduled(uow: UnitOfWork, event: EventEnvelope[AppointmentRescheduledV1]) -> None:
    """The same appointment at a new time."""
    await _remember(uow, event, "confirmed", confirmed=True)


@booking_events.handles(AppointmentAttendanceConfirmedV1)
async def attendance_confirmed(
    uow: UnitOfWork, event: EventEnvelope[AppointmentAttendanceConfirmedV1]
) -> None:
    """The client said they will come (still confirmed)."""
    await _remember(uow, event, "confirmed", confirmed=True)


@booking_events.handles(AppointmentCancelledV1)
async def cancelled(uow: UnitOfWork, event: EventEnvelope[AppointmentCancelledV1]) -> None:
    """Cancelled: off the trend; a client who had it confirmed stays the specialist's client."""
    was_confirmed = event.payload.previous_status == "confirmed"
    await _remember(uow, event, "cancelled", confirmed=was_confirmed)


@booking_events.handles(AppointmentExpiredV1)
async def expired(uow: UnitOfWork, event: EventEnvelope[AppointmentExpiredV1]) -> None:
    """A hold that ran out unpaid."""
    await _remember(uow, event, "expired", confirmed=False)


@booking_events.handles(AppointmentCompletedV1)
async def completed(uow: UnitOfWork, event: EventEnvelope[AppointmentCompletedV1]) -> None:
    """A session held: on the client's trend."""
    await _remember(uow, event, "completed", confirmed=True)


@booking_events.handles(AppointmentNoShowV1)
async def no_show(uow: UnitOfWork, event: EventEnvelope[AppointmentNoShowV1]) -> None:
    """The client did not come."""
    await _remember(uow, event, "no_show", confirmed=True)


# An event about an erased user recreates nothing (servicekit.data_rights).
skip_erased_users(consent_events)
skip_erased_users(booking_events)

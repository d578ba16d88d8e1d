"""Events cabinet consumes: booking's appointments (its copy: who is whose client, the sessions
on the mood trend), and every service's answers to data-subject requests (parts of an export,
confirmations of an erasure)."""

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
from contracts.booking.v1 import DataExportPartReadyV1 as BookingPartReady
from contracts.booking.v1 import UserDataErasedV1 as BookingErased
from contracts.content.v1 import DataExportPartReadyV1 as ContentPartReady
from contracts.content.v1 import UserDataErasedV1 as ContentErased
from contracts.envelope import EventEnvelope
from contracts.notify.v1 import DataExportPartReadyV1 as NotifyPartReady
from contracts.notify.v1 import UserDataErasedV1 as NotifyErased
from servicekit.data_rights import skip_erased_users
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork

from cabinet.application import appointments, data_exports, erasure

booking_events = EventConsumer("cabinet", "booking-events")
data_rights_answers = EventConsumer("cabinet", "data-rights")


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
    """Confirmed: the client is the specialist's client from now on."""
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
    """Cancelled: a client who had it confirmed stays the specialist's client."""
    was_confirmed = event.payload.previous_status == "confirmed"
    await _remember(uow, event, "cancelled", confirmed=was_confirmed)


@booking_events.handles(AppointmentExpiredV1)
async def expired(uow: UnitOfWork, event: EventEnvelope[AppointmentExpiredV1]) -> None:
    """A hold that ran out unpaid."""
    await _remember(uow, event, "expired", confirmed=False)


@booking_events.handles(AppointmentCompletedV1)
async def completed(uow: UnitOfWork, event: EventEnvelope[AppointmentCompletedV1]) -> None:
    """A session held."""
    await _remember(uow, event, "completed", confirmed=True)


@booking_events.handles(AppointmentNoShowV1)
async def no_show(uow: UnitOfWork, event: EventEnvelope[AppointmentNoShowV1]) -> None:
    """The client did not come."""
    await _remember(uow, event, "no_show", confirmed=True)


# An appointment event about an erased client recreates nothing.
skip_erased_users(booking_events)


async def _part_ready(uow: UnitOfWork, event: EventEnvelope[Any]) -> None:
    await data_exports.part_announced(uow, event.producer, event.payload, now=uow.now())


async def _erased(uow: UnitOfWork, event: EventEnvelope[Any]) -> None:
    await erasure.confirmed(uow, event.producer, event.payload, now=uow.now())


for _ready in (BookingPartReady, ContentPartReady, NotifyPartReady):
    data_rights_answers.handles(_ready)(_part_ready)
for _done in (BookingErased, ContentErased, NotifyErased):
    data_rights_answers.handles(_done)(_erased)

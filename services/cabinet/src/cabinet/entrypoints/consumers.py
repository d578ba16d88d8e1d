"""Events cabinet consumes: booking's appointments (its copy: who is whose client, the sessions
on the mood trend), and every service's answers to data-subject requests (parts of an export,
confirmations of an erasure)."""

from __future__ import annotations

from typing import Any

from contracts.booking.states import APPOINTMENT_EVENTS, appointment_state
from contracts.booking.v1 import (
    AppointmentFacts,
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

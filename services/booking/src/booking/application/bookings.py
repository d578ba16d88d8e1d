"""Taking a slot: a booking from a search, or the acceptance of a waitlist offer (which books
through the same path; the exclusion constraint decides a race).

Without prepayment the appointment is confirmed at once; with it, it is held for the practice's
``hold_for`` and a payment row waits to be created at YooKassa after the commit
(:mod:`booking.application.checkout` in a request, a :class:`~booking.application.money.
ProviderCall` from a consumer).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from contracts.booking.v1 import AppointmentConfirmedV1
from servicekit.db.driver import new_row
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import cancel as cancel_timer
from servicekit.timers import schedule as schedule_timer
from sqlmodel import col, select

from booking.adapters.clients import receipt_customer
from booking.adapters.schedules import read_booking_context, slot_policy
from booking.adapters.tables import Appointment, Payment, WaitlistEntry, WaitlistOffer
from booking.application import waitlist
from booking.application.appointments import (
    HOLD_EXPIRY,
    occupancy_for_booking,
    slot_taken_on_conflict,
)
from booking.application.catalog import ServiceNotFound, SpecialistNotGiving
from booking.application.facts import appointment_facts
from booking.application.practice import Practice
from booking.application.waitlist import OfferAccepted, OfferExpired, OfferNotFound
from booking.domain.appointments import Status
from booking.domain.catalog import DurationNotOffered, session_length
from booking.domain.people import EmailNotVerified, OwnSlot
from booking.domain.slots import ensure_bookable

#: Offers this close to one another may compete for the same time (buffers are at most 4 h).
NEAR = timedelta(hours=4, minutes=1)


class ClientUnknown(DomainError):
    """A prepaid booking needs the client's receipt contact, which cabinet has not sent yet."""

    code = "client_unknown"


async def book(
    uow: UnitOfWork,
    practice: Practice,
    *,
    client_id: uuid.UUID,
    service_id: uuid.UUID,
    specialist_id: uuid.UUID,
    starts_at: datetime,
    duration_minutes: int | None,
    now: datetime,
    waitlist_offer_id: uuid.UUID | None = None,
) -> tuple[Appointment, Payment | None]:
    """Take a slot. Without prepayment the appointment is confirmed at once; with it, it is
    held until ``now + practice.hold_for`` and a payment row waits to be sent to YooKassa
    after the commit."""
    # On the unit's connection: a booking that needs no ORM (no stale hold, no waitlist offer,
    # no prepayment) never builds a session.
    context = await read_booking_context(
        await uow.connection(),
        service_id=service_id,
        specialist_id=specialist_id,
        client_id=client_id,
        starts_at=starts_at,
        now=now,
    )
    service, specialist = context.service, context.specialist
    if service is None:
        raise ServiceNotFound()
    if not context.client_verified:
        raise EmailNotVerified()
    if specialist is None or context.occupancy is None:
        raise SpecialistNotGiving()
    if specialist.user_id == client_id:
        raise OwnSlot()
    duration = session_length(service.durations, duration_minutes)
    if duration is None:
        raise DurationNotOffered(service.durations)
    held = service.prepayment_required
    if held and await receipt_customer(uow.session, client_id) is None:
        raise ClientUnknown()
    policy = slot_policy(service, duration)
    occupied = policy.occupied(starts_at)
    taken = await occupancy_for_booking(
        uow, practice, specialist, starts_at, occupied, now, taken=context.occupancy
    )
    ensure_bookable(taken.schedule, policy, taken.booked, now=now, start=starts_at)

    appointment = new_row(
        Appointment,
        id=uuid.uuid4(),
        client_id=client_id,
        specialist_id=specialist.user_id,
        service_id=service.id,
        service_name=service.name,
        specialist_name=specialist.display_name,
        specialist_time_zone=specialist.time_zone,
        format=service.format,
        duration_minutes=duration,
        price_amount=service.price_amount,
        buffer_before_minutes=service.buffer_before_minutes,
        buffer_after_minutes=service.buffer_after_minutes,
        starts_at=starts_at,
        ends_at=starts_at + policy.duration,
        occupied_from=occupied[0],
        occupied_until=occupied[1],
        status=Status.HELD if held else Status.CONFIRMED,
        hold_expires_at=now + practice.hold_for if held else None,
        prepayment_required=held,
        policy={
            "cancellation_tiers": list(service.cancellation_tiers),
            "reschedule_min_notice_minutes": service.reschedule_min_notice_minutes,
            "max_reschedules": service.max_reschedules,
        },
        confirmed_at=None if held else now,
        waitlist_offer_id=waitlist_offer_id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    # Offers for this time are locked (and withdrawn) before the row goes in: every path takes
    # offer locks before appointment rows, so a booking and an acceptance never deadlock.
    if context.offers_near or waitlist_offer_id is not None:
        await waitlist.time_taken(
            uow,
            specialist_id=specialist.user_id,
            occupied=occupied,
            now=now,
            accepted=waitlist_offer_id,
        )
    with slot_taken_on_conflict():
        await uow.insert(appointment)
    if not held:
        uow.emit(
            AppointmentConfirmedV1(
                **appointment_facts(appointment),
                intake_required=context.intake_required,
                reschedule_count=0,
                waitlist_offer_id=waitlist_offer_id,
            )
        )
        return appointment, None
    payment = Payment(
        id=uuid.uuid4(),
        appointment_id=appointment.id,
        client_id=client_id,
        amount=service.price_amount,
        status="new",
        created_at=now,
        updated_at=now,
    )
    session = uow.session
    session.add(payment)
    assert appointment.hold_expires_at is not None
    await schedule_timer(
        session,
        kind=HOLD_EXPIRY,
        key=str(appointment.id),
        due_at=appointment.hold_expires_at,
        payload={"appointment_id": str(appointment.id)},
    )
    return appointment, payment


async def accept_offer(
    uow: UnitOfWork,
    practice: Practice,
    offer_id: uuid.UUID,
    *,
    client_id: uuid.UUID,
    now: datetime,
) -> tuple[Appointment, Payment | None]:
    """The client takes the offered slot: it becomes their hold (or appointment) atomically."""
    session = uow.session
    offer = await session.get(WaitlistOffer, offer_id)
    if offer is None or offer.client_id != client_id:
        raise OfferNotFound()
    # Acceptances of one slot (and of slots overlapping it) take turns: lock every offer near
    # it, in id order, before anything else. The winner withdraws the others; the next in turn
    # then finds its own offer gone.
    await session.exec(
        select(WaitlistOffer.id)
        .where(
            WaitlistOffer.specialist_id == offer.specialist_id,
            col(WaitlistOffer.starts_at) < offer.ends_at + NEAR,
            col(WaitlistOffer.ends_at) > offer.starts_at - NEAR,
        )
        .order_by(col(WaitlistOffer.id))
        .with_for_update()
    )
    offer = (
        await session.exec(
            select(WaitlistOffer)
            .where(WaitlistOffer.id == offer_id)
            .execution_options(populate_existing=True)
        )
    ).one()
    if offer.status == "accepted":
        raise OfferAccepted()
    if offer.status != "open" or offer.expires_at <= now:
        raise OfferExpired()
    offer.status, offer.updated_at = "accepted", now
    appointment, payment = await book(
        uow,
        practice,
        client_id=client_id,
        service_id=offer.service_id,
        specialist_id=offer.specialist_id,
        starts_at=offer.starts_at,
        duration_minutes=offer.duration_minutes,
        now=now,
        waitlist_offer_id=offer.id,
    )
    offer.appointment_id = appointment.id
    entry = await uow.session.get(WaitlistEntry, offer.entry_id, with_for_update=True)
    if entry is not None:
        entry.status, entry.updated_at = "booked", now
    await cancel_timer(uow.session, kind=waitlist.OFFER_EXPIRY, key=str(offer.id))
    return appointment, payment

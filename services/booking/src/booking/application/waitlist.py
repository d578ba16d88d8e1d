"""The waitlist: freed slots offered to waiting clients, first come first served.

When an appointment stops occupying its time (cancelled, expired, moved), its slot — same
specialist, start and length — is offered to the first waiting clients whose service, specialist
(or "any") and windows match, up to ``parallel`` at once, each until ``offer_for`` has passed.
The first acceptance books the slot through the same path as any booking (the exclusion
constraint decides a race); the other open offers for that time are withdrawn as ``taken``. An
offer that times out moves the slot on to the next waiting client. A client is never offered the
same slot twice. How long an offer waits and how many go out at once are the practice's
(:class:`~booking.application.practice.Practice`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal

from contracts.booking.v1 import WaitlistOfferExpiredV1, WaitlistOfferMadeV1
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import cancel as cancel_timer
from servicekit.timers import schedule as schedule_timer
from sqlalchemy import literal_column
from sqlmodel import col, select

from booking.adapters.schedules import read_occupancy, slot_policy
from booking.adapters.tables import (
    Appointment,
    ServiceOffering,
    Specialist,
    WaitlistEntry,
    WaitlistOffer,
)
from booking.application.catalog import ServiceNotFound, SpecialistNotGiving
from booking.application.facts import rub
from booking.application.practice import Practice
from booking.domain.catalog import DurationNotOffered, session_length
from booking.domain.slots import check_slot

OFFER_EXPIRY = "waitlist_offer_expiry"
Gone = Literal["timed_out", "taken", "slot_unavailable"]


class WaitlistDurationNotOffered(DurationNotOffered):
    """A waitlist entry asked for a session length the service does not offer."""


class WindowsOver(DomainError):
    """Every window of a new waitlist entry has ended already."""

    code = "validation_failed"


class OfferNotFound(DomainError):
    """No such offer (or not the caller's)."""

    code = "not_found"


class OfferAccepted(DomainError):
    """The client accepted this offer already."""

    code = "offer_accepted"


class OfferExpired(DomainError):
    """The offer timed out or was withdrawn."""

    code = "offer_expired"


def windows_contain(windows: list[list[str]], start: datetime, end: datetime) -> bool:
    """Whether one of the entry's windows holds the whole session."""
    for window_from, window_to in windows:
        if datetime.fromisoformat(window_from) <= start and end <= datetime.fromisoformat(
            window_to
        ):
            return True
    return False


def windows_over(windows: list[list[str]], now: datetime) -> bool:
    """Whether every window has ended."""
    return all(datetime.fromisoformat(to) <= now for _, to in windows)


async def _withdraw(uow: UnitOfWork, offer: WaitlistOffer, reason: Gone, now: datetime) -> None:
    offer.status = (
        "expired" if reason == "timed_out" else ("taken" if reason == "taken" else "withdrawn")
    )
    offer.updated_at = now
    service = await uow.session.get(ServiceOffering, offer.service_id)
    specialist = await uow.session.get(Specialist, offer.specialist_id)
    uow.emit(
        WaitlistOfferExpiredV1(
            offer_id=offer.id,
            waitlist_entry_id=offer.entry_id,
            client_id=offer.client_id,
            service_name=service.name if service else "",
            starts_at=offer.starts_at,
            specialist_time_zone=specialist.time_zone if specialist else "UTC",
            reason=reason,
        )
    )
    if reason != "timed_out":
        await cancel_timer(uow.session, kind=OFFER_EXPIRY, key=str(offer.id))


async def slot_freed(
    uow: UnitOfWork, practice: Practice, appointment: Appointment, now: datetime
) -> None:
    """An appointment stopped occupying its time (cancelled or expired)."""
    await time_freed(
        uow,
        practice,
        specialist_id=appointment.specialist_id,
        service_id=appointment.service_id,
        starts_at=appointment.starts_at,
        duration_minutes=appointment.duration_minutes,
        now=now,
    )


async def time_freed(
    uow: UnitOfWork,
    practice: Practice,
    *,
    specialist_id: uuid.UUID,
    service_id: uuid.UUID,
    starts_at: datetime,
    duration_minutes: int,
    now: datetime,
) -> None:
    """Offer a freed slot to waiting clients, if it can really be booked now."""
    session = uow.session
    service = await session.get(ServiceOffering, service_id)
    specialist = await session.get(Specialist, specialist_id)
    if (
        service is None
        or specialist is None
        or not service.active
        or not specialist.active
        or duration_minutes not in service.durations
    ):
        return
    policy = slot_policy(service, duration_minutes)
    occupied = policy.occupied(starts_at)
    conn = await uow.connection()
    taken = (await read_occupancy(conn, [specialist], *occupied, now=now))[specialist.user_id]
    if check_slot(taken.schedule, policy, taken.booked, now=now, start=starts_at) is not None:
        return
    await _offer(uow, practice, service, specialist, starts_at, duration_minutes, now)


async def _offer(
    uow: UnitOfWork,
    practice: Practice,
    service: ServiceOffering,
    specialist: Specialist,
    starts_at: datetime,
    duration_minutes: int,
    now: datetime,
) -> None:
    session = uow.session
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    open_now = (
        await session.exec(
            select(WaitlistOffer.id).where(
                WaitlistOffer.specialist_id == specialist.user_id,
                WaitlistOffer.starts_at == starts_at,
                WaitlistOffer.status == "open",
            )
        )
    ).all()
    room = practice.parallel_offers - len(open_now)
    if room <= 0:
        return
    entries = (
        await session.exec(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.status == "waiting",
                WaitlistEntry.service_id == service.id,
                WaitlistEntry.duration_minutes == duration_minutes,
                (col(WaitlistEntry.specialist_id).is_(None))
                | (WaitlistEntry.specialist_id == specialist.user_id),
            )
            # The queue position is filled by the database (not mapped): first come first served.
            .order_by(literal_column("waitlist_entries.position"))
            .with_for_update(skip_locked=True)
        )
    ).all()
    for entry in entries:
        if room <= 0:
            break
        if windows_over(entry.windows, now):
            entry.status, entry.updated_at = "expired", now
            continue
        if not windows_contain(entry.windows, starts_at, ends_at):
            continue
        already = (
            await session.exec(
                select(WaitlistOffer.status).where(
                    WaitlistOffer.entry_id == entry.id,
                    (WaitlistOffer.status == "open")
                    | (
                        (WaitlistOffer.specialist_id == specialist.user_id)
                        & (WaitlistOffer.starts_at == starts_at)
                    ),
                )
            )
        ).first()
        if already is not None:
            continue  # one open offer per client, and never the same slot twice
        offer = WaitlistOffer(
            id=uuid.uuid4(),
            entry_id=entry.id,
            client_id=entry.client_id,
            service_id=service.id,
            specialist_id=specialist.user_id,
            duration_minutes=duration_minutes,
            starts_at=starts_at,
            ends_at=ends_at,
            status="open",
            expires_at=now + practice.offer_for,
            created_at=now,
            updated_at=now,
        )
        session.add(offer)
        await schedule_timer(
            session,
            kind=OFFER_EXPIRY,
            key=str(offer.id),
            due_at=offer.expires_at,
            payload={"offer_id": str(offer.id)},
        )
        uow.emit(
            WaitlistOfferMadeV1(
                service_id=service.id,
                service_name=service.name,
                specialist_id=specialist.user_id,
                specialist_name=specialist.display_name,
                format=service.format,
                starts_at=starts_at,
                ends_at=ends_at,
                specialist_time_zone=specialist.time_zone,
                price=rub(service.price_amount),
                offer_id=offer.id,
                waitlist_entry_id=entry.id,
                client_id=entry.client_id,
                expires_at=offer.expires_at,
            )
        )
        room -= 1


async def time_taken(
    uow: UnitOfWork,
    *,
    specialist_id: uuid.UUID,
    occupied: tuple[datetime, datetime],
    now: datetime,
    accepted: uuid.UUID | None = None,
) -> None:
    """A booking took time: open offers overlapping it are gone (``taken`` when an offer for
    that very slot was accepted, ``slot_unavailable`` otherwise)."""
    offers = (
        await uow.session.exec(
            select(WaitlistOffer)
            .where(
                WaitlistOffer.specialist_id == specialist_id,
                WaitlistOffer.status == "open",
                col(WaitlistOffer.starts_at) < occupied[1],
                col(WaitlistOffer.ends_at) > occupied[0],
            )
            .order_by(col(WaitlistOffer.id))  # one lock order everywhere: no deadlocks
            .with_for_update()
        )
    ).all()
    accepted_offer = await uow.session.get(WaitlistOffer, accepted) if accepted else None
    for offer in offers:
        same_slot = accepted_offer is not None and offer.starts_at == accepted_offer.starts_at
        await _withdraw(uow, offer, "taken" if same_slot else "slot_unavailable", now)


async def offer_timed_out(
    uow: UnitOfWork, practice: Practice, offer_id: uuid.UUID, now: datetime
) -> None:
    """An offer's time ran out: tell its client, and move the slot on to the next one."""
    offer = (
        await uow.session.exec(
            select(WaitlistOffer).where(WaitlistOffer.id == offer_id).with_for_update()
        )
    ).first()
    if offer is None or offer.status != "open":
        return
    await _withdraw(uow, offer, "timed_out", now)
    await uow.session.flush()
    await time_freed(
        uow,
        practice,
        specialist_id=offer.specialist_id,
        service_id=offer.service_id,
        starts_at=offer.starts_at,
        duration_minutes=offer.duration_minutes,
        now=now,
    )


async def leave(uow: UnitOfWork, practice: Practice, entry: WaitlistEntry, now: datetime) -> None:
    """The client leaves the waitlist: their open offers go to the next waiting clients."""
    entry.status, entry.updated_at = "left", now
    offers = (
        await uow.session.exec(
            select(WaitlistOffer)
            .where(WaitlistOffer.entry_id == entry.id, WaitlistOffer.status == "open")
            .with_for_update()
        )
    ).all()
    for offer in offers:
        await _withdraw(uow, offer, "slot_unavailable", now)
    await uow.session.flush()
    for offer in offers:
        await time_freed(
            uow,
            practice,
            specialist_id=offer.specialist_id,
            service_id=offer.service_id,
            starts_at=offer.starts_at,
            duration_minutes=offer.duration_minutes,
            now=now,
        )


async def join(
    uow: UnitOfWork,
    *,
    client_id: uuid.UUID,
    service_id: uuid.UUID,
    specialist_id: uuid.UUID | None,
    windows: list[tuple[datetime, datetime]],
    duration_minutes: int | None,
    now: datetime,
) -> WaitlistEntry:
    """The client waits for an active service (with one specialist who gives it, or any)
    within ``windows``; at least one window must still be ahead."""
    session = uow.session
    service = await session.get(ServiceOffering, service_id)
    if service is None or not service.active:
        raise ServiceNotFound()
    if specialist_id is not None:
        specialist = await session.get(Specialist, specialist_id)
        if specialist is None or not specialist.active or service.id not in specialist.service_ids:
            raise SpecialistNotGiving()
    duration = session_length(service.durations, duration_minutes)
    if duration is None:
        raise WaitlistDurationNotOffered(service.durations)
    if all(end <= now for _, end in windows):
        raise WindowsOver()
    entry = WaitlistEntry(
        id=uuid.uuid4(),
        client_id=client_id,
        service_id=service.id,
        specialist_id=specialist_id,
        duration_minutes=duration,
        windows=[[start.isoformat(), end.isoformat()] for start, end in windows],
        status="waiting",
        created_at=now,
        updated_at=now,
    )
    session.add(entry)
    return entry

"""What a client asks by tapping a button in Telegram (notify's ``telegram.action_requested``):
accept a waitlist offer, confirm attendance, cancel an appointment; and a specialist's answer
after changing one of our events in Google Calendar (cancel the appointment, or keep it).

The same use cases as over HTTP, with what a tap cannot do in a request: a payment for a hold
taken from Telegram is created at YooKassa after the commit (its link reaches the client with
``appointment.held``). A refusal is a domain error the consumer turns into
``booking.action.rejected``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.booking.v1 import TelegramAction
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork

from booking.application import appointments, calendar
from booking.application.bookings import accept_offer
from booking.application.money import ProviderCall, call_after_commit
from booking.application.practice import Practice
from booking.domain.appointments import Status


class AlreadyDone(DomainError):
    """What the tap asks has been done already (attendance confirmed, appointment cancelled)."""

    code = "already_done"


async def perform(
    uow: UnitOfWork,
    practice: Practice,
    *,
    action: TelegramAction,
    user_id: uuid.UUID,
    appointment_id: uuid.UUID | None,
    waitlist_offer_id: uuid.UUID | None,
    now: datetime,
) -> None:
    """Do what the client's tap asks, as that client."""
    if action == "accept_waitlist_offer":
        assert waitlist_offer_id is not None
        _, payment = await accept_offer(
            uow, practice, waitlist_offer_id, client_id=user_id, now=now
        )
        if payment is not None:
            await call_after_commit(
                uow.session, ProviderCall.CREATE_PAYMENT, payment.id, due_at=now
            )
        return
    assert appointment_id is not None
    appointment = await appointments.locked(uow, appointment_id)
    if appointment.client_id != user_id:
        raise appointments.AppointmentNotFound()
    if action == "confirm_attendance":
        if not await appointments.confirm_attendance(uow, appointment, via="telegram", now=now):
            raise AlreadyDone("attendance already confirmed")
        return
    if appointment.status == Status.CANCELLED:
        raise AlreadyDone("already cancelled")
    await appointments.cancel(
        uow,
        practice,
        appointment,
        actor=appointments.Actor("client", user_id),
        reason=None,
        now=now,
    )


async def calendar_decision(
    uow: UnitOfWork,
    practice: Practice,
    *,
    specialist_id: uuid.UUID,
    appointment_id: uuid.UUID,
    keep: bool,
    now: datetime,
) -> None:
    """The specialist's answer after they moved or deleted an appointment's event in Google
    Calendar: keep the appointment (the event is put back) or cancel it (in full, as a
    specialist's cancellation)."""
    appointment = await appointments.locked(uow, appointment_id)
    if appointment.specialist_id != specialist_id:
        raise appointments.AppointmentNotFound()
    await calendar.decide(uow, appointment, keep=keep, now=now)
    if keep:
        return
    if appointment.status == Status.CANCELLED:
        raise AlreadyDone("already cancelled")
    await appointments.cancel(
        uow,
        practice,
        appointment,
        actor=appointments.Actor("specialist", specialist_id),
        reason=None,
        now=now,
    )

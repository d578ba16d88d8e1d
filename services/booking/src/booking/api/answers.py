"""How routes answer with an appointment, as its client, its specialist or an admin reads it
(the appointment, waitlist and calendar routes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from fastapi import status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.appointments import latest_payments
from booking.adapters.tables import Appointment, Payment
from booking.api.common import IdempotentRequest, MoneyIO, money
from booking.application import checkout
from booking.application.checkout import PaymentUnavailable
from booking.application.payments import PaymentGateway
from booking.domain.schedule import zone_named

StatusName = Literal["held", "confirmed", "completed", "no_show", "expired", "cancelled"]


class PaymentPublic(BaseModel):
    """The appointment's payment: pay at ``confirmation_url`` while it is pending."""

    id: uuid.UUID
    status: str
    amount: MoneyIO
    refunded: MoneyIO
    confirmation_url: str | None
    paid_at: datetime | None


class CancellationPublic(BaseModel):
    """Who cancelled, when, why, and the refund share."""

    cancelled_at: datetime
    cancelled_by: str
    cancelled_by_user_id: uuid.UUID | None
    reason: str | None
    refund_percent: int | None
    late_cancellation: bool | None


class AppointmentPublic(BaseModel):
    """An appointment as its client, its specialist or an admin sees it."""

    id: uuid.UUID
    status: StatusName
    client_id: uuid.UUID
    specialist_id: uuid.UUID
    specialist_name: str
    specialist_time_zone: str
    service_id: uuid.UUID
    service_name: str
    format: str
    duration_minutes: int
    price: MoneyIO
    starts_at: datetime
    ends_at: datetime
    local_starts_at: datetime = Field(description="starts_at in the specialist's zone")
    hold_expires_at: datetime | None
    prepayment_required: bool
    payment: PaymentPublic | None
    reschedule_count: int
    max_reschedules: int
    cancellation: CancellationPublic | None
    attendance_confirmed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class CalendarEntry(AppointmentPublic):
    """An appointment in the specialist's calendar, with the client's name."""

    client_name: str | None


def present(appointment: Appointment, payment: Payment | None) -> AppointmentPublic:
    """The public view of an appointment and its latest payment."""
    cancellation = None
    if appointment.cancelled_at is not None and appointment.cancelled_by is not None:
        cancellation = CancellationPublic(
            cancelled_at=appointment.cancelled_at,
            cancelled_by=appointment.cancelled_by,
            cancelled_by_user_id=appointment.cancelled_by_user_id,
            reason=appointment.cancel_reason,
            refund_percent=appointment.refund_percent,
            late_cancellation=appointment.late_cancellation,
        )
    return AppointmentPublic(
        id=appointment.id,
        status=appointment.status,
        client_id=appointment.client_id,
        specialist_id=appointment.specialist_id,
        specialist_name=appointment.specialist_name,
        specialist_time_zone=appointment.specialist_time_zone,
        service_id=appointment.service_id,
        service_name=appointment.service_name,
        format=appointment.format,
        duration_minutes=appointment.duration_minutes,
        price=money(appointment.price_amount),
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        local_starts_at=appointment.starts_at.astimezone(
            zone_named(appointment.specialist_time_zone)
        ),
        hold_expires_at=appointment.hold_expires_at,
        prepayment_required=appointment.prepayment_required,
        payment=None
        if payment is None
        else PaymentPublic(
            id=payment.id,
            status=payment.status,
            amount=money(payment.amount),
            refunded=money(payment.refunded_amount),
            confirmation_url=payment.confirmation_url,
            paid_at=payment.paid_at,
        ),
        reschedule_count=appointment.reschedule_count,
        max_reschedules=int(appointment.policy.get("max_reschedules", 0)),
        cancellation=cancellation,
        attendance_confirmed_at=appointment.attendance_confirmed_at,
        created_at=appointment.created_at,
        updated_at=appointment.updated_at,
        version=appointment.version,
    )


async def presented(session: AsyncSession, appointment: Appointment) -> AppointmentPublic:
    """:func:`present` with the payment its client sees."""
    payments = await latest_payments(session, [appointment.id])
    return present(appointment, payments.get(appointment.id))


async def presented_page(
    session: AsyncSession, rows: Sequence[Appointment]
) -> list[AppointmentPublic]:
    """:func:`present` for a page of appointments, their payments read at once."""
    payments = await latest_payments(session, [r.id for r in rows])
    return [present(r, payments.get(r.id)) for r in rows]


def answer(result: BaseModel, status_code: int = status.HTTP_200_OK, **headers: str) -> Response:
    """``result`` as JSON, serialised by pydantic in one pass (no dict, no ``json.dumps``)."""
    return Response(
        result.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers or None,
    )


def created(result: AppointmentPublic) -> Response:
    """201 with the new appointment and its ``Location``."""
    return answer(
        result, status.HTTP_201_CREATED, Location=f"/api/booking/appointments/{result.id}"
    )


async def booked(
    uow: UnitOfWork,
    gateway: PaymentGateway,
    guard: IdempotentRequest,
    appointment: Appointment,
    payment: Payment | None,
    *,
    now: datetime,
) -> Response:
    """The answer to a booking (or an accepted offer), kept for the key's replays: with
    prepayment, once YooKassa made the payment (its link is in the answer). When it could not,
    the key is released, so the same request may be tried again."""
    if payment is not None:
        try:
            appointment, payment = await checkout.pay_for_hold(
                uow, gateway, appointment, payment, now=now
            )
        except PaymentUnavailable:
            await guard.forget(uow.session)
            await uow.commit()  # the released hold and the forgotten key, together
            raise
    result = present(appointment, payment)
    await guard.remember(201, result)
    await uow.commit()
    return created(result)

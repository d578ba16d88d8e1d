"""``/api/booking/appointments``: book, read, cancel, reschedule, complete, mark a no-show.

A client sees only their own appointments and a specialist only theirs; anyone else gets 404, so
existence never leaks. ``complete`` and ``no-show`` are the specialist's (a client gets 403).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from servicekit.http.deps import NowDep, UowDep, get_runtime
from servicekit.http.inputs import Instant, SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.problems import Forbidden, Msg, NotFound, get_or_404
from servicekit.http.responses import problem_responses
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.deps import CurrentPrincipal, require_roles
from servicekit.security.jwt import Principal

from booking.adapters.appointments import appointments_page, client_names
from booking.adapters.tables import Appointment
from booking.api.answers import (
    AppointmentPublic,
    CalendarEntry,
    StatusName,
    answer,
    booked,
    created,
    present,
    presented,
    presented_page,
)
from booking.api.common import (
    GatewayDep,
    IdempotencyKeyHeader,
    IdempotentRequest,
    PracticeDep,
    SettingsDep,
    StaffPrincipal,
    ensure_manages,
    part_of,
)
from booking.application import appointments as usecases
from booking.application import bookings, checkout
from booking.application.payments import PaymentGateway
from booking.application.practice import Practice
from booking.config import BookingSettings

router = APIRouter(prefix="/appointments", tags=["appointments"])
calendar_router = APIRouter(prefix="/specialists", tags=["appointments"])

ClientPrincipal = Annotated[Principal, Depends(require_roles("client"))]
_NO_APPOINTMENT = Msg(ru="Такой записи нет.", en="No such appointment.")


class AppointmentCreate(BaseModel):
    """A booking request: which service, with whom, when. Price and status are not the
    client's to say."""

    model_config = ConfigDict(extra="forbid")

    service_id: uuid.UUID
    specialist_id: uuid.UUID
    starts_at: Instant = Field(description="A start time from GET /slots (RFC 3339)")
    duration_minutes: Annotated[int, Field(ge=5, le=720)] | None = Field(
        default=None, description="One of the service's durations; its first by default"
    )


class CancelRequest(BaseModel):
    """Why (optional; shown to the other side)."""

    model_config = ConfigDict(extra="forbid")

    reason: SafeText | None = Field(default=None, max_length=500)


class RescheduleRequest(BaseModel):
    """Where to move a confirmed appointment."""

    model_config = ConfigDict(extra="forbid")

    starts_at: Instant


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentPublic,
    summary="Book a slot (client). With prepayment: a hold and the payment's confirmation_url",
    responses=problem_responses(
        403,
        404,
        409,
        descriptions={
            403: "email_not_verified (confirm the address first), forbidden",
            409: "slot_taken and other reasons the slot is unavailable; own_slot",
        },
    ),
)
async def create_appointment(
    request: Request,
    body: AppointmentCreate,
    principal: ClientPrincipal,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    # The runtime's parts straight from it and the unit of work opened here, not as five
    # dependencies: FastAPI's resolution of those cost a tenth of a booking's CPU
    # (bench/booking.py). The unit of work rolls back on any exception, as the dependency did.
    runtime = await get_runtime(request)
    now = runtime.clock()
    settings = part_of(runtime, "settings", BookingSettings)
    practice = part_of(runtime, "practice", Practice)
    gateway = part_of(runtime, "gateway", PaymentGateway)
    async with runtime.uow() as uow:
        guard = IdempotentRequest(
            uow, principal, idempotency_key, "appointments.create", body, settings, now
        )
        if (replay := await guard.replay()) is not None:
            return replay
        appointment, payment = await bookings.book(
            uow,
            practice,
            client_id=principal.user_id,
            service_id=body.service_id,
            specialist_id=body.specialist_id,
            starts_at=body.starts_at,
            duration_minutes=body.duration_minutes,
            now=now,
        )
        return await booked(uow, gateway, guard, appointment, payment, now=now)


StatusQuery = Annotated[list[StatusName] | None, Query(alias="status", description="repeatable")]
FromQuery = Annotated[Instant | None, Query(alias="from", description="starts at or after")]
ToQuery = Annotated[Instant | None, Query(alias="to", description="starts before")]


@router.get(
    "",
    response_model=Page[AppointmentPublic],
    summary="My appointments (the caller's as a client; an admin may pass client_id)",
    responses=problem_responses(403),
)
async def my_appointments(
    uow: UowDep,
    principal: CurrentPrincipal,
    statuses: StatusQuery = None,
    start: FromQuery = None,
    end: ToQuery = None,
    client_id: uuid.UUID | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[AppointmentPublic]:
    owner = principal.user_id
    if client_id is not None and client_id != owner:
        if not principal.has_role("admin"):
            raise Forbidden(
                Msg(
                    ru="Записи другого клиента может просматривать только администратор.",
                    en="Only an admin may list another client's appointments.",
                )
            )
        owner = client_id
    rows, next_cursor = await appointments_page(
        uow.session,
        client_id=owner,
        statuses=statuses,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )
    return Page[AppointmentPublic](
        items=await presented_page(uow.session, rows), next_cursor=next_cursor
    )


@calendar_router.get(
    "/{specialist_id}/appointments",
    response_model=Page[CalendarEntry],
    summary="A specialist's calendar (the specialist or an admin)",
)
async def specialist_calendar(
    specialist_id: uuid.UUID,
    uow: UowDep,
    principal: StaffPrincipal,
    statuses: StatusQuery = None,
    start: FromQuery = None,
    end: ToQuery = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[CalendarEntry]:
    ensure_manages(principal, specialist_id)
    rows, next_cursor = await appointments_page(
        uow.session,
        specialist_id=specialist_id,
        statuses=statuses,
        start=start,
        end=end,
        limit=limit,
        cursor=cursor,
    )
    names = await client_names(uow.session, {r.client_id for r in rows})
    items = [
        CalendarEntry(**entry.model_dump(), client_name=names.get(entry.client_id))
        for entry in await presented_page(uow.session, rows)
    ]
    return Page[CalendarEntry](items=items, next_cursor=next_cursor)


# -- one appointment ------------------------------------------------------------------------


def _actor(principal: Principal, appointment: Appointment) -> usecases.Actor:
    """The caller's part in this appointment; 404 when they have none."""
    if principal.user_id == appointment.client_id:
        return usecases.Actor("client", principal.user_id)
    if principal.user_id == appointment.specialist_id and principal.has_role("specialist"):
        return usecases.Actor("specialist", principal.user_id)
    if principal.has_role("admin"):
        return usecases.Actor("admin", principal.user_id)
    raise NotFound(_NO_APPOINTMENT)


async def _locked_for(
    uow: UnitOfWork, appointment_id: uuid.UUID, principal: Principal
) -> tuple[Appointment, usecases.Actor]:
    appointment = await usecases.locked(uow, appointment_id)
    return appointment, _actor(principal, appointment)


@router.get(
    "/{appointment_id}",
    response_model=AppointmentPublic,
    summary="One appointment",
    responses=problem_responses(404),
)
async def get_appointment(
    appointment_id: uuid.UUID, uow: UowDep, principal: CurrentPrincipal
) -> AppointmentPublic:
    appointment = await get_or_404(uow.session, Appointment, appointment_id, _NO_APPOINTMENT)
    _actor(principal, appointment)
    return await presented(uow.session, appointment)


@router.post(
    "/{appointment_id}/cancel",
    response_model=AppointmentPublic,
    summary="Cancel (its client, its specialist or an admin); refunds by the service's tiers",
    responses=problem_responses(404, 409),
)
async def cancel_appointment(
    appointment_id: uuid.UUID,
    body: CancelRequest,
    uow: UowDep,
    now: NowDep,
    settings: SettingsDep,
    practice: PracticeDep,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    guard = IdempotentRequest(
        uow,
        principal,
        idempotency_key,
        f"appointments.cancel:{appointment_id}",
        body,
        settings,
        now,
    )
    if (replay := await guard.replay()) is not None:
        return replay
    appointment, actor = await _locked_for(uow, appointment_id, principal)
    await usecases.cancel(uow, practice, appointment, actor=actor, reason=body.reason, now=now)
    result = await presented(uow.session, appointment)
    await guard.remember(200, result)
    await uow.commit()
    return answer(result)


@router.post(
    "/{appointment_id}/payment",
    response_model=AppointmentPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Pay again for a held appointment whose payment was declined (its client)",
    responses=problem_responses(
        404, 409, 503, descriptions={409: "not_held, payment_open", 503: "payment_unavailable"}
    ),
)
async def pay_again(
    appointment_id: uuid.UUID,
    uow: UowDep,
    now: NowDep,
    gateway: GatewayDep,
    principal: CurrentPrincipal,
) -> Response:
    appointment = await usecases.locked(uow, appointment_id)
    if appointment.client_id != principal.user_id:
        raise NotFound(_NO_APPOINTMENT)
    appointment, payment = await checkout.pay_again(uow, gateway, appointment, now=now)
    result = present(appointment, payment)
    await uow.commit()
    return created(result)


@router.post(
    "/{appointment_id}/reschedule",
    response_model=AppointmentPublic,
    summary="Move a confirmed appointment (its client within the limits; specialist; admin)",
    responses=problem_responses(404, 409),
)
async def reschedule_appointment(
    appointment_id: uuid.UUID,
    body: RescheduleRequest,
    uow: UowDep,
    now: NowDep,
    practice: PracticeDep,
    principal: CurrentPrincipal,
) -> AppointmentPublic:
    appointment, actor = await _locked_for(uow, appointment_id, principal)
    await usecases.reschedule(
        uow, practice, appointment, starts_at=body.starts_at, actor=actor, now=now
    )
    result = await presented(uow.session, appointment)
    await uow.commit()
    return result


async def _specialist_action(
    uow: UnitOfWork, appointment_id: uuid.UUID, principal: Principal
) -> tuple[Appointment, usecases.Actor]:
    appointment, actor = await _locked_for(uow, appointment_id, principal)
    if actor.role == "client":
        raise Forbidden(
            Msg(
                ru="Отметить, как прошла сессия, может только специалист.",
                en="Only the specialist marks how a session went.",
            )
        )
    return appointment, actor


@router.post(
    "/{appointment_id}/complete",
    response_model=AppointmentPublic,
    summary="The session took place (its specialist or an admin, after the start)",
    responses=problem_responses(403, 404, 409),
)
async def complete_appointment(
    appointment_id: uuid.UUID, uow: UowDep, now: NowDep, principal: CurrentPrincipal
) -> AppointmentPublic:
    appointment, actor = await _specialist_action(uow, appointment_id, principal)
    await usecases.complete(uow, appointment, actor=actor, now=now)
    result = await presented(uow.session, appointment)
    await uow.commit()
    return result


@router.post(
    "/{appointment_id}/no-show",
    response_model=AppointmentPublic,
    summary="The client did not come (its specialist or an admin, after the start)",
    responses=problem_responses(403, 404, 409),
)
async def no_show_appointment(
    appointment_id: uuid.UUID, uow: UowDep, now: NowDep, principal: CurrentPrincipal
) -> AppointmentPublic:
    appointment, actor = await _specialist_action(uow, appointment_id, principal)
    await usecases.mark_no_show(uow, appointment, actor=actor, now=now)
    result = await presented(uow.session, appointment)
    await uow.commit()
    return result


@router.post(
    "/{appointment_id}/confirm-attendance",
    response_model=AppointmentPublic,
    summary="The client says they will come",
    responses=problem_responses(404, 409),
)
async def confirm_attendance(
    appointment_id: uuid.UUID, uow: UowDep, now: NowDep, principal: CurrentPrincipal
) -> AppointmentPublic:
    appointment, actor = await _locked_for(uow, appointment_id, principal)
    if actor.role != "client":
        raise NotFound(_NO_APPOINTMENT)
    await usecases.confirm_attendance(uow, appointment, via="web", now=now)
    result = await presented(uow.session, appointment)
    await uow.commit()
    return result

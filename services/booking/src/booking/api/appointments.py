"""``/api/booking/appointments``: book, read, cancel, reschedule, complete, mark a no-show.

A client sees only their own appointments and a specialist only theirs; anyone else gets 404, so
existence never leaks. ``complete`` and ``no-show`` are the specialist's (a client gets 403).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from servicekit.http.deps import NowDep, UowDep, get_runtime
from servicekit.http.inputs import Instant, SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery, Page, keyset_page
from servicekit.http.problems import Forbidden, Msg, NotFound, Problem, get_or_404
from servicekit.http.responses import problem_responses
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.deps import CurrentPrincipal, require_roles
from servicekit.security.jwt import Principal
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters import idempotency
from booking.adapters.tables import Appointment, Client, Payment
from booking.adapters.yookassa import (
    ProviderPayment,
    YooKassaClient,
    YooKassaError,
    YooKassaUnavailable,
)
from booking.api.common import (
    IdempotencyKeyHeader,
    MoneyIO,
    SettingsDep,
    StaffPrincipal,
    YooKassaDep,
    ensure_manages,
    get_settings,
    get_yookassa,
    money,
)
from booking.application import appointments as usecases
from booking.application.payments import announce_hold, create_at_provider, release_unpaid_hold
from booking.config import BookingSettings
from booking.domain.schedule import zone_named

router = APIRouter(prefix="/appointments", tags=["appointments"])
calendar_router = APIRouter(prefix="/specialists", tags=["appointments"])

ClientPrincipal = Annotated[Principal, Depends(require_roles("client"))]
StatusName = Literal["held", "confirmed", "completed", "no_show", "expired", "cancelled"]


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


async def latest_payments(
    session: AsyncSession, appointment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Payment]:
    """Each appointment's latest payment (of two made in the same instant, the one still
    alive: a payment made again after a declined one)."""
    if not appointment_ids:
        return {}
    rows = (
        await session.exec(
            select(Payment).where(col(Payment.appointment_id).in_(list(appointment_ids)))
        )
    ).all()
    ordered = sorted(rows, key=lambda r: (r.created_at, _PAYMENT_LIFE.get(r.status, 0)))
    return {row.appointment_id: row for row in ordered}


_PAYMENT_LIFE = {
    "not_created": 0,
    "canceled": 1,
    "new": 2,
    "pending": 2,
    "waiting_for_capture": 2,
    "succeeded": 3,
}


async def presented(session: AsyncSession, appointment: Appointment) -> AppointmentPublic:
    """:func:`present` with the payment looked up."""
    payments = await latest_payments(session, [appointment.id])
    return present(appointment, payments.get(appointment.id))


class IdempotentRequest:
    """The ``Idempotency-Key`` handling of one POST."""

    def __init__(
        self,
        uow: UnitOfWork,
        principal: Principal,
        key: str | None,
        operation: str,
        body: BaseModel | dict[str, Any],
        settings: BookingSettings,
        now: datetime,
    ) -> None:
        self.uow, self.user_id, self.operation = uow, principal.user_id, operation
        self.key = None if key is None else idempotency.check_key(key)
        self.digest = ""  # what was asked, to tell a replay from a reuse: only with a key
        if self.key is not None:
            asked = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
            self.digest = idempotency.fingerprint(operation, asked)
        self.ttl = timedelta(hours=settings.idempotency_hours)
        self.now = now

    async def replay(self) -> JSONResponse | None:
        if self.key is None:
            return None
        earlier = await idempotency.claim(
            self.uow,
            user_id=self.user_id,
            key=self.key,
            operation=self.operation,
            digest=self.digest,
            now=self.now,
            ttl=self.ttl,
        )
        if earlier is None:
            return None
        return JSONResponse(
            earlier.body, status_code=earlier.status_code, headers={"Idempotent-Replay": "true"}
        )

    async def remember(self, status_code: int, result: BaseModel) -> None:
        """Keep the answer for replays (with a key only)."""
        if self.key is not None:
            await idempotency.remember(
                self.uow,
                user_id=self.user_id,
                key=self.key,
                status_code=status_code,
                body=result.model_dump(mode="json"),
            )

    async def forget(self, session: AsyncSession) -> None:
        if self.key is not None:
            await idempotency.forget(session, user_id=self.user_id, key=self.key)


def _answer(result: BaseModel, status_code: int = status.HTTP_200_OK, **headers: str) -> Response:
    """``result`` as JSON, serialised by pydantic in one pass (no dict, no ``json.dumps``)."""
    return Response(
        result.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers or None,
    )


def _payment_unavailable() -> Problem:
    return Problem(
        Msg(
            ru="Платёжный сервис сейчас недоступен; пожалуйста, попробуйте ещё раз.",
            en="The payment service is not available right now; please try again.",
        ),
        status=503,
        code="payment_unavailable",
        title=Msg(ru="Оплата недоступна", en="Payment unavailable"),
    )


def _created(result: AppointmentPublic) -> Response:
    return _answer(
        result, status.HTTP_201_CREATED, Location=f"/api/booking/appointments/{result.id}"
    )


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
    now, settings, yookassa = (
        runtime.clock(),
        await get_settings(runtime),
        await get_yookassa(runtime),
    )
    async with runtime.uow() as uow:
        guard = IdempotentRequest(
            uow, principal, idempotency_key, "appointments.create", body, settings, now
        )
        if (replay := await guard.replay()) is not None:
            return replay
        appointment, payment = await usecases.book(
            uow,
            client_id=principal.user_id,
            service_id=body.service_id,
            specialist_id=body.specialist_id,
            starts_at=body.starts_at,
            duration_minutes=body.duration_minutes,
            now=now,
            hold_for=timedelta(minutes=settings.hold_minutes),
        )
        return await finish_booking(
            uow, guard, appointment, payment, yookassa=yookassa, settings=settings, now=now
        )


async def finish_booking(
    uow: UnitOfWork,
    guard: IdempotentRequest,
    appointment: Appointment,
    payment: Payment | None,
    *,
    yookassa: YooKassaClient,
    settings: BookingSettings,
    now: datetime,
) -> Response:
    """Commit a new booking; with prepayment, create the YooKassa payment after the hold is
    committed (the slot stays ours while YooKassa answers) and announce the hold."""
    if payment is None:
        result = present(appointment, None)
        await guard.remember(201, result)
        await uow.commit()
        return _created(result)
    await uow.commit()
    try:
        provider = await create_at_provider(
            yookassa, uow.session, appointment, payment, return_url=settings.yookassa_return_url
        )
    except (YooKassaError, YooKassaUnavailable) as exc:
        await release_unpaid_hold(uow, appointment.id, now)
        await guard.forget(uow.session)
        await uow.commit()
        raise _payment_unavailable() from exc
    result = await _announced(uow, appointment.id, payment.id, provider, settings, now)
    await guard.remember(201, result)
    await uow.commit()
    return _created(result)


async def _announced(
    uow: UnitOfWork,
    appointment_id: uuid.UUID,
    payment_id: uuid.UUID,
    provider: ProviderPayment,
    settings: BookingSettings,
    now: datetime,
) -> AppointmentPublic:
    """YooKassa made the payment (after the hold's commit): lock the pair again, record the
    payment and announce the hold; the appointment as the client sees it now."""
    held = await usecases.lock(uow.session, appointment_id)
    paying = await uow.session.get(
        Payment, payment_id, with_for_update=True, populate_existing=True
    )
    assert held is not None and paying is not None
    await announce_hold(
        uow,
        held,
        paying,
        provider,
        now=now,
        reconcile_after=timedelta(minutes=settings.payment_reconcile_minutes),
    )
    return present(held, paying)


def _period_filters(
    query: Any, statuses: list[StatusName] | None, start: datetime | None, end: datetime | None
) -> Any:
    if statuses:
        query = query.where(col(Appointment.status).in_(statuses))
    if start is not None:
        query = query.where(col(Appointment.starts_at) >= start)
    if end is not None:
        query = query.where(col(Appointment.starts_at) < end)
    return query


async def _page(
    session: AsyncSession, query: Any, limit: int, cursor: str | None
) -> tuple[list[Appointment], str | None]:
    # Ordered by start (then id): a calendar reads in time order, and the order is stable.
    return await keyset_page(
        session,
        query,
        order=col(Appointment.starts_at),
        tiebreak=col(Appointment.id),
        limit=limit,
        cursor=cursor,
    )


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
    query = _period_filters(
        select(Appointment).where(Appointment.client_id == owner), statuses, start, end
    )
    rows, next_cursor = await _page(uow.session, query, limit, cursor)
    payments = await latest_payments(uow.session, [r.id for r in rows])
    return Page[AppointmentPublic](
        items=[present(r, payments.get(r.id)) for r in rows], next_cursor=next_cursor
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
    query = _period_filters(
        select(Appointment).where(Appointment.specialist_id == specialist_id),
        statuses,
        start,
        end,
    )
    rows, next_cursor = await _page(uow.session, query, limit, cursor)
    payments = await latest_payments(uow.session, [r.id for r in rows])
    clients = {
        c.user_id: c
        for c in (
            await uow.session.exec(
                select(Client).where(col(Client.user_id).in_({r.client_id for r in rows}))
            )
        ).all()
    }
    items = []
    for row in rows:
        client = clients.get(row.client_id)
        items.append(
            CalendarEntry(
                **present(row, payments.get(row.id)).model_dump(),
                client_name=client.name if client else None,
            )
        )
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
    raise NotFound(Msg(ru="Такой записи нет.", en="No such appointment."))


async def _locked_for(
    uow: UnitOfWork, appointment_id: uuid.UUID, principal: Principal
) -> tuple[Appointment, usecases.Actor]:
    appointment = await usecases.lock(uow.session, appointment_id)
    if appointment is None:
        raise NotFound(Msg(ru="Такой записи нет.", en="No such appointment."))
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
    appointment = await get_or_404(
        uow.session,
        Appointment,
        appointment_id,
        Msg(ru="Такой записи нет.", en="No such appointment."),
    )
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
    await usecases.cancel(uow, appointment, actor=actor, reason=body.reason, now=now)
    result = await presented(uow.session, appointment)
    await guard.remember(200, result)
    await uow.commit()
    return _answer(result)


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
    settings: SettingsDep,
    yookassa: YooKassaDep,
    principal: CurrentPrincipal,
) -> Response:
    appointment = await usecases.lock(uow.session, appointment_id)
    if appointment is None or appointment.client_id != principal.user_id:
        raise NotFound(Msg(ru="Такой записи нет.", en="No such appointment."))
    payment = await usecases.pay_again(uow, appointment, now)
    await uow.commit()  # the payment's id is YooKassa's Idempotence-Key from here on
    try:
        provider = await create_at_provider(
            yookassa, uow.session, appointment, payment, return_url=settings.yookassa_return_url
        )
    except (YooKassaError, YooKassaUnavailable) as exc:
        failed = await uow.session.get(Payment, payment.id, with_for_update=True)
        assert failed is not None
        failed.status = "not_created"  # the hold stays; the client may try again
        await uow.commit()
        raise _payment_unavailable() from exc
    result = await _announced(uow, appointment.id, payment.id, provider, settings, now)
    await uow.commit()
    return _created(result)


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
    principal: CurrentPrincipal,
) -> AppointmentPublic:
    appointment, actor = await _locked_for(uow, appointment_id, principal)
    await usecases.reschedule(uow, appointment, starts_at=body.starts_at, actor=actor, now=now)
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
        raise NotFound(Msg(ru="Такой записи нет.", en="No such appointment."))
    await usecases.confirm_attendance(uow, appointment, via="web", now=now)
    result = await presented(uow.session, appointment)
    await uow.commit()
    return result

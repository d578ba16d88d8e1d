"""Intake forms (``/intake-forms``) and outcome records (``/appointments/{id}/outcome-record``).

Health data: a client writes an intake form for their first session and reads it back; the
specialist it is for reads it. Only the session's specialist writes and reads an outcome record
(its client gets 403, anyone else 404). Everything is refused with 403 ``consent_required``
while the client's health-data consent does not count. A specialist reads them only while
booking's copy of cabinet's roles says they are one: a removed role takes effect with
``cabinet.user.roles_changed``, whatever roles the caller's token still names.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery, Page, keyset_page
from servicekit.http.problems import Forbidden, Msg, NotFound, get_or_404
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal, require_roles
from servicekit.security.jwt import Principal
from sqlmodel import col, or_, select

from booking.adapters.tables import Appointment, IntakeForm
from booking.application import intake
from booking.application.people import is_specialist_now

intake_router = APIRouter(prefix="/intake-forms", tags=["intake forms"])
outcome_router = APIRouter(prefix="/appointments", tags=["outcome records"])

ClientPrincipal = Annotated[Principal, Depends(require_roles("client"))]
Answer = (
    SafeText | int | Annotated[float, Field(allow_inf_nan=False)] | bool | list[SafeText] | None
)
MAX_ANSWERS_CHARS = 50_000
_NO_APPOINTMENT = Msg(ru="Такой записи нет.", en="No such appointment.")


class IntakeFormCreate(BaseModel):
    """A client's answers for a specialist (before their first session)."""

    model_config = ConfigDict(extra="forbid")

    specialist_id: uuid.UUID
    appointment_id: uuid.UUID | None = Field(
        default=None, description="The upcoming appointment it is for; the next one by default"
    )
    answers: dict[Annotated[SafeText, Field(min_length=1, max_length=200)], Answer] = Field(
        min_length=1, max_length=200
    )

    @field_validator("answers")
    @classmethod
    def _bounded(cls, value: dict[str, Answer]) -> dict[str, Answer]:
        if len(json.dumps(value, ensure_ascii=False)) > MAX_ANSWERS_CHARS:
            raise ValueError(f"answers may take at most {MAX_ANSWERS_CHARS} characters")
        return value


class IntakeFormSummary(BaseModel):
    """An intake form without its answers (lists)."""

    id: uuid.UUID
    client_id: uuid.UUID
    specialist_id: uuid.UUID
    appointment_id: uuid.UUID | None
    submitted_at: datetime


class IntakeFormPublic(IntakeFormSummary):
    """An intake form with its answers."""

    answers: dict[str, Any]


def _summary(form: IntakeForm) -> IntakeFormSummary:
    return IntakeFormSummary(
        id=form.id,
        client_id=form.client_id,
        specialist_id=form.specialist_id,
        appointment_id=form.appointment_id,
        submitted_at=form.submitted_at,
    )


def _public(form: IntakeForm) -> IntakeFormPublic:
    return IntakeFormPublic(**_summary(form).model_dump(), answers=json.loads(form.answers))


@intake_router.post(
    "",
    response_model=IntakeFormPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Submit an intake form for an upcoming first session (client; needs consent)",
    responses=problem_responses(
        403, 409, descriptions={403: "email_not_verified, consent_required, forbidden"}
    ),
)
async def submit_intake_form(
    body: IntakeFormCreate, uow: UowDep, now: NowDep, principal: ClientPrincipal
) -> IntakeFormPublic:
    form = await intake.submit_intake(
        uow,
        client_id=principal.user_id,
        specialist_id=body.specialist_id,
        appointment_id=body.appointment_id,
        answers=body.answers,
        now=now,
    )
    result = _public(form)
    await uow.commit()
    return result


@intake_router.get(
    "",
    response_model=Page[IntakeFormSummary],
    summary="Intake forms: a client's own, or those addressed to the calling specialist",
)
async def list_intake_forms(
    uow: UowDep,
    principal: CurrentPrincipal,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[IntakeFormSummary]:
    mine = principal.user_id
    query = (
        select(IntakeForm).where(
            or_(IntakeForm.client_id == mine, IntakeForm.specialist_id == mine)
        )
        if await _is_specialist(uow, principal)
        else select(IntakeForm).where(IntakeForm.client_id == mine)
    )
    rows, next_cursor = await keyset_page(
        uow.session,
        query,
        order=col(IntakeForm.submitted_at),
        tiebreak=col(IntakeForm.id),
        limit=limit,
        cursor=cursor,
    )
    return Page[IntakeFormSummary](items=[_summary(r) for r in rows], next_cursor=next_cursor)


@intake_router.get(
    "/{form_id}",
    response_model=IntakeFormPublic,
    summary="One intake form (its client or its specialist; needs the client's consent)",
    responses=problem_responses(403, 404),
)
async def get_intake_form(
    form_id: uuid.UUID, uow: UowDep, now: NowDep, principal: CurrentPrincipal
) -> IntakeFormPublic:
    form = await intake.intake_form_for(
        uow.session,
        form_id,
        reader_id=principal.user_id,
        as_specialist=await _is_specialist(uow, principal),
        now=now,
    )
    return _public(form)


# -- outcome records ------------------------------------------------------------------------


class OutcomeRecordWrite(BaseModel):
    """The specialist's notes on a session."""

    model_config = ConfigDict(extra="forbid")

    notes: SafeText = Field(min_length=1, max_length=20_000)


class OutcomeRecordPublic(BaseModel):
    """An outcome record (the specialist's eyes only)."""

    id: uuid.UUID
    appointment_id: uuid.UUID
    client_id: uuid.UUID
    specialist_id: uuid.UUID
    notes: str
    created_at: datetime
    updated_at: datetime
    version: int


async def _is_specialist(uow: UowDep, principal: Principal) -> bool:
    """The caller holds the specialist role in the token *and* in booking's copy of cabinet's
    roles (the copy follows a removal within seconds; the token may not yet have expired)."""
    return principal.has_role("specialist") and await is_specialist_now(
        uow.session, principal.user_id
    )


async def _session_of_specialist(
    uow: UowDep, appointment_id: uuid.UUID, principal: Principal
) -> Appointment:
    appointment = await get_or_404(uow.session, Appointment, appointment_id, _NO_APPOINTMENT)
    if principal.user_id == appointment.specialist_id and await _is_specialist(uow, principal):
        return appointment
    if principal.user_id == appointment.client_id:
        raise Forbidden(
            Msg(
                ru="Итоги сессии — это заметки специалиста.",
                en="Outcome records are the specialist's notes.",
            )
        )
    raise NotFound(_NO_APPOINTMENT)


@outcome_router.put(
    "/{appointment_id}/outcome-record",
    response_model=OutcomeRecordPublic,
    summary="Write the outcome record of a completed session (its specialist; needs consent)",
    responses=problem_responses(403, 404, 409),
)
async def put_outcome_record(
    appointment_id: uuid.UUID,
    body: OutcomeRecordWrite,
    uow: UowDep,
    now: NowDep,
    principal: CurrentPrincipal,
) -> OutcomeRecordPublic:
    appointment = await _session_of_specialist(uow, appointment_id, principal)
    record = await intake.write_outcome(uow, appointment, notes=body.notes, now=now)
    result = OutcomeRecordPublic.model_validate(record, from_attributes=True)
    await uow.commit()
    return result


@outcome_router.get(
    "/{appointment_id}/outcome-record",
    response_model=OutcomeRecordPublic,
    summary="Read a session's outcome record (its specialist; needs the client's consent)",
    responses=problem_responses(403, 404),
)
async def get_outcome_record(
    appointment_id: uuid.UUID, uow: UowDep, now: NowDep, principal: CurrentPrincipal
) -> OutcomeRecordPublic:
    appointment = await _session_of_specialist(uow, appointment_id, principal)
    record = await intake.outcome_of(uow.session, appointment, now)
    return OutcomeRecordPublic.model_validate(record, from_attributes=True)

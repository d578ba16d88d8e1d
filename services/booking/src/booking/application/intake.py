"""P2 records: intake forms and outcome records, gated on the client's health-data consent.

Both are health data: encrypted at rest, written and read only while the client's consent for
``health_data_processing`` counts (booking's copy, from cabinet's events); without it every use
case here refuses with :class:`~booking.domain.consents.ConsentRequired`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from contracts.booking.v1 import IntakeSubmittedV1
from servicekit.db.faults import is_unique_violation
from servicekit.errors import DomainError
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Appointment, IntakeForm, OutcomeRecord
from booking.application.consents import require_health_consent
from booking.application.people import require_verified_email
from booking.domain.appointments import Status

#: One intake form per client and specialist (migration 0005).
ONE_FORM_PER_PAIR = "intake_forms_one_per_pair"


class NoUpcomingAppointment(DomainError):
    """An intake form goes with an upcoming appointment with its specialist."""

    code = "no_upcoming_appointment"


class IntakeExists(DomainError):
    """The specialist already has the client's intake form."""

    code = "intake_exists"


class IntakeFormNotFound(DomainError):
    """No such intake form (or not one the caller may read)."""

    code = "not_found"


class SessionNotCompleted(DomainError):
    """An outcome record is written once the session is marked completed."""

    code = "session_not_completed"


class OutcomeRecordNotFound(DomainError):
    """The session has no outcome record yet."""

    code = "not_found"


async def _has_intake_form(
    session: AsyncSession, client_id: uuid.UUID, specialist_id: uuid.UUID
) -> bool:
    found = (
        await session.exec(
            select(IntakeForm.id).where(
                IntakeForm.client_id == client_id, IntakeForm.specialist_id == specialist_id
            )
        )
    ).first()
    return found is not None


async def submit_intake(
    uow: UnitOfWork,
    *,
    client_id: uuid.UUID,
    specialist_id: uuid.UUID,
    appointment_id: uuid.UUID | None,
    answers: dict[str, Any],
    now: datetime,
) -> IntakeForm:
    """Store a client's intake form for their first session with a specialist (a verified
    email and a counting health-data consent first)."""
    session = uow.session
    await require_verified_email(session, client_id)
    await require_health_consent(session, client_id, now)
    query = select(Appointment).where(
        Appointment.client_id == client_id,
        Appointment.specialist_id == specialist_id,
        col(Appointment.status).in_([Status.HELD, Status.CONFIRMED]),
        col(Appointment.ends_at) > now,
    )
    if appointment_id is not None:
        query = query.where(Appointment.id == appointment_id)
    upcoming = (await session.exec(query.order_by(col(Appointment.starts_at)))).first()
    if upcoming is None:
        raise NoUpcomingAppointment()
    if await _has_intake_form(session, client_id, specialist_id):
        raise IntakeExists()
    form = IntakeForm(
        id=uuid.uuid4(),
        client_id=client_id,
        specialist_id=specialist_id,
        appointment_id=upcoming.id,
        answers=json.dumps(answers, ensure_ascii=False),  # the form's order, as answered
        submitted_at=now,
    )
    session.add(form)
    try:
        await session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc, ONE_FORM_PER_PAIR):  # a concurrent submission won
            raise IntakeExists() from None
        raise
    uow.emit(
        IntakeSubmittedV1(
            intake_form_id=form.id,
            client_id=client_id,
            specialist_id=specialist_id,
            appointment_id=upcoming.id,
            submitted_at=now,
        )
    )
    return form


async def intake_form_for(
    session: AsyncSession,
    form_id: uuid.UUID,
    *,
    reader_id: uuid.UUID,
    as_specialist: bool,
    now: datetime,
) -> IntakeForm:
    """An intake form its client reads, or its specialist (``as_specialist``: the reader is
    one now); while the client's health-data consent counts."""
    form = await session.get(IntakeForm, form_id)
    readers = [] if form is None else [form.client_id]
    if form is not None and as_specialist:
        readers.append(form.specialist_id)
    if form is None or reader_id not in readers:
        raise IntakeFormNotFound()
    await require_health_consent(session, form.client_id, now)
    return form


async def write_outcome(
    uow: UnitOfWork, appointment: Appointment, *, notes: str, now: datetime
) -> OutcomeRecord:
    """Create or replace the outcome record of a completed session."""
    session = uow.session
    if appointment.status != Status.COMPLETED:
        raise SessionNotCompleted()
    await require_health_consent(session, appointment.client_id, now)
    record = (
        await session.exec(
            select(OutcomeRecord)
            .where(OutcomeRecord.appointment_id == appointment.id)
            .with_for_update()
        )
    ).first()
    if record is None:
        record = OutcomeRecord(
            id=uuid.uuid4(),
            appointment_id=appointment.id,
            client_id=appointment.client_id,
            specialist_id=appointment.specialist_id,
            notes=notes,
            created_at=now,
            updated_at=now,
            version=1,
        )
        session.add(record)
    else:
        record.notes = notes
        record.updated_at = now
        record.version += 1
    return record


async def outcome_of(
    session: AsyncSession, appointment: Appointment, now: datetime
) -> OutcomeRecord:
    """The session's outcome record, while the client's health-data consent counts."""
    await require_health_consent(session, appointment.client_id, now)
    record = (
        await session.exec(
            select(OutcomeRecord).where(OutcomeRecord.appointment_id == appointment.id)
        )
    ).first()
    if record is None:
        raise OutcomeRecordNotFound()
    return record

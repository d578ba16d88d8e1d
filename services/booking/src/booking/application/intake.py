"""P2 records: intake forms and outcome records, gated on the client's health-data consent.

Both are health data: encrypted at rest, written and read only while the client's consent for
``health_data_processing`` counts (booking's copy, from cabinet's events). Without it the answer
is 403 ``consent_required``.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from contracts.booking.v1 import IntakeSubmittedV1
from servicekit.http.problems import Conflict, Msg, Problem
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import (
    Appointment,
    Consent,
    ConsentDocument,
    IntakeForm,
    OutcomeRecord,
)
from booking.application.people import require_verified_email
from booking.domain.appointments import Status
from booking.domain.consents import HEALTH_DATA, DocumentVersion, consent_counts

_INTAKE_EXISTS = Msg(
    ru="Этот специалист уже получил вашу анкету.",
    en="This specialist already has your intake form.",
)


async def has_health_consent(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> bool:
    """Whether the user's health-data consent counts now."""
    consent = await session.get(Consent, (user_id, HEALTH_DATA))
    if consent is None or not consent.granted:
        return False
    documents = (
        await session.exec(select(ConsentDocument).where(ConsentDocument.purpose == HEALTH_DATA))
    ).all()
    return consent_counts(
        consent.document_version,
        [DocumentVersion(d.version, d.effective_from, d.requires_reconsent) for d in documents],
        now,
    )


async def require_health_consent(
    session: AsyncSession, client_id: uuid.UUID, now: datetime
) -> None:
    """403 ``consent_required`` unless the client's health-data consent counts."""
    if not await has_health_consent(session, client_id, now):
        raise Problem(
            Msg(
                ru="Клиент не дал (или отозвал) согласие на обработку данных о здоровье; анкеты "
                "и записи о сессиях недоступны, пока согласие не будет дано.",
                en="The client has not given (or has withdrawn) consent to the processing of "
                "health data; intake forms and session records are unavailable until they do.",
            ),
            status=403,
            code="consent_required",
            title=Msg(ru="Нужно согласие", en="Consent required"),
        )


async def has_intake_form(
    session: AsyncSession, client_id: uuid.UUID, specialist_id: uuid.UUID
) -> bool:
    """Whether the client already gave this specialist an intake form."""
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
        raise Conflict(
            Msg(
                ru="Анкету можно отправить, только если у вас есть предстоящая запись к этому "
                "специалисту.",
                en="An intake form goes with an upcoming appointment with this specialist.",
            ),
            code="no_upcoming_appointment",
        )
    if await has_intake_form(session, client_id, specialist_id):
        raise Conflict(_INTAKE_EXISTS, code="intake_exists")
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
    except IntegrityError:
        raise Conflict(_INTAKE_EXISTS, code="intake_exists") from None
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


async def write_outcome(
    uow: UnitOfWork, appointment: Appointment, *, notes: str, now: datetime
) -> OutcomeRecord:
    """Create or replace the outcome record of a completed session."""
    session = uow.session
    if appointment.status != Status.COMPLETED:
        raise Conflict(
            Msg(
                ru="Итоги сессии записываются после того, как сессия отмечена как состоявшаяся.",
                en="An outcome record is written after the session is marked completed.",
            ),
            code="session_not_completed",
        )
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

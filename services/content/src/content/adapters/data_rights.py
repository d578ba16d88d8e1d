"""The queries behind content's answers to data-subject requests (content.application.
data_rights): each user's rows per table as JSON-ready dicts (decrypted), and the statements
that delete them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from servicekit.data_rights import iso, write
from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import (
    Appointment,
    Assignment,
    Consent,
    Questionnaire,
    Run,
    RunAnswer,
)

Rows = list[dict[str, Any]]


async def run_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The user's questionnaire runs with their answers and results, oldest first."""
    runs = (
        await session.exec(
            select(Run, Questionnaire.code)
            .where(Run.user_id == user_id, col(Run.questionnaire_id) == col(Questionnaire.id))
            .order_by(col(Run.started_at), col(Run.id))
        )
    ).all()
    ids = [run.id for run, _ in runs]
    answers: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if ids:
        for a in (
            await session.exec(
                select(RunAnswer)
                .where(col(RunAnswer.run_id).in_(ids))
                .order_by(col(RunAnswer.answered_at), col(RunAnswer.item_id))
            )
        ).all():
            answers.setdefault(a.run_id, []).append(
                {"item_id": a.item_id, "option": a.option, "answered_at": iso(a.answered_at)}
            )
    return [
        {
            "id": str(run.id),
            "questionnaire_id": str(run.questionnaire_id),
            "questionnaire_code": code,
            "definition_version": run.definition_version,
            "assignment_id": None if run.assignment_id is None else str(run.assignment_id),
            "status": run.status,
            "started_at": iso(run.started_at),
            "completed_at": iso(run.completed_at),
            "result": None if run.result is None else json.loads(run.result),
            "answers": answers.get(run.id, []),
        }
        for run, code in runs
    ]


async def assignment_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """Questionnaires assigned to the user."""
    rows = (
        await session.exec(
            select(Assignment)
            .where(Assignment.client_id == user_id)
            .order_by(col(Assignment.created_at), col(Assignment.id))
        )
    ).all()
    return [
        {
            "id": str(a.id),
            "specialist_id": str(a.specialist_id),
            "questionnaire_id": str(a.questionnaire_id),
            "repeat_every_days": a.repeat_every_days,
            "status": a.status,
            "due_at": iso(a.due_at),
            "created_at": iso(a.created_at),
            "last_completed_at": iso(a.last_completed_at),
            "cancelled_at": iso(a.cancelled_at),
        }
        for a in rows
    ]


async def consent_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """content's copy of the user's consents."""
    rows = (await session.exec(select(Consent).where(Consent.user_id == user_id))).all()
    return [
        {
            "purpose": c.purpose,
            "granted": c.granted,
            "document_version": c.document_version,
            "changed_at": iso(c.changed_at),
        }
        for c in rows
    ]


async def delete_runs(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The user's runs, their answers (cascade) and results: the rows go."""
    await write(session, delete(Run).where(col(Run.user_id) == user_id))


async def delete_assignments(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Questionnaires assigned to the user."""
    await write(session, delete(Assignment).where(col(Assignment.client_id) == user_id))


async def delete_copies(session: AsyncSession, user_id: uuid.UUID) -> None:
    """content's copies of the user's consents and appointments."""
    await write(session, delete(Consent).where(col(Consent.user_id) == user_id))
    await write(session, delete(Appointment).where(col(Appointment.client_id) == user_id))

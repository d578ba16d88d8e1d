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
    ModerationDecision,
    Post,
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


async def post_rows(session: AsyncSession, user_id: uuid.UUID) -> Rows:
    """The questions, comments and reviews the user wrote signed in (an anonymous post names
    nobody), whatever their state, each with every moderation decision on it: the text as it
    was decided on and the moderator's reason (the moderator is not named)."""
    posts = (
        await session.exec(
            select(Post)
            .where(Post.author_id == user_id)
            .order_by(col(Post.created_at), col(Post.id))
        )
    ).all()
    ids = [post.id for post in posts]
    decisions: dict[uuid.UUID, list[dict[str, Any]]] = {}
    if ids:
        for d in (
            await session.exec(
                select(ModerationDecision)
                .where(col(ModerationDecision.post_id).in_(ids))
                .order_by(col(ModerationDecision.decided_at), col(ModerationDecision.id))
            )
        ).all():
            decisions.setdefault(d.post_id, []).append(
                {
                    "decision": d.decision,
                    "automatic": d.moderator_id is None,
                    "reason": d.reason,
                    "flags": d.flags,
                    "text": d.text,
                    "decided_at": iso(d.decided_at),
                }
            )
    return [
        {
            "id": str(post.id),
            "kind": post.kind,
            "status": post.status,
            "language": post.language,
            "specialist_id": None if post.specialist_id is None else str(post.specialist_id),
            "item_id": None if post.item_id is None else str(post.item_id),
            "appointment_id": None if post.appointment_id is None else str(post.appointment_id),
            "rating": post.rating,
            "body": post.body,
            "contact": post.contact,
            "reason": post.reason,
            "answer": post.answer,
            "created_at": iso(post.created_at),
            "updated_at": iso(post.updated_at),
            "decided_at": iso(post.decided_at),
            "answered_at": iso(post.answered_at),
            "moderation": decisions.get(post.id, []),
        }
        for post in posts
    ]


async def delete_posts(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The user's posts and the moderation record of each (the text as decided on is theirs
    too): the rows go, public ones included."""
    mine = select(Post.id).where(col(Post.author_id) == user_id)
    await write(
        session, delete(ModerationDecision).where(col(ModerationDecision.post_id).in_(mine))
    )
    await write(session, delete(Post).where(col(Post.author_id) == user_id))


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

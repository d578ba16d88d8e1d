"""A client's scores over time per questionnaire, with bands and their sessions on the same
time axis, and the change since their first run (measurement-based care).

The client reads their own; their specialist reads it with the client's consent (sessions with
that specialist only). Each point is scored by its own run's version; the bands drawn and the
reliable-change threshold are those of the latest run's version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Appointment, DefinitionVersion, Run
from content.application import access, appointments, definitions
from content.application.callers import Caller
from content.application.runs import COMPLETED, StoredResult
from content.domain.definitions import Definition
from content.domain.trends import Change, change_since_first


@dataclass(frozen=True)
class Point:
    """One completed run."""

    run_id: uuid.UUID
    completed_at: datetime
    score: int
    band: str
    definition_version: int


@dataclass(frozen=True)
class Series:
    """A client's runs of one questionnaire, oldest first."""

    questionnaire_id: uuid.UUID
    definition: Definition
    min_score: int
    max_score: int
    points: list[Point]
    change: Change | None


@dataclass(frozen=True)
class Trend:
    """Everything a chart of a client's progress needs."""

    client_id: uuid.UUID
    series: list[Series]
    sessions: list[Appointment]


async def trend(
    session: AsyncSession,
    caller: Caller,
    client_id: uuid.UUID,
    now: datetime,
    questionnaire_id: uuid.UUID | None = None,
) -> Trend:
    """The client's trend (every questionnaire they completed, or one)."""
    await access.require_client_data_access(session, caller, client_id, now)
    query = select(Run, DefinitionVersion).where(
        Run.user_id == client_id,
        Run.status == COMPLETED,
        col(Run.version_id) == col(DefinitionVersion.id),
    )
    if questionnaire_id is not None:
        query = query.where(Run.questionnaire_id == questionnaire_id)
    rows = (await session.exec(query.order_by(col(Run.completed_at), col(Run.id)))).all()
    grouped: dict[uuid.UUID, list[tuple[Run, DefinitionVersion]]] = {}
    for run, version in rows:
        grouped.setdefault(run.questionnaire_id, []).append((run, version))
    series = []
    for qid, runs in grouped.items():
        latest = definitions.definition_of(runs[-1][1])
        points = []
        for run, _ in runs:
            assert run.result is not None and run.completed_at is not None
            result = StoredResult.read(run.result)
            points.append(
                Point(run.id, run.completed_at, result.score, result.band, run.definition_version)
            )
        low, high = latest.total_bounds()
        series.append(
            Series(
                questionnaire_id=qid,
                definition=latest,
                min_score=low,
                max_score=high,
                points=points,
                change=change_since_first([p.score for p in points], latest.reliable_change),
            )
        )
    specialist = None if caller.user_id == client_id else caller.user_id
    return Trend(
        client_id=client_id,
        series=series,
        sessions=await appointments.sessions_of(session, client_id, specialist),
    )

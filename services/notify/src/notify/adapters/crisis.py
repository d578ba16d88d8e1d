"""The crisis audit's queries: claiming a run once, an alert row by its delivery, the log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from servicekit.http.pagination import keyset_page
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from notify.adapters.tables import CrisisAlert, CrisisRun

DEADLINE = "crisis_deadline"  # the timer kind (one per run): alerts still unsent then escalate


async def claim_run(session: AsyncSession, run: CrisisRun) -> bool:
    """Record that ``run`` is being alerted about; ``False`` when it was already (another event
    for the same run, committed or in flight: the unique key waits for it and then says so)."""
    claimed = await session.exec(
        insert(CrisisRun)
        .values(
            run_id=run.run_id,
            client_id=run.client_id,
            questionnaire_code=run.questionnaire_code,
            completed_at=run.completed_at,
            received_at=run.received_at,
            route=run.route,
            source_event_id=run.source_event_id,
        )
        .on_conflict_do_nothing(index_elements=["run_id"])
        .returning(col(CrisisRun.run_id))
    )
    return claimed.first() is not None


async def alert_of_delivery(session: AsyncSession, delivery_id: uuid.UUID) -> CrisisAlert | None:
    """The audit row of a delivery (locked), if it is a crisis alert's or escalation's."""
    found = await session.exec(
        select(CrisisAlert).where(CrisisAlert.delivery_id == delivery_id).with_for_update()
    )
    return found.first()


async def unsent_alerts_of(session: AsyncSession, run_id: uuid.UUID) -> list[CrisisAlert]:
    """A run's alert rows still pending and not escalated (locked)."""
    found = await session.exec(
        select(CrisisAlert)
        .where(
            CrisisAlert.run_id == run_id,
            CrisisAlert.kind == "alert",
            CrisisAlert.status == "pending",
            col(CrisisAlert.escalated_at).is_(None),
        )
        .with_for_update()
    )
    return list(found.all())


@dataclass(frozen=True)
class AlertFilter:
    """What the crisis audit is narrowed to (``None``: any)."""

    run_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    status: str | None = None
    kind: str | None = None


async def crisis_log(
    session: AsyncSession, where: AlertFilter, *, limit: int, cursor: str | None
) -> tuple[list[CrisisAlert], str | None]:
    """One page of the crisis audit, newest first."""
    query = select(CrisisAlert)
    if where.run_id:
        query = query.where(CrisisAlert.run_id == where.run_id)
    if where.client_id:
        query = query.where(CrisisAlert.client_id == where.client_id)
    if where.status:
        query = query.where(CrisisAlert.status == where.status)
    if where.kind:
        query = query.where(CrisisAlert.kind == where.kind)
    rows, next_cursor = await keyset_page(
        session,
        query,
        order=col(CrisisAlert.created_at),
        tiebreak=col(CrisisAlert.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return list(rows), next_cursor

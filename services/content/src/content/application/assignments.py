"""A specialist asks one of their clients to take a questionnaire, once or repeatedly.

The client sees it in their list and takes it (a run they start links the oldest open
assignment of that questionnaire); completing the run fulfils it, or, for a repeating one,
sets the next due date. An assignment not taken by its due date is overdue: visible to the
specialist at once, and announced by ``content.assignment.overdue`` from a durable timer.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.content.v1 import AssignmentCreatedV1, AssignmentOverdueV1
from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, cancel, schedule
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Assignment, Questionnaire, Run
from content.application import appointments
from content.application.callers import Caller
from content.application.refusals import (
    AssignmentClosed,
    AssignmentNotFound,
    ClientNotFound,
    QuestionnaireArchived,
    QuestionnaireNotFound,
)
from content.domain.assignments import check_due, next_due

OPEN, DONE, CANCELLED = "open", "done", "cancelled"
OVERDUE = "assignment.overdue"


async def _arm(uow: UnitOfWork, assignment: Assignment) -> None:
    await schedule(
        uow.session,
        kind=OVERDUE,
        key=str(assignment.id),
        due_at=assignment.due_at,
        payload={"assignment_id": str(assignment.id), "occurrence": assignment.occurrence},
    )


async def _code(session: AsyncSession, questionnaire_id: uuid.UUID) -> str:
    questionnaire = await session.get(Questionnaire, questionnaire_id)
    assert questionnaire is not None
    return questionnaire.code


async def assign(
    uow: UnitOfWork,
    specialist: Caller,
    *,
    client_id: uuid.UUID,
    questionnaire_id: uuid.UUID,
    due_at: datetime,
    repeat_every_days: int | None,
    now: datetime,
) -> Assignment:
    """Ask ``client_id`` (one of the specialist's clients) to take a published questionnaire:
    the practice's or the specialist's own."""
    session = uow.session
    if not await appointments.is_client_of(session, client_id, specialist.user_id):
        raise ClientNotFound()
    questionnaire = await session.get(Questionnaire, questionnaire_id)
    if (
        questionnaire is None
        or not questionnaire.latest_version
        or questionnaire.owner_id not in (None, specialist.user_id)
    ):
        raise QuestionnaireNotFound()
    if questionnaire.archived_at is not None:
        raise QuestionnaireArchived()
    assignment = Assignment(
        id=uuid.uuid4(),
        specialist_id=specialist.user_id,
        client_id=client_id,
        questionnaire_id=questionnaire.id,
        repeat_every_days=repeat_every_days,
        status=OPEN,
        occurrence=1,
        due_at=check_due(due_at, now),
        created_at=now,
    )
    session.add(assignment)
    await session.flush()
    await _arm(uow, assignment)
    uow.emit(
        AssignmentCreatedV1(
            assignment_id=assignment.id,
            client_id=client_id,
            specialist_id=specialist.user_id,
            questionnaire_id=questionnaire.id,
            questionnaire_code=questionnaire.code,
            due_at=assignment.due_at,
            repeat_every_days=repeat_every_days,
            created_at=now,
        )
    )
    return assignment


async def for_new_run(
    session: AsyncSession,
    client_id: uuid.UUID | None,
    questionnaire_id: uuid.UUID,
    assignment_id: uuid.UUID | None,
) -> Assignment | None:
    """The assignment a new run fulfils: the one named (the client's own, open, of this
    questionnaire), else the client's oldest open one of this questionnaire, if any."""
    if assignment_id is not None:
        named = await session.get(Assignment, assignment_id)
        if (
            named is None
            or client_id is None
            or named.client_id != client_id
            or named.questionnaire_id != questionnaire_id
        ):
            raise AssignmentNotFound()
        if named.status != OPEN:
            raise AssignmentClosed()
        return named
    if client_id is None:
        return None
    oldest = await session.exec(
        select(Assignment)
        .where(
            Assignment.client_id == client_id,
            Assignment.questionnaire_id == questionnaire_id,
            Assignment.status == OPEN,
        )
        .order_by(col(Assignment.due_at), col(Assignment.id))
        .limit(1)
    )
    return oldest.first()


async def fulfil(uow: UnitOfWork, run: Run, now: datetime) -> uuid.UUID | None:
    """A completed run of an assignment: done, or due again for a repeating one. Returns the
    specialist who assigned it (``None``: not assigned)."""
    if run.assignment_id is None:
        return None
    assignment = await uow.session.get(Assignment, run.assignment_id, with_for_update=True)
    if assignment is None:
        return None
    if assignment.status == OPEN:
        assignment.last_completed_at, assignment.last_run_id = now, run.id
        if assignment.repeat_every_days:
            assignment.occurrence += 1
            assignment.due_at = next_due(now, assignment.repeat_every_days)
            assignment.overdue_since = None
            await _arm(uow, assignment)
        else:
            assignment.status = DONE
            await cancel(uow.session, kind=OVERDUE, key=str(assignment.id))
    return assignment.specialist_id


async def withdraw(
    uow: UnitOfWork, specialist: Caller, assignment_id: uuid.UUID, now: datetime
) -> Assignment:
    """The specialist cancels an open assignment of theirs."""
    assignment = await uow.session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is None or assignment.specialist_id != specialist.user_id:
        raise AssignmentNotFound()
    if assignment.status != OPEN:
        raise AssignmentClosed()
    assignment.status, assignment.cancelled_at = CANCELLED, now
    await cancel(uow.session, kind=OVERDUE, key=str(assignment.id))
    return assignment


async def one(session: AsyncSession, caller: Caller, assignment_id: uuid.UUID) -> Assignment:
    """An assignment its client or its specialist reads."""
    assignment = await session.get(Assignment, assignment_id)
    if assignment is None or caller.user_id not in (assignment.client_id, assignment.specialist_id):
        raise AssignmentNotFound()
    return assignment


async def listed(
    session: AsyncSession,
    caller: Caller,
    *,
    given: bool,
    client_id: uuid.UUID | None,
    overdue_only: bool,
    now: datetime,
    limit: int,
    cursor: str | None,
) -> tuple[list[Assignment], str | None]:
    """The caller's assignments, newest first: those given to them (a client), or those they
    gave (a specialist; of one client, or only the overdue ones, when asked)."""
    mine = Assignment.specialist_id if given else Assignment.client_id
    query = select(Assignment).where(mine == caller.user_id)
    if client_id is not None:
        query = query.where(Assignment.client_id == client_id)
    if overdue_only:
        query = query.where(Assignment.status == OPEN, col(Assignment.due_at) <= now)
    return await keyset_page(
        session,
        query,
        order=col(Assignment.created_at),
        tiebreak=col(Assignment.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )


async def mark_overdue(uow: UnitOfWork, timer: Timer) -> None:
    """The due time of an occurrence passed: still open, it is overdue (announced once)."""
    assignment = await uow.session.get(
        Assignment, uuid.UUID(timer.payload["assignment_id"]), with_for_update=True
    )
    if (
        assignment is None
        or assignment.status != OPEN
        or assignment.occurrence != timer.payload["occurrence"]
        or assignment.overdue_since is not None
    ):
        return
    assignment.overdue_since = uow.now()
    uow.emit(
        AssignmentOverdueV1(
            assignment_id=assignment.id,
            client_id=assignment.client_id,
            specialist_id=assignment.specialist_id,
            questionnaire_id=assignment.questionnaire_id,
            questionnaire_code=await _code(uow.session, assignment.questionnaire_id),
            due_at=assignment.due_at,
            occurrence=assignment.occurrence,
        )
    )

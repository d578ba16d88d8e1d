"""Assignments (``/assignments``): a specialist asks one of their clients to take a
questionnaire, once or every N days; the client lists theirs; the specialist sees which are
overdue."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import Instant
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.responses import problem_responses

from content.adapters.tables import Assignment
from content.api.deps import SettingsDep, SignedIn, Specialist
from content.application import assignments
from content.domain.assignments import MAX_REPEAT_DAYS, is_overdue

router = APIRouter(prefix="/assignments", tags=["assignments"])


class AssignmentCreate(BaseModel):
    """What a specialist asks of a client."""

    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    questionnaire_id: uuid.UUID
    due_at: Instant | None = Field(
        default=None, description="When it is due (default: ASSIGNMENT_DUE_DAYS from now)"
    )
    repeat_every_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_REPEAT_DAYS,
        description="Due again this many days after each completion (e.g. 14)",
    )


class AssignmentPublic(BaseModel):
    """An assignment as its client and its specialist see it."""

    id: uuid.UUID
    specialist_id: uuid.UUID
    client_id: uuid.UUID
    questionnaire_id: uuid.UUID
    status: str = Field(description="open, done or cancelled")
    due_at: datetime
    overdue: bool = Field(description="Open and past its due time")
    overdue_since: datetime | None
    repeat_every_days: int | None
    occurrence: int = Field(description="Which due date this is (repeating: 1, 2, ...)")
    last_completed_at: datetime | None
    last_run_id: uuid.UUID | None
    created_at: datetime
    cancelled_at: datetime | None


def _public(a: Assignment, now: datetime) -> AssignmentPublic:
    return AssignmentPublic(
        id=a.id,
        specialist_id=a.specialist_id,
        client_id=a.client_id,
        questionnaire_id=a.questionnaire_id,
        status=a.status,
        due_at=a.due_at,
        overdue=is_overdue(a.status, a.due_at, now),
        overdue_since=a.overdue_since,
        repeat_every_days=a.repeat_every_days,
        occurrence=a.occurrence,
        last_completed_at=a.last_completed_at,
        last_run_id=a.last_run_id,
        created_at=a.created_at,
        cancelled_at=a.cancelled_at,
    )


@router.post(
    "",
    response_model=AssignmentPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Ask one of one's clients to take a questionnaire (specialist)",
    responses=problem_responses(404, 409, 422),
)
async def create_assignment(
    body: AssignmentCreate,
    uow: UowDep,
    now: NowDep,
    specialist: Specialist,
    settings: SettingsDep,
) -> AssignmentPublic:
    assignment = await assignments.assign(
        uow,
        specialist,
        client_id=body.client_id,
        questionnaire_id=body.questionnaire_id,
        due_at=body.due_at or now + timedelta(days=settings.assignment_due_days),
        repeat_every_days=body.repeat_every_days,
        now=now,
    )
    result = _public(assignment, now)
    await uow.commit()
    return result


@router.get(
    "",
    response_model=Page[AssignmentPublic],
    summary="One's assignments, newest first: given to one (default) or given by one (a "
    "specialist; of one client, or only the overdue)",
)
async def list_assignments(
    uow: UowDep,
    now: NowDep,
    caller: SignedIn,
    scope: Annotated[
        Literal["received", "given"],
        Query(description="received: assigned to me; given: assigned by me"),
    ] = "received",
    client_id: uuid.UUID | None = None,
    overdue: Annotated[bool, Query(description="Only open ones past their due time")] = False,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[AssignmentPublic]:
    rows, next_cursor = await assignments.listed(
        uow.session,
        caller,
        given=scope == "given",
        client_id=client_id,
        overdue_only=overdue,
        now=now,
        limit=limit,
        cursor=cursor,
    )
    return Page[AssignmentPublic](items=[_public(a, now) for a in rows], next_cursor=next_cursor)


@router.get(
    "/{assignment_id}",
    response_model=AssignmentPublic,
    summary="One assignment (its client or its specialist)",
    responses=problem_responses(404),
)
async def read_assignment(
    assignment_id: uuid.UUID, uow: UowDep, now: NowDep, caller: SignedIn
) -> AssignmentPublic:
    return _public(await assignments.one(uow.session, caller, assignment_id), now)


@router.post(
    "/{assignment_id}/cancel",
    response_model=AssignmentPublic,
    summary="Cancel an open assignment (its specialist)",
    responses=problem_responses(404, 409),
)
async def cancel_assignment(
    assignment_id: uuid.UUID, uow: UowDep, now: NowDep, specialist: Specialist
) -> AssignmentPublic:
    assignment = await assignments.withdraw(uow, specialist, assignment_id, now)
    result = _public(assignment, now)
    await uow.commit()
    return result

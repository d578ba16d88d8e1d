"""The moderation queue (``/moderation``, a moderator or an admin): pending posts by age and
flags with their counts; approve, reject with a reason, or ask for changes; every decision
audited with the text as it was."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.responses import problem_responses

from content.adapters.tables import ModerationDecision, Post
from content.api.deps import Reviewer
from content.api.posts import PostPublic, post_public
from content.application import moderation

router = APIRouter(prefix="/moderation", tags=["moderation"])


class QueuedPost(PostPublic):
    """A post as a moderator sees it (an anonymous asker's contact included)."""

    author_id: uuid.UUID | None = Field(description="None: anonymous")
    contact: str | None


class DecisionPublic(BaseModel):
    """One audited decision."""

    id: uuid.UUID
    moderator_id: uuid.UUID | None = Field(description="None: the automatic checks")
    decision: str = Field(description="approved, rejected, changes_requested or auto_rejected")
    reason: str | None
    flags: list[str]
    text: str = Field(description="The post's text exactly as it was decided on")
    decided_at: datetime


class QueuedPostWithAudit(QueuedPost):
    """A post with every decision taken on it."""

    decisions: list[DecisionPublic]


class DecisionCreate(BaseModel):
    """A moderator's decision; a rejection or a request for changes says why."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "request_changes"]
    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^[^\x00]+$")] | None = (
        None
    )

    @model_validator(mode="after")
    def _reason_given(self) -> DecisionCreate:
        if self.decision != "approve" and not self.reason:
            raise ValueError("a rejection or a request for changes needs a reason")
        return self


class QueueCounts(BaseModel):
    """How much waits."""

    pending: int
    by_kind: dict[str, int]
    by_flag: dict[str, int]
    by_age: dict[str, int] = Field(description="under_1h, under_24h (1 to 24 h) and over_24h")
    oldest_at: datetime | None


def _queued(p: Post) -> QueuedPost:
    return QueuedPost(**post_public(p).model_dump(), author_id=p.author_id, contact=p.contact)


def _decision(d: ModerationDecision) -> DecisionPublic:
    return DecisionPublic(
        id=d.id,
        moderator_id=d.moderator_id,
        decision=d.decision,
        reason=d.reason,
        flags=list(d.flags),
        text=d.text,
        decided_at=d.decided_at,
    )


@router.get(
    "/queue",
    response_model=Page[QueuedPost],
    summary="Pending posts by age (oldest first), of a kind, with a flag, or only the flagged",
)
async def list_queue(
    uow: UowDep,
    _moderator: Reviewer,
    kind: Literal["question", "comment", "review"] | None = None,
    flag: Literal["links", "stop_word", "personal_data"] | None = None,
    flagged: Annotated[bool | None, Query(description="Only flagged (true) or unflagged")] = None,
    order: Literal["oldest", "newest"] = "oldest",
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[QueuedPost]:
    rows, next_cursor = await moderation.queue(
        uow.session,
        kind=kind,
        flag=flag,
        flagged=flagged,
        newest_first=order == "newest",
        limit=limit,
        cursor=cursor,
    )
    return Page[QueuedPost](items=[_queued(p) for p in rows], next_cursor=next_cursor)


@router.get(
    "/queue/counts",
    response_model=QueueCounts,
    summary="How many posts wait, by kind, by flag and by age, and since when",
)
async def queue_counts(uow: UowDep, now: NowDep, _moderator: Reviewer) -> QueueCounts:
    c = await moderation.counts(uow.session, now)
    return QueueCounts(
        pending=c.pending,
        by_kind=c.by_kind,
        by_flag=c.by_flag,
        by_age=c.by_age,
        oldest_at=c.oldest_at,
    )


@router.get(
    "/posts/{post_id}",
    response_model=QueuedPostWithAudit,
    summary="A post with every decision taken on it (the audit)",
    responses=problem_responses(404),
)
async def read_moderated_post(
    post_id: uuid.UUID, uow: UowDep, _moderator: Reviewer
) -> QueuedPostWithAudit:
    post, decisions = await moderation.one(uow.session, post_id)
    return QueuedPostWithAudit(
        **_queued(post).model_dump(), decisions=[_decision(d) for d in decisions]
    )


@router.post(
    "/posts/{post_id}/decision",
    response_model=QueuedPost,
    summary="Approve a pending post, reject it with a reason or ask for changes (its "
    "signed-in author is told)",
    responses=problem_responses(404, 409),
)
async def decide(
    post_id: uuid.UUID, body: DecisionCreate, uow: UowDep, now: NowDep, moderator: Reviewer
) -> QueuedPost:
    post = await moderation.decide(uow, moderator, post_id, body.decision, body.reason, now)
    result = _queued(post)
    await uow.commit()
    return result

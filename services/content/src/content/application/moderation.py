"""The moderation queue: moderators (the ``moderator`` or ``admin`` role) approve a pending
post, reject it with a reason, or ask its author for changes.

Every decision is audited in ``moderation_decisions``: who, when, what, why, the flags, and the
text exactly as it was decided on (encrypted: it is the author's own words, possibly about
their health, and a rejected text is never public). A signed-in author is told through notify
(``content.moderation.decided``, the reason sealed as personal data); an anonymous author sees
the decision with their post token (notify knows no way to reach them, and their contact never
travels in an event).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from contracts.content.v1 import ModerationDecidedV1
from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Item, ModerationDecision, Post
from content.application.callers import Caller
from content.application.posts import (
    APPROVED,
    CHANGES_REQUESTED,
    COMMENT,
    PENDING,
    QUESTION,
    REJECTED,
)
from content.application.refusals import PostClosed, PostNotFound

Decision = Literal["approve", "reject", "request_changes"]
_OUTCOME: dict[Decision, tuple[str, Literal["approved", "rejected", "changes_requested"]]] = {
    "approve": (APPROVED, "approved"),
    "reject": (REJECTED, "rejected"),
    "request_changes": (CHANGES_REQUESTED, "changes_requested"),
}
_TITLES = {
    QUESTION: {"ru": "Вопрос специалисту", "en": "Question to a specialist"},
    "review": {"ru": "Отзыв о специалисте", "en": "Review of a specialist"},
}


@dataclass(frozen=True)
class QueueCounts:
    """How much waits, by kind and by flag, and since when."""

    pending: int
    by_kind: dict[str, int]
    by_flag: dict[str, int]
    by_age: dict[str, int]
    oldest_at: datetime | None


#: Ages the queue is counted by (waiting less than an hour, less than a day, longer).
AGES = (("under_1h", timedelta(hours=1)), ("under_24h", timedelta(days=1)))


async def _title(session: AsyncSession, post: Post) -> str:
    """What the author's notice names the post by (never its text)."""
    if post.kind == COMMENT and post.item_id is not None:
        item = await session.get(Item, post.item_id)
        if item is not None and item.title:
            return item.title
        return "Комментарий" if post.language == "ru" else "Comment"
    return _TITLES[post.kind][post.language]


async def decide(
    uow: UnitOfWork,
    moderator: Caller,
    post_id: uuid.UUID,
    decision: Decision,
    reason: str | None,
    now: datetime,
) -> Post:
    """A moderator's decision on a pending post (audited; its signed-in author is told)."""
    post = await uow.session.get(Post, post_id, with_for_update=True)
    if post is None:
        raise PostNotFound()
    if post.status != PENDING:
        raise PostClosed()
    status, told = _OUTCOME[decision]
    post.status, post.decided_at, post.decided_by = status, now, moderator.user_id
    post.reason, post.updated_at = reason, now
    uow.session.add(
        ModerationDecision(
            id=uuid.uuid4(),
            post_id=post.id,
            moderator_id=moderator.user_id,
            decision=told,
            reason=reason,
            flags=list(post.flags),
            text=post.body,
            decided_at=now,
        )
    )
    if post.author_id is not None:
        uow.emit(
            ModerationDecidedV1(
                item_id=post.id,
                item_title=await _title(uow.session, post),
                author_id=post.author_id,
                moderator_id=moderator.user_id,
                decision=told,
                reason=reason,
            )
        )
    return post


async def queue(
    session: AsyncSession,
    *,
    kind: str | None,
    flag: str | None,
    flagged: bool | None,
    newest_first: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[Post], str | None]:
    """Pending posts by age (oldest first unless asked), of one kind, with one flag, or only
    the flagged (or unflagged) ones."""
    query = select(Post).where(Post.status == PENDING)
    if kind is not None:
        query = query.where(Post.kind == kind)
    if flag is not None:
        query = query.where(col(Post.flags).contains([flag]))
    if flagged is not None:
        query = query.where(
            func.jsonb_array_length(col(Post.flags)) > 0
            if flagged
            else func.jsonb_array_length(col(Post.flags)) == 0
        )
    return await keyset_page(
        session,
        query,
        order=col(Post.created_at),
        tiebreak=col(Post.id),
        limit=limit,
        cursor=cursor,
        newest_first=newest_first,
    )


async def counts(session: AsyncSession, now: datetime) -> QueueCounts:
    """The queue's size by kind, by flag and by age, and its oldest post's time."""
    by_kind: dict[str, int] = dict(
        (
            await session.exec(
                select(Post.kind, func.count()).where(Post.status == PENDING).group_by(Post.kind)
            )
        ).all()
    )
    by_flag: dict[str, int] = dict(
        (
            await (await session.connection()).execute(
                text(
                    "SELECT f, count(*) FROM posts, jsonb_array_elements_text(flags) AS f "
                    "WHERE status = 'pending' GROUP BY f"
                )
            )
        ).all()
    )
    oldest = (
        await session.exec(select(func.min(col(Post.created_at))).where(Post.status == PENDING))
    ).one()
    by_age: dict[str, int] = {}
    counted = 0
    for name, age in AGES:
        younger = (
            await session.exec(
                select(func.count()).where(Post.status == PENDING, col(Post.created_at) > now - age)
            )
        ).one()
        by_age[name], counted = younger - counted, younger
    pending = sum(by_kind.values())
    by_age["over_24h"] = pending - counted
    return QueueCounts(
        pending=pending, by_kind=by_kind, by_flag=by_flag, by_age=by_age, oldest_at=oldest
    )


async def one(session: AsyncSession, post_id: uuid.UUID) -> tuple[Post, list[ModerationDecision]]:
    """A post as a moderator sees it, with every decision taken on it, oldest first."""
    post = await session.get(Post, post_id)
    if post is None:
        raise PostNotFound()
    rows = await session.exec(
        select(ModerationDecision)
        .where(ModerationDecision.post_id == post_id)
        .order_by(col(ModerationDecision.decided_at))
    )
    return post, list(rows.all())

"""User posts: questions to specialists (anonymous or signed in), comments on published items,
and reviews of a specialist by a client after a completed appointment with them.

Every post enters moderation (:mod:`content.application.moderation`): the automatic checks
first (they may reject it at once, audited like any decision, or flag it), then a moderator.
Only approved posts are public. Their authors may edit or withdraw them while pending (or
when changes were asked for); an anonymous question is reached with the post token shown once
when it is sent. Posts are rate-limited per author and per source address.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from servicekit.db.faults import is_unique_violation
from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Appointment, Item, ModerationDecision, Post
from content.application.callers import Caller
from content.application.refusals import (
    AlreadyReviewed,
    ItemNotFound,
    NotAnswerable,
    NotReviewable,
    PostClosed,
    PostNotFound,
    RateLimited,
    SpecialistNotFound,
)
from content.domain import prechecks
from content.domain.items import PUBLISHED

QUESTION, COMMENT, REVIEW = "question", "comment", "review"
PENDING, CHANGES_REQUESTED, APPROVED, REJECTED, WITHDRAWN = (
    "pending",
    "changes_requested",
    "approved",
    "rejected",
    "withdrawn",
)
#: States in which the author may still change or withdraw their post.
OPEN = (PENDING, CHANGES_REQUESTED)
AUTO_REJECTED = "auto_rejected"
WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Rules:
    """The checks and limits a new post meets (from the settings)."""

    key: bytes
    reject_stems: list[str]
    flag_stems: list[str]
    max_links: int
    per_author_hour: int
    per_address_hour: int
    duplicate_window: timedelta


@dataclass(frozen=True)
class Sender:
    """Who sends a post: a signed-in user, or nobody known; and from where."""

    caller: Caller | None
    address: str


def token_hash(token: str) -> str:
    """What is stored of an anonymous post's token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def _wait(
    session: AsyncSession, column: object, value: object, allowed: int, now: datetime
) -> int | None:
    """Seconds until one more post is allowed for ``column == value`` (None: allowed now)."""
    since = now - WINDOW
    count, oldest = (
        await session.exec(
            select(func.count(), func.min(col(Post.created_at))).where(
                column == value, col(Post.created_at) > since
            )
        )
    ).one()
    if count < allowed:
        return None
    return max(1, int((oldest + WINDOW - now).total_seconds()) + 1)


async def _limit(
    session: AsyncSession, rules: Rules, sender: Sender, source: str, now: datetime
) -> None:
    waits = [await _wait(session, Post.source_index, source, rules.per_address_hour, now)]
    if sender.caller is not None:
        waits.append(
            await _wait(session, Post.author_id, sender.caller.user_id, rules.per_author_hour, now)
        )
    longest = max((w for w in waits if w is not None), default=None)
    if longest is not None:
        raise RateLimited(longest)


async def _repeated(session: AsyncSession, post: Post, rules: Rules, now: datetime) -> bool:
    """The same text from the same author or address within the duplicate window."""
    same_sender = col(Post.source_index) == post.source_index
    if post.author_id is not None:
        same_sender = same_sender | (col(Post.author_id) == post.author_id)
    found = (
        await session.exec(
            select(Post.id)
            .where(
                Post.text_index == post.text_index,
                same_sender,
                col(Post.created_at) > now - rules.duplicate_window,
                Post.id != post.id,
            )
            .limit(1)
        )
    ).first()
    return found is not None


async def screen(uow: UnitOfWork, post: Post, rules: Rules, now: datetime) -> None:
    """Run the automatic checks on the post's current text: rejected at once (audited), or
    pending with its flags."""
    verdict = prechecks.check(
        post.kind,
        post.body,
        reject_stems=rules.reject_stems,
        flag_stems=rules.flag_stems,
        max_links=rules.max_links,
        duplicate=await _repeated(uow.session, post, rules, now),
    )
    post.flags = list(verdict.flags)
    post.updated_at = now
    if verdict.rejection is None:
        post.status = PENDING
        return
    post.status, post.decided_at, post.decided_by = REJECTED, now, None
    post.reason = verdict.rejection
    uow.session.add(
        ModerationDecision(
            id=uuid.uuid4(),
            post_id=post.id,
            moderator_id=None,
            decision=AUTO_REJECTED,
            reason=verdict.rejection,
            flags=list(verdict.flags),
            text=post.body,
            decided_at=now,
        )
    )


async def _submit(uow: UnitOfWork, post: Post, sender: Sender, rules: Rules, now: datetime) -> Post:
    source = prechecks.source_index(sender.address, rules.key)
    await _limit(uow.session, rules, sender, source, now)
    post.source_index = source
    post.text_index = prechecks.text_index(post.body, rules.key)
    post.created_at = post.updated_at = now
    uow.session.add(post)
    await uow.session.flush()
    await screen(uow, post, rules, now)
    await uow.session.flush()
    return post


async def is_known_specialist(session: AsyncSession, specialist_id: uuid.UUID) -> bool:
    """A specialist content knows of: one with appointments (booking's) or items."""
    for column in (Appointment.specialist_id, Item.author_id):
        found = (await session.exec(select(column).where(column == specialist_id).limit(1))).first()
        if found is not None:
            return True
    return False


async def ask(
    uow: UnitOfWork,
    sender: Sender,
    rules: Rules,
    *,
    specialist_id: uuid.UUID,
    body: str,
    language: str,
    contact: str | None,
    now: datetime,
) -> tuple[Post, str | None]:
    """A question to a specialist; an anonymous asker gets the post token (once)."""
    if not await is_known_specialist(uow.session, specialist_id):
        raise SpecialistNotFound()
    token = None if sender.caller is not None else secrets.token_urlsafe(24)
    post = Post(
        id=uuid.uuid4(),
        kind=QUESTION,
        status=PENDING,
        author_id=sender.caller.user_id if sender.caller else None,
        token_hash=token_hash(token) if token else None,
        contact=contact if sender.caller is None else None,
        language=language,
        specialist_id=specialist_id,
        body=body,
        flags=[],
        text_index="",
    )
    return await _submit(uow, post, sender, rules, now), token


async def comment(
    uow: UnitOfWork,
    sender: Sender,
    caller: Caller,
    rules: Rules,
    *,
    item_id: uuid.UUID,
    body: str,
    now: datetime,
) -> Post:
    """A comment on a published item (signed in)."""
    item = await uow.session.get(Item, item_id)
    if item is None or item.status != PUBLISHED:
        raise ItemNotFound()
    post = Post(
        id=uuid.uuid4(),
        kind=COMMENT,
        status=PENDING,
        author_id=caller.user_id,
        language=item.language,
        item_id=item.id,
        body=body,
        flags=[],
        text_index="",
    )
    return await _submit(uow, post, sender, rules, now)


async def review(
    uow: UnitOfWork,
    sender: Sender,
    caller: Caller,
    rules: Rules,
    *,
    appointment_id: uuid.UUID,
    rating: int,
    body: str,
    language: str,
    now: datetime,
) -> Post:
    """A client's review of the specialist of one of their completed appointments, once per
    appointment (content's copy of booking's appointments says which are)."""
    appointment = await uow.session.get(Appointment, appointment_id)
    if (
        appointment is None
        or appointment.client_id != caller.user_id
        or appointment.status != "completed"
    ):
        raise NotReviewable()
    taken = (
        await uow.session.exec(
            select(Post.id).where(
                Post.appointment_id == appointment_id,
                Post.kind == REVIEW,
                Post.status != WITHDRAWN,
            )
        )
    ).first()
    if taken is not None:
        raise AlreadyReviewed()
    post = Post(
        id=uuid.uuid4(),
        kind=REVIEW,
        status=PENDING,
        author_id=caller.user_id,
        language=language,
        specialist_id=appointment.specialist_id,
        appointment_id=appointment_id,
        rating=rating,
        body=body,
        flags=[],
        text_index="",
    )
    try:
        return await _submit(uow, post, sender, rules, now)
    except IntegrityError as exc:  # a second review of it sent at the same moment
        if is_unique_violation(exc, "posts_one_review_per_appointment"):
            raise AlreadyReviewed() from None
        raise


async def own(
    session: AsyncSession,
    caller: Caller | None,
    token: str | None,
    post_id: uuid.UUID,
    *,
    lock: bool = False,
) -> Post:
    """A post its author reads: by their account, or (anonymous) by the post token."""
    post = await session.get(Post, post_id, with_for_update=lock)
    if post is None:
        raise PostNotFound()
    if post.author_id is not None:
        if caller is None or caller.user_id != post.author_id:
            raise PostNotFound()
    elif token is None or post.token_hash is None or token_hash(token) != post.token_hash:
        raise PostNotFound()
    return post


async def edit(
    uow: UnitOfWork,
    caller: Caller | None,
    token: str | None,
    post_id: uuid.UUID,
    rules: Rules,
    *,
    body: str | None,
    rating: int | None,
    contact: str | None,
    now: datetime,
) -> Post:
    """The author changes their post while it waits (or changes were asked for): it is
    checked again and waits again."""
    post = await own(uow.session, caller, token, post_id, lock=True)
    if post.status not in OPEN:
        raise PostClosed()
    if body is not None:
        post.body = body
        post.text_index = prechecks.text_index(body, rules.key)
    if rating is not None and post.kind == REVIEW:
        post.rating = rating
    if contact is not None and post.author_id is None:
        post.contact = contact or None
    await screen(uow, post, rules, now)
    return post


async def withdraw(
    uow: UnitOfWork, caller: Caller | None, token: str | None, post_id: uuid.UUID, now: datetime
) -> Post:
    """The author takes back their post while it waits."""
    post = await own(uow.session, caller, token, post_id, lock=True)
    if post.status not in OPEN:
        raise PostClosed()
    post.status, post.updated_at = WITHDRAWN, now
    return post


async def mine(
    session: AsyncSession, caller: Caller, *, limit: int, cursor: str | None
) -> tuple[list[Post], str | None]:
    """The caller's posts, newest first, whatever their state."""
    return await keyset_page(
        session,
        select(Post).where(Post.author_id == caller.user_id),
        order=col(Post.created_at),
        tiebreak=col(Post.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )


async def answer(
    uow: UnitOfWork, specialist: Caller, post_id: uuid.UUID, text: str, now: datetime
) -> Post:
    """The specialist a question was addressed to answers it publicly, once it is approved
    (again: the answer is replaced)."""
    post = await uow.session.get(Post, post_id, with_for_update=True)
    if post is None or post.kind != QUESTION or post.specialist_id != specialist.user_id:
        raise PostNotFound()
    if post.status != APPROVED:
        raise NotAnswerable()
    post.answer, post.answered_by, post.answered_at = text, specialist.user_id, now
    post.updated_at = now
    return post


async def addressed_to(
    session: AsyncSession,
    specialist: Caller,
    *,
    unanswered: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[Post], str | None]:
    """Approved questions to the calling specialist, oldest first (only the unanswered ones
    when asked)."""
    query = select(Post).where(
        Post.kind == QUESTION, Post.specialist_id == specialist.user_id, Post.status == APPROVED
    )
    if unanswered:
        query = query.where(col(Post.answered_at).is_(None))
    return await keyset_page(
        session,
        query,
        order=col(Post.created_at),
        tiebreak=col(Post.id),
        limit=limit,
        cursor=cursor,
    )


async def public(
    session: AsyncSession,
    *,
    kind: str,
    item_id: uuid.UUID | None = None,
    specialist_id: uuid.UUID | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Post], str | None]:
    """Approved posts as everyone sees them: an item's comments, a specialist's reviews, a
    specialist's answered questions; oldest first."""
    query = select(Post).where(Post.kind == kind, Post.status == APPROVED)
    if item_id is not None:  # the comments of a published item (not of an archived one)
        query = query.where(
            Post.item_id == item_id,
            col(Post.item_id).in_(select(Item.id).where(Item.status == PUBLISHED)),
        )
    if specialist_id is not None:
        query = query.where(Post.specialist_id == specialist_id)
    if kind == QUESTION:
        query = query.where(col(Post.answered_at).is_not(None))
    return await keyset_page(
        session,
        query,
        order=col(Post.created_at),
        tiebreak=col(Post.id),
        limit=limit,
        cursor=cursor,
    )

"""Articles and resources: writing them, the review before publication, and archiving.

An author (a specialist, or an admin) writes an item as revisions. A draft is submitted for
review; a reviewer (a moderator or an admin) publishes it or returns it with a note. Once an
item is published, an edit is a new revision: the live text stays public, unchanged, until
the new revision is approved and replaces it. Each publication announces
``content.item.published``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from contracts.content.v1 import ItemPublishedV1
from servicekit.db.faults import is_unique_violation
from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Item, ItemRevision, LibraryState
from content.application.callers import Caller
from content.application.refusals import ItemNotFound, NothingToReview, SlugTaken
from content.domain.items import (
    ARCHIVED,
    DRAFT,
    IN_REVIEW,
    PUBLISHED,
    RETURNED,
    SUPERSEDED,
    WrongState,
    check_media,
    normalize_topics,
    plain_text,
    reading_minutes,
    render,
)


@dataclass(frozen=True)
class Text:
    """What an author writes in a revision."""

    title: str
    summary: str | None
    body: str
    topics: list[str]
    cover_url: str | None
    media_url: str | None


def _may_edit(caller: Caller, item: Item) -> bool:
    return caller.admin or item.author_id == caller.user_id


def _may_see(caller: Caller, item: Item) -> bool:
    return _may_edit(caller, item) or caller.moderator


async def _item(session: AsyncSession, caller: Caller, item_id: uuid.UUID, *, lock: bool) -> Item:
    item = await session.get(Item, item_id, with_for_update=lock)
    if item is None or not _may_see(caller, item):
        raise ItemNotFound()
    return item


async def _revision(session: AsyncSession, item_id: uuid.UUID, number: int) -> ItemRevision:
    revision = await session.get(ItemRevision, (item_id, number), with_for_update=True)
    assert revision is not None
    return revision


async def _library_changed(session: AsyncSession) -> None:
    """What the public library shows changed: remembered searches are stale."""
    await session.exec(
        update(LibraryState)
        .where(col(LibraryState.id) == 1)
        .values(version=col(LibraryState.version) + 1)
    )


def _fill(revision: ItemRevision, text: Text) -> None:
    revision.title, revision.summary, revision.body = text.title, text.summary, text.body
    revision.topics = normalize_topics(text.topics)
    revision.cover_url, revision.media_url = text.cover_url, text.media_url


async def create(
    uow: UnitOfWork,
    author: Caller,
    *,
    kind: str,
    language: str,
    slug: str,
    text: Text,
    now: datetime,
) -> tuple[Item, ItemRevision]:
    """A new item, its first revision a draft (the slug is taken at once)."""
    check_media(kind, text.media_url)
    item = Item(
        id=uuid.uuid4(),
        kind=kind,
        language=language,
        slug=slug,
        author_id=author.user_id,
        status=DRAFT,
        revision=0,
        pending_revision=1,
        topics=[],
        created_at=now,
        updated_at=now,
    )
    revision = ItemRevision(
        item_id=item.id,
        number=1,
        status=DRAFT,
        created_by=author.user_id,
        created_at=now,
        updated_at=now,
        title="",
        body="",
    )
    _fill(revision, text)
    uow.session.add(item)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        if is_unique_violation(exc, "items_slug"):
            raise SlugTaken() from exc
        raise
    uow.session.add(revision)
    await uow.session.flush()
    return item, revision


async def edit(
    uow: UnitOfWork, caller: Caller, item_id: uuid.UUID, text: Text, now: datetime
) -> tuple[Item, ItemRevision]:
    """Change the working revision; of a published item with none, a new one from the edit
    (the live text stays as it is). A revision under review goes back to draft."""
    item = await _item(uow.session, caller, item_id, lock=True)
    if not _may_edit(caller, item):
        raise ItemNotFound()
    if item.status == ARCHIVED:
        raise WrongState(item.status)
    check_media(item.kind, text.media_url)
    if item.pending_revision is None:
        number = item.revision + 1
        revision = ItemRevision(
            item_id=item.id,
            number=number,
            status=DRAFT,
            created_by=caller.user_id,
            created_at=now,
            updated_at=now,
            title="",
            body="",
        )
        uow.session.add(revision)
        item.pending_revision = number
    else:
        revision = await _revision(uow.session, item.id, item.pending_revision)
        revision.status, revision.updated_at = DRAFT, now
        revision.submitted_at = revision.submitted_by = None
        if item.status == IN_REVIEW:
            item.status = DRAFT
    _fill(revision, text)
    item.updated_at = now
    await uow.session.flush()
    return item, revision


async def submit(
    uow: UnitOfWork, caller: Caller, item_id: uuid.UUID, now: datetime
) -> tuple[Item, ItemRevision]:
    """The working revision goes to review."""
    item = await _item(uow.session, caller, item_id, lock=True)
    if not _may_edit(caller, item):
        raise ItemNotFound()
    if item.status == ARCHIVED:
        raise WrongState(item.status)
    if item.pending_revision is None:
        raise NothingToReview()
    revision = await _revision(uow.session, item.id, item.pending_revision)
    if revision.status not in (DRAFT, RETURNED):
        raise WrongState(revision.status)
    revision.status, revision.submitted_by, revision.submitted_at = IN_REVIEW, caller.user_id, now
    if item.status == DRAFT:
        item.status = IN_REVIEW
    item.updated_at = now
    return item, revision


async def approve(
    uow: UnitOfWork, reviewer: Caller, item_id: uuid.UUID, now: datetime
) -> tuple[Item, ItemRevision]:
    """The revision under review becomes the live text (announced)."""
    item = await _item(uow.session, reviewer, item_id, lock=True)
    if item.status == ARCHIVED:
        raise WrongState(item.status)
    if item.pending_revision is None:
        raise NothingToReview()
    revision = await _revision(uow.session, item.id, item.pending_revision)
    if revision.status != IN_REVIEW:
        raise NothingToReview()
    if item.revision:
        (await _revision(uow.session, item.id, item.revision)).status = SUPERSEDED
    revision.status, revision.reviewed_by, revision.reviewed_at = PUBLISHED, reviewer.user_id, now
    first = item.first_published_at is None
    html = render(revision.body)
    item.title, item.summary, item.body = revision.title, revision.summary, revision.body
    item.body_html, item.body_text = html, plain_text(html)
    item.topics, item.cover_url, item.media_url = (
        list(revision.topics),
        revision.cover_url,
        revision.media_url,
    )
    item.reading_minutes = reading_minutes(revision.title, revision.summary, item.body_text)
    item.revision, item.pending_revision = revision.number, None
    item.status, item.published_at, item.published_by = PUBLISHED, now, reviewer.user_id
    item.first_published_at = item.first_published_at or now
    item.updated_at = now
    await _library_changed(uow.session)
    uow.emit(
        ItemPublishedV1(
            item_id=item.id,
            kind="resource" if item.kind != "article" else "article",
            slug=item.slug,
            title=revision.title,
            summary=revision.summary,
            language=item.language,
            tags=list(item.topics),
            author_id=item.author_id,
            revision=revision.number,
            first_publication=first,
            published_at=now,
        )
    )
    return item, revision


async def return_to_author(
    uow: UnitOfWork, reviewer: Caller, item_id: uuid.UUID, note: str, now: datetime
) -> tuple[Item, ItemRevision]:
    """The revision under review goes back to its author with a note (the live text, if any,
    stays)."""
    item = await _item(uow.session, reviewer, item_id, lock=True)
    if item.pending_revision is None:
        raise NothingToReview()
    revision = await _revision(uow.session, item.id, item.pending_revision)
    if revision.status != IN_REVIEW:
        raise NothingToReview()
    revision.status, revision.reviewed_by, revision.reviewed_at = RETURNED, reviewer.user_id, now
    revision.review_note = note
    if item.status == IN_REVIEW:
        item.status = DRAFT
    item.updated_at = now
    return item, revision


async def archive(uow: UnitOfWork, caller: Caller, item_id: uuid.UUID, now: datetime) -> Item:
    """Off the public pages for good (its author, a moderator or an admin)."""
    item = await _item(uow.session, caller, item_id, lock=True)
    if item.status == ARCHIVED:
        raise WrongState(item.status)
    item.status, item.archived_at, item.archived_by = ARCHIVED, now, caller.user_id
    item.updated_at = now
    await _library_changed(uow.session)
    return item


async def one(
    session: AsyncSession, caller: Caller, item_id: uuid.UUID
) -> tuple[Item, ItemRevision | None]:
    """An item as its author, a moderator or an admin sees it, with the revision not yet
    live (if any)."""
    item = await _item(session, caller, item_id, lock=False)
    pending = None
    if item.pending_revision is not None:
        pending = await session.get(ItemRevision, (item.id, item.pending_revision))
    return item, pending


async def revisions(
    session: AsyncSession, caller: Caller, item_id: uuid.UUID
) -> list[ItemRevision]:
    """Every revision of an item, oldest first: who wrote, submitted and reviewed each."""
    await _item(session, caller, item_id, lock=False)
    rows = await session.exec(
        select(ItemRevision)
        .where(ItemRevision.item_id == item_id)
        .order_by(col(ItemRevision.number))
    )
    return list(rows.all())


async def listed(
    session: AsyncSession,
    caller: Caller,
    *,
    status: str | None,
    mine: bool,
    limit: int,
    cursor: str | None,
) -> tuple[list[Item], str | None]:
    """Items for those who write and review them: one's own (``mine``, or always for an
    author who is not a reviewer), else all; by status (``in_review``: the review queue)."""
    query = select(Item)
    if mine or not (caller.moderator or caller.admin):
        query = query.where(Item.author_id == caller.user_id)
    if status == IN_REVIEW:
        # Waiting for review: a first revision, or a new revision of a published item.
        query = query.where(
            col(Item.pending_revision).is_not(None),
            col(Item.id).in_(
                select(ItemRevision.item_id).where(
                    ItemRevision.status == IN_REVIEW,
                    ItemRevision.number == Item.pending_revision,
                )
            ),
        )
    elif status is not None:
        query = query.where(Item.status == status)
    return await keyset_page(
        session,
        query,
        order=col(Item.updated_at),
        tiebreak=col(Item.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )

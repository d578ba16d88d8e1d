"""Articles and resources as their authors and reviewers handle them (``/items``): write a
draft, submit it, publish it or return it (a moderator or an admin), edit a published one (a
new revision, reviewed before it replaces the live text), archive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.responses import problem_responses

from content.adapters.tables import Item, ItemRevision
from content.api.deps import Author, Reviewer, SignedIn
from content.application import items
from content.domain.items import ItemKind, Language, render

router = APIRouter(prefix="/items", tags=["items"])

Slug = Annotated[
    str,
    Field(
        min_length=1,
        max_length=120,
        pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
        description="The item's address in its language (stays across revisions)",
        examples=["kak-spravitsya-s-trevogoj"],
    ),
]
Topic = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^\x00]+$")]
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]


class ItemText(BaseModel):
    """What an author writes in a revision."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[Text, Field(min_length=1, max_length=200)]
    summary: Annotated[Text, Field(max_length=1000)] | None = None
    body: Annotated[Text, Field(max_length=200_000, description="Markdown")] = ""
    topics: list[Topic] = Field(default_factory=list, max_length=20)
    cover_url: HttpUrl | None = None
    media_url: HttpUrl | None = Field(
        default=None, description="Where an audio or video resource plays from (required)"
    )

    def text(self) -> items.Text:
        return items.Text(
            title=self.title,
            summary=self.summary,
            body=self.body,
            topics=list(self.topics),
            cover_url=str(self.cover_url) if self.cover_url else None,
            media_url=str(self.media_url) if self.media_url else None,
        )


class ItemCreate(ItemText):
    """A new item."""

    kind: ItemKind
    language: Language
    slug: Slug


class RevisionPublic(BaseModel):
    """One revision: its text, its state and who did what when."""

    number: int
    status: str = Field(description="draft, in_review, returned, published or superseded")
    title: str
    summary: str | None
    body: str
    body_html: str = Field(description="The body rendered and sanitized")
    topics: list[str]
    cover_url: str | None
    media_url: str | None
    created_by: uuid.UUID
    created_at: datetime
    submitted_by: uuid.UUID | None
    submitted_at: datetime | None
    reviewed_by: uuid.UUID | None
    reviewed_at: datetime | None
    review_note: str | None


class ItemPublic(BaseModel):
    """An item as its author and reviewers see it: the live text and the revision pending."""

    id: uuid.UUID
    kind: str
    language: str
    slug: str
    author_id: uuid.UUID
    status: str = Field(description="draft, in_review, published or archived")
    revision: int = Field(description="The live revision (0: never published)")
    title: str | None
    summary: str | None
    body_html: str | None
    topics: list[str]
    cover_url: str | None
    media_url: str | None
    reading_minutes: int | None
    pending: RevisionPublic | None = Field(description="The revision not yet live, if any")
    created_at: datetime
    updated_at: datetime
    first_published_at: datetime | None
    published_at: datetime | None
    published_by: uuid.UUID | None
    archived_at: datetime | None
    archived_by: uuid.UUID | None


def revision_public(r: ItemRevision) -> RevisionPublic:
    return RevisionPublic(
        number=r.number,
        status=r.status,
        title=r.title,
        summary=r.summary,
        body=r.body,
        body_html=render(r.body),
        topics=list(r.topics),
        cover_url=r.cover_url,
        media_url=r.media_url,
        created_by=r.created_by,
        created_at=r.created_at,
        submitted_by=r.submitted_by,
        submitted_at=r.submitted_at,
        reviewed_by=r.reviewed_by,
        reviewed_at=r.reviewed_at,
        review_note=r.review_note,
    )


def _public(i: Item, pending: ItemRevision | None) -> ItemPublic:
    return ItemPublic(
        id=i.id,
        kind=i.kind,
        language=i.language,
        slug=i.slug,
        author_id=i.author_id,
        status=i.status,
        revision=i.revision,
        title=i.title,
        summary=i.summary,
        body_html=i.body_html,
        topics=list(i.topics),
        cover_url=i.cover_url,
        media_url=i.media_url,
        reading_minutes=i.reading_minutes,
        pending=revision_public(pending) if pending is not None else None,
        created_at=i.created_at,
        updated_at=i.updated_at,
        first_published_at=i.first_published_at,
        published_at=i.published_at,
        published_by=i.published_by,
        archived_at=i.archived_at,
        archived_by=i.archived_by,
    )


class ReturnNote(BaseModel):
    """Why a revision goes back to its author."""

    model_config = ConfigDict(extra="forbid")

    note: Annotated[Text, Field(min_length=1, max_length=2000)]


@router.post(
    "",
    response_model=ItemPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Start an item: its first revision is a draft (a specialist or an admin)",
    responses=problem_responses(409, 422),
)
async def create_item(body: ItemCreate, uow: UowDep, now: NowDep, author: Author) -> ItemPublic:
    item, revision = await items.create(
        uow,
        author,
        kind=body.kind,
        language=body.language,
        slug=body.slug,
        text=body.text(),
        now=now,
    )
    result = _public(item, revision)
    await uow.commit()
    return result


@router.get(
    "",
    response_model=Page[ItemPublic],
    summary="Items one writes (an author) or reviews (a moderator or an admin: all of them); "
    "?status=in_review is the review queue",
)
async def list_items(
    uow: UowDep,
    caller: SignedIn,
    item_status: Annotated[
        Literal["draft", "in_review", "published", "archived"] | None,
        Query(alias="status", description="in_review: a revision waits for review"),
    ] = None,
    mine: Annotated[bool, Query(description="Only one's own")] = False,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ItemPublic]:
    rows, next_cursor = await items.listed(
        uow.session, caller, status=item_status, mine=mine, limit=limit, cursor=cursor
    )
    return Page[ItemPublic](items=[_public(i, None) for i in rows], next_cursor=next_cursor)


@router.get(
    "/{item_id}",
    response_model=ItemPublic,
    summary="One item with its pending revision (its author, a moderator or an admin)",
    responses=problem_responses(404),
)
async def read_item(item_id: uuid.UUID, uow: UowDep, caller: SignedIn) -> ItemPublic:
    item, pending = await items.one(uow.session, caller, item_id)
    return _public(item, pending)


@router.get(
    "/{item_id}/revisions",
    response_model=list[RevisionPublic],
    summary="Every revision of an item: who wrote, submitted and reviewed each, when",
    responses=problem_responses(404),
)
async def list_revisions(item_id: uuid.UUID, uow: UowDep, caller: SignedIn) -> list[RevisionPublic]:
    return [revision_public(r) for r in await items.revisions(uow.session, caller, item_id)]


@router.put(
    "/{item_id}/draft",
    response_model=ItemPublic,
    summary="Write the working revision (of a published item: a new one; the live text stays)",
    responses=problem_responses(404, 409, 422),
)
async def write_draft(
    item_id: uuid.UUID, body: ItemText, uow: UowDep, now: NowDep, caller: SignedIn
) -> ItemPublic:
    item, revision = await items.edit(uow, caller, item_id, body.text(), now)
    result = _public(item, revision)
    await uow.commit()
    return result


@router.post(
    "/{item_id}/submit",
    response_model=ItemPublic,
    summary="Send the working revision for review (its author)",
    responses=problem_responses(404, 409),
)
async def submit_item(item_id: uuid.UUID, uow: UowDep, now: NowDep, caller: SignedIn) -> ItemPublic:
    item, revision = await items.submit(uow, caller, item_id, now)
    result = _public(item, revision)
    await uow.commit()
    return result


@router.post(
    "/{item_id}/publish",
    response_model=ItemPublic,
    summary="Approve the revision under review: it becomes the live text (a moderator or an "
    "admin); announces content.item.published",
    responses=problem_responses(404, 409),
)
async def publish_item(
    item_id: uuid.UUID, uow: UowDep, now: NowDep, reviewer: Reviewer
) -> ItemPublic:
    item, _ = await items.approve(uow, reviewer, item_id, now)
    result = _public(item, None)
    await uow.commit()
    return result


@router.post(
    "/{item_id}/return",
    response_model=ItemPublic,
    summary="Return the revision under review to its author with a note (a moderator or an admin)",
    responses=problem_responses(404, 409),
)
async def return_item(
    item_id: uuid.UUID, body: ReturnNote, uow: UowDep, now: NowDep, reviewer: Reviewer
) -> ItemPublic:
    item, revision = await items.return_to_author(uow, reviewer, item_id, body.note, now)
    result = _public(item, revision)
    await uow.commit()
    return result


@router.post(
    "/{item_id}/archive",
    response_model=ItemPublic,
    summary="Take an item off the public pages (its author, a moderator or an admin)",
    responses=problem_responses(404, 409),
)
async def archive_item(
    item_id: uuid.UUID, uow: UowDep, now: NowDep, caller: SignedIn
) -> ItemPublic:
    item = await items.archive(uow, caller, item_id, now)
    result = _public(item, None)
    await uow.commit()
    return result

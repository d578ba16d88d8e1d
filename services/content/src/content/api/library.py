"""The public library (``/library``): published articles and resources listed, searched (in
Russian and English, ranked and highlighted, typo-tolerant) and read. Nobody needs to sign
in; drafts, items under review and archived ones are never shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from servicekit.http.deps import RuntimeDep, UowDep
from servicekit.http.pagination import CursorQuery
from servicekit.http.responses import problem_responses

from content.application import library
from content.domain.items import ItemKind, Language

router = APIRouter(prefix="/library", tags=["library"])


def _cache(runtime: RuntimeDep) -> library.LibraryCache:
    cache = getattr(runtime, "library_cache", None)
    assert isinstance(cache, library.LibraryCache), "content runs on ContentRuntime"
    return cache


LibraryCacheDep = Annotated[library.LibraryCache, Depends(_cache)]


class LibraryItem(BaseModel):
    """A published item in a list; searched, with its highlights."""

    id: uuid.UUID
    kind: str
    language: str
    slug: str
    title: str
    summary: str | None
    topics: list[str]
    author_id: uuid.UUID
    cover_url: str | None
    media_url: str | None
    reading_minutes: int
    published_at: datetime
    revision: int
    rank: float | None = Field(default=None, description="Relevance (searched lists)")
    title_highlight: str | None = Field(
        default=None, description="The title as HTML, the matched words in <mark>"
    )
    highlight: str | None = Field(
        default=None, description="Fragments of the text as HTML, the matched words in <mark>"
    )


class LibraryPage(BaseModel):
    """A page of the library."""

    items: list[LibraryItem]
    next_cursor: str | None = None
    match: Literal["full_text", "similar", "none", "latest"] = Field(
        description="full_text: the words were found; similar: nothing was, these titles are "
        "close to the query (a typo); latest: no query, newest first"
    )


class Article(LibraryItem):
    """A published item to read: its live text, rendered."""

    body_html: str = Field(description="The body as sanitized HTML")


def _item(hit: library.Hit) -> LibraryItem:
    return LibraryItem(**hit.__dict__)


@router.get(
    "",
    response_model=LibraryPage,
    summary="Published items: searched by q (best first, highlighted) or newest first; "
    "filtered by topic, kind, author and language",
    responses=problem_responses(422),
)
async def list_library(
    uow: UowDep,
    cache: LibraryCacheDep,
    q: Annotated[str | None, Query(max_length=200, description="Words to search for")] = None,
    topic: Annotated[str | None, Query(max_length=60)] = None,
    kind: ItemKind | None = None,
    author_id: uuid.UUID | None = None,
    language: Language | None = None,
    limit: Annotated[int, Query(ge=1, le=50, description="page size (default 20, max 50)")] = 20,
    cursor: CursorQuery = None,
) -> LibraryPage:
    filters = library.Filters(topic=topic, kind=kind, author_id=author_id, language=language)
    hits, next_cursor, match = await library.page(
        uow.session, cache, q, filters, limit=limit, cursor=cursor
    )
    return LibraryPage(
        items=[_item(h) for h in hits],
        next_cursor=next_cursor,
        match=match,
    )


@router.get(
    "/{language}/{slug}",
    response_model=Article,
    summary="A published item to read, by its language and slug",
    responses=problem_responses(404),
)
async def read_article(
    language: Language, slug: Annotated[str, Path(max_length=120)], uow: UowDep
) -> Article:
    item = await library.read(uow.session, language, slug)
    assert item.title is not None and item.body_html is not None
    assert item.published_at is not None and item.reading_minutes is not None
    return Article(
        id=item.id,
        kind=item.kind,
        language=item.language,
        slug=item.slug,
        title=item.title,
        summary=item.summary,
        topics=list(item.topics),
        author_id=item.author_id,
        cover_url=item.cover_url,
        media_url=item.media_url,
        reading_minutes=item.reading_minutes,
        published_at=item.published_at,
        revision=item.revision,
        body_html=item.body_html,
    )

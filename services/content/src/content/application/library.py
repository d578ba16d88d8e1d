"""The public library: published items listed, searched and read.

Search is PostgreSQL full-text search over the live text of published items: each item is
matched in its own language's configuration (``russian`` or ``english``: the query is made in
both and each row uses its own), weighted title > summary > body, ranked by ``ts_rank`` and
highlighted by ``ts_headline``. When nothing matches, a typo-tolerant fallback ranks titles by
trigram word similarity (``pg_trgm``). Only ``published`` rows are ever read: drafts, items
under review and archived ones are never found, and an item whose new revision is under
review shows its live text.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from servicekit.errors import DomainError
from servicekit.http.pagination import keyset_page
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Item, LibraryState
from content.application.refusals import ItemNotFound
from content.domain.items import PUBLISHED
from content.domain.search import START, STOP, safe_headline, tsquery_text

Match = Literal["full_text", "similar", "none"]

_HEADLINE = (
    f"StartSel={START}, StopSel={STOP}, MaxFragments=2, MaxWords=24, MinWords=8, "
    'FragmentDelimiter=" … "'
)
#: Highlights come from the summary and the text's first this many characters (ts_headline
#: parses all it is given: a long article would cost milliseconds a row).
_HEADLINE_CHARS = 5000
_TITLE_HEADLINE = f"StartSel={START}, StopSel={STOP}, HighlightAll=true"
_CONFIG = "(CASE i.language WHEN 'ru' THEN 'russian'::regconfig ELSE 'english'::regconfig END)"
_COLUMNS = (
    "i.id, i.kind, i.language, i.slug, i.title, i.summary, i.topics, i.author_id, i.cover_url, "
    "i.media_url, i.reading_minutes, i.published_at, i.revision"
)


class InvalidSearchCursor(DomainError):
    """The cursor is not one this search gave out."""

    code = "invalid_cursor"


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to."""

    topic: str | None = None
    kind: str | None = None
    author_id: uuid.UUID | None = None
    language: str | None = None


@dataclass(frozen=True)
class Hit:
    """A published item in a list, with its highlights when searched."""

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
    rank: float | None = None
    title_highlight: str | None = None
    highlight: str | None = None


def _hit(row: Any, **extra: Any) -> Hit:
    return Hit(
        id=row.id,
        kind=row.kind,
        language=row.language,
        slug=row.slug,
        title=row.title,
        summary=row.summary,
        topics=list(row.topics),
        author_id=row.author_id,
        cover_url=row.cover_url,
        media_url=row.media_url,
        reading_minutes=row.reading_minutes,
        published_at=row.published_at,
        revision=row.revision,
        **extra,
    )


def _cursor(mode: str, rank: float, item_id: uuid.UUID) -> str:
    raw = json.dumps([mode, rank, str(item_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _uncursor(cursor: str) -> tuple[str, float, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        mode, rank, item_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if mode not in ("f", "t") or not isinstance(rank, int | float):
            raise ValueError(mode)
        return mode, float(rank), uuid.UUID(item_id)
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise InvalidSearchCursor() from exc


def _where(filters: Filters, params: dict[str, Any]) -> str:
    clauses = ["i.status = 'published'"]
    if filters.topic is not None:
        clauses.append("i.topics @> :topic")
        params["topic"] = [filters.topic.casefold().strip()]
    if filters.kind is not None:
        clauses.append("i.kind = :kind")
        params["kind"] = filters.kind
    if filters.author_id is not None:
        clauses.append("i.author_id = :author_id")
        params["author_id"] = filters.author_id
    if filters.language is not None:
        clauses.append("i.language = :language")
        params["language"] = filters.language
    return " AND ".join(clauses)


def _bind(sql: str, params: dict[str, Any]) -> Any:
    statement = text(sql)
    if "topic" in params:
        statement = statement.bindparams(bindparam("topic", type_=JSONB))
    return statement


def full_text_sql(where: str, page: str) -> str:
    """The ranked, highlighted full-text query (``:tq`` the ``to_tsquery`` text, ``:limit``);
    ``bench/content_search.py`` runs the same SQL bare."""
    return f"""
        WITH q AS (SELECT to_tsquery('russian', :tq) AS ru, to_tsquery('english', :tq) AS en),
        ranked AS (
            SELECT i.id, 'russian'::regconfig AS cfg, q.ru AS query,
                   ts_rank(i.search, q.ru)::float8 AS rank
            FROM items i, q
            WHERE {where} AND i.language = 'ru' AND i.search @@ q.ru
            UNION ALL
            SELECT i.id, 'english'::regconfig AS cfg, q.en AS query,
                   ts_rank(i.search, q.en)::float8 AS rank
            FROM items i, q
            WHERE {where} AND i.language = 'en' AND i.search @@ q.en
        ),
        page AS (SELECT * FROM ranked r {page} ORDER BY r.rank DESC, r.id DESC LIMIT :limit)
        SELECT {_COLUMNS}, page.rank,
               ts_headline(page.cfg, i.title, page.query, '{_TITLE_HEADLINE}') AS title_hl,
               ts_headline(page.cfg,
                           concat_ws(' ', i.summary, left(i.body_text, {_HEADLINE_CHARS})),
                           page.query, '{_HEADLINE}') AS body_hl
        FROM page JOIN items i ON i.id = page.id
        ORDER BY page.rank DESC, page.id DESC
    """


async def _full_text(
    session: AsyncSession,
    query: str,
    filters: Filters,
    after: tuple[float, uuid.UUID] | None,
    limit: int,
) -> list[Hit]:
    params: dict[str, Any] = {"tq": query, "limit": limit + 1}
    where = _where(filters, params)
    page = ""
    if after is not None:
        page = "WHERE (r.rank < :rank OR (r.rank = :rank AND r.id < :after))"
        params["rank"], params["after"] = after
    sql = full_text_sql(where, page)
    rows = (await (await session.connection()).execute(_bind(sql, params), params)).all()
    return [
        _hit(
            row,
            rank=row.rank,
            title_highlight=safe_headline(row.title_hl),
            highlight=safe_headline(row.body_hl),
        )
        for row in rows
    ]


async def _similar(
    session: AsyncSession,
    query: str,
    filters: Filters,
    after: tuple[float, uuid.UUID] | None,
    limit: int,
) -> list[Hit]:
    params: dict[str, Any] = {"q": query, "limit": limit + 1}
    where = _where(filters, params)
    page = ""
    if after is not None:
        page = "WHERE (r.rank < :rank OR (r.rank = :rank AND r.id < :after))"
        params["rank"], params["after"] = after
    sql = f"""
        WITH ranked AS (
            SELECT {_COLUMNS}, word_similarity(:q, i.title)::float8 AS rank
            FROM items i
            WHERE {where} AND :q <% i.title
        )
        SELECT * FROM ranked r {page} ORDER BY r.rank DESC, r.id DESC LIMIT :limit
    """
    rows = (await (await session.connection()).execute(_bind(sql, params), params)).all()
    return [_hit(row, rank=row.rank) for row in rows]


async def search(
    session: AsyncSession, q: str, filters: Filters, *, limit: int, cursor: str | None
) -> tuple[list[Hit], str | None, Match]:
    """Published items matching ``q``, best first, with highlights; when the full-text query
    finds nothing, titles similar to it (typos). The cursor says which of the two it pages."""
    mode, after = "f", None
    if cursor is not None:
        mode, rank, last = _uncursor(cursor)
        after = (rank, last)
    tq = tsquery_text(q)
    hits: list[Hit] = []
    if mode == "f" and tq is not None:
        hits = await _full_text(session, tq, filters, after, limit)
    if mode == "t" or (not hits and after is None):
        mode = "t"
        hits = await _similar(session, " ".join(q.split())[:200], filters, after, limit)
    more = len(hits) > limit
    hits = hits[:limit]
    next_cursor = None
    if more and hits:
        assert hits[-1].rank is not None
        next_cursor = _cursor(mode, hits[-1].rank, hits[-1].id)
    match: Match = "none" if not hits else ("full_text" if mode == "f" else "similar")
    return hits, next_cursor, match


async def latest(
    session: AsyncSession, filters: Filters, *, limit: int, cursor: str | None
) -> tuple[list[Hit], str | None]:
    """Published items, newest publication first."""
    query = select(Item).where(Item.status == PUBLISHED)
    if filters.topic is not None:
        query = query.where(col(Item.topics).contains([filters.topic.casefold().strip()]))
    if filters.kind is not None:
        query = query.where(Item.kind == filters.kind)
    if filters.author_id is not None:
        query = query.where(Item.author_id == filters.author_id)
    if filters.language is not None:
        query = query.where(Item.language == filters.language)
    rows, next_cursor = await keyset_page(
        session,
        query,
        order=col(Item.published_at),
        tiebreak=col(Item.id),
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    return [_hit(row) for row in rows], next_cursor


async def read(session: AsyncSession, language: str, slug: str) -> Item:
    """A published item by its language and slug (its live revision)."""
    item = (
        await session.exec(
            select(Item).where(
                Item.language == language, Item.slug == slug, Item.status == PUBLISHED
            )
        )
    ).first()
    if item is None:
        raise ItemNotFound()
    return item


# -- remembered pages ------------------------------------------------------------------------

#: What a page of the library is asked by: the words (``None``: newest first), the filters,
#: the page size and the cursor.
PageKey = tuple[str | None, Filters, int, str | None]
PageMatch = Literal["full_text", "similar", "none", "latest"]
Answer = tuple[list[Hit], str | None, PageMatch]


class LibraryCache:
    """Recent pages of the public library, each with the library's version it was computed
    at; beyond ``capacity`` the least recently used is forgotten (0: nothing is remembered).
    One per process and checked against ``library_state`` before every use (one indexed read),
    so a publication or an archiving in any process makes every remembered page stale at once.
    Searches repeat (a practice's readers look for the same few dozen topics): a remembered
    page skips the ranking and the highlighting."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._pages: OrderedDict[PageKey, tuple[int, Answer]] = OrderedDict()
        self.remembered = 0
        self.computed = 0

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: PageKey, version: int) -> Answer | None:
        found = self._pages.get(key)
        if found is None or found[0] != version:
            return None
        self._pages.move_to_end(key)
        self.remembered += 1
        return found[1]

    def put(self, key: PageKey, version: int, answer: Answer) -> None:
        self.computed += 1
        if self.capacity <= 0:
            return
        self._pages[key] = (version, answer)
        self._pages.move_to_end(key)
        while len(self._pages) > self.capacity:
            self._pages.popitem(last=False)


async def version(session: AsyncSession) -> int:
    """The library's version: it changes with every publication and archiving."""
    state = await session.get(LibraryState, 1)
    return state.version if state is not None else 0


async def page(
    session: AsyncSession,
    cache: LibraryCache,
    q: str | None,
    filters: Filters,
    *,
    limit: int,
    cursor: str | None,
) -> Answer:
    """A page of the library: searched when ``q`` has words (``match`` full_text, similar or
    none), else newest first (``latest``); remembered until the library changes."""
    words = " ".join(q.split()) if q else None
    key: PageKey = (words or None, filters, limit, cursor)
    current = await version(session)
    known = cache.get(key, current)
    if known is not None:
        return known
    answer: Answer
    if words:
        answer = await search(session, words, filters, limit=limit, cursor=cursor)
    else:
        hits, next_cursor = await latest(session, filters, limit=limit, cursor=cursor)
        answer = (hits, next_cursor, "latest")
    cache.put(key, current, answer)
    return answer

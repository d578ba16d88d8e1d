"""Cursor pagination, one shape for every list: ``{"items": [...], "next_cursor": "..." | null}``.

Lists are ordered by (created time, id) — stable — and the cursor is the opaque position of the
last item returned. ``?limit=`` defaults to 50, at most 200. :func:`keyset_page` is the one
implementation: oldest first by default, newest first for logs (``newest_first=True``); the
cursor's time is always timezone-aware (a cursor without an offset is refused, so it is never
compared with a ``timestamptz`` column as local time), or a calendar date for a list ordered by
one.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlmodel import or_
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.http.problems import Msg, Problem

T = TypeVar("T")

LimitQuery = Annotated[int, Query(ge=1, le=200, description="page size (default 50, max 200)")]
CursorQuery = Annotated[
    str | None, Query(max_length=200, description="next_cursor of the previous page")
]


class Page(BaseModel, Generic[T]):
    """A page of a list."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(at: datetime | date, item_id: uuid.UUID) -> str:
    """The cursor after the item created ``at`` with ``item_id``."""
    raw = json.dumps([at.isoformat(), str(item_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime | date, uuid.UUID]:
    """Inverse of :func:`encode_cursor`; a malformed cursor is a 422 ``invalid_cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, item_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if len(at) == len("2026-05-01"):  # a list ordered by a calendar date
            return date.fromisoformat(at), uuid.UUID(item_id)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time carries its offset")
        return moment, uuid.UUID(item_id)
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise Problem(
            Msg(
                ru="Этот курсор не был выдан этим API.",
                en="The cursor is not one this API gave out.",
            ),
            status=422,
            code="invalid_cursor",
            title=Msg(ru="Неверный курсор", en="Invalid cursor"),
        ) from exc


async def keyset_page(
    session: AsyncSession,
    query: Any,
    *,
    order: Any,
    tiebreak: Any,
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
) -> tuple[list[Any], str | None]:
    """One page of ``query`` ordered by ``(order, tiebreak)`` (a time and an id), ascending or
    (``newest_first``) descending, and the cursor of the next page (``None`` on the last)."""
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        if newest_first:
            query = query.where(or_(order < at, (order == at) & (tiebreak < last_id)))
        else:
            query = query.where(or_(order > at, (order == at) & (tiebreak > last_id)))
    ordering = (order.desc(), tiebreak.desc()) if newest_first else (order, tiebreak)
    query = query.order_by(*ordering).limit(limit + 1)
    rows = list((await session.exec(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if not (more and rows):
        return rows, None
    last = rows[-1]
    return rows, encode_cursor(getattr(last, order.key), getattr(last, tiebreak.key))

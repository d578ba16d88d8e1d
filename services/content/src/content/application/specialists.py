"""A specialist's public page: their published items, their answered questions and their
approved reviews (average rating and count), for the catalogue beside booking's
availability."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Post
from content.application import library, posts
from content.application.refusals import SpecialistNotFound


@dataclass(frozen=True)
class Page:
    """What the page shows first (the lists page on by their own calls)."""

    specialist_id: uuid.UUID
    items: list[library.Hit]
    items_next_cursor: str | None
    answered_questions: int
    reviews: int
    average_rating: float | None


async def page(session: AsyncSession, specialist_id: uuid.UUID, *, limit: int) -> Page:
    """A specialist's public page (404 for someone content knows nothing of)."""
    if not await posts.is_known_specialist(session, specialist_id):
        raise SpecialistNotFound()
    items, next_cursor = await library.latest(
        session, library.Filters(author_id=specialist_id), limit=limit, cursor=None
    )
    reviews, average = (
        await session.exec(
            select(func.count(), func.avg(col(Post.rating))).where(
                Post.kind == posts.REVIEW,
                Post.status == posts.APPROVED,
                Post.specialist_id == specialist_id,
            )
        )
    ).one()
    answered = (
        await session.exec(
            select(func.count()).where(
                Post.kind == posts.QUESTION,
                Post.status == posts.APPROVED,
                Post.specialist_id == specialist_id,
                col(Post.answered_at).is_not(None),
            )
        )
    ).one()
    return Page(
        specialist_id=specialist_id,
        items=items,
        items_next_cursor=next_cursor,
        answered_questions=answered,
        reviews=reviews,
        average_rating=None if average is None else round(float(average), 2),
    )

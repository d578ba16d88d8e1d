"""Specialists' public pages (``/specialists/{id}``): their published items, their answered
questions and their approved reviews, with the average rating."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from pydantic import BaseModel, Field
from servicekit.http.deps import UowDep
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.responses import problem_responses

from content.api.library import LibraryItem
from content.api.posts import PublicPost, public_post
from content.application import posts, specialists

router = APIRouter(prefix="/specialists", tags=["specialists"])


class SpecialistPage(BaseModel):
    """What a specialist's page shows first."""

    specialist_id: uuid.UUID
    items: list[LibraryItem] = Field(description="Their newest published items")
    items_next_cursor: str | None = Field(
        description="More of them: GET /library?author_id=...&cursor=..."
    )
    answered_questions: int
    reviews: int = Field(description="Approved reviews")
    average_rating: float | None = Field(description="Of the approved reviews (1 to 5)")


@router.get(
    "/{specialist_id}",
    response_model=SpecialistPage,
    summary="A specialist's public page",
    responses=problem_responses(404),
)
async def specialist_page(specialist_id: uuid.UUID, uow: UowDep) -> SpecialistPage:
    p = await specialists.page(uow.session, specialist_id, limit=10)
    return SpecialistPage(
        specialist_id=p.specialist_id,
        items=[LibraryItem(**h.__dict__) for h in p.items],
        items_next_cursor=p.items_next_cursor,
        answered_questions=p.answered_questions,
        reviews=p.reviews,
        average_rating=p.average_rating,
    )


@router.get(
    "/{specialist_id}/reviews",
    response_model=Page[PublicPost],
    summary="A specialist's approved reviews, oldest first",
)
async def specialist_reviews(
    specialist_id: uuid.UUID, uow: UowDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[PublicPost]:
    rows, next_cursor = await posts.public(
        uow.session, kind=posts.REVIEW, specialist_id=specialist_id, limit=limit, cursor=cursor
    )
    return Page[PublicPost](items=[public_post(p) for p in rows], next_cursor=next_cursor)


@router.get(
    "/{specialist_id}/questions",
    response_model=Page[PublicPost],
    summary="Questions a specialist answered publicly, oldest first",
)
async def specialist_questions(
    specialist_id: uuid.UUID, uow: UowDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[PublicPost]:
    rows, next_cursor = await posts.public(
        uow.session, kind=posts.QUESTION, specialist_id=specialist_id, limit=limit, cursor=cursor
    )
    return Page[PublicPost](items=[public_post(p) for p in rows], next_cursor=next_cursor)

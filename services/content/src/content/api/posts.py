"""User posts: questions to specialists (``/questions``, anonymous or signed in), comments on
published items (``/comments``), reviews of a specialist after a completed appointment
(``/reviews``); their authors edit or withdraw them while they wait (``/posts/{id}``). Every
post is moderated before it is public."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, status
from pydantic import BaseModel, ConfigDict, Field
from servicekit.http.client_ip import caller_address
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.pagination import CursorQuery, LimitQuery, Page
from servicekit.http.responses import problem_responses

from content.adapters.tables import Post
from content.api.deps import MaybeSignedIn, SettingsDep, SignedIn, Specialist
from content.application import posts
from content.application.callers import Caller
from content.domain.items import Language

router = APIRouter(tags=["posts"])

Text = Annotated[str, Field(min_length=1, max_length=5000, pattern=r"^[^\x00]+$")]
Contact = Annotated[
    str,
    Field(
        max_length=200,
        pattern=r"^[^\x00]*$",
        description="How the asker may be reached (anonymous questions only; encrypted, shown "
        "to moderators only)",
    ),
]
PostToken = Annotated[
    str | None,
    Header(
        alias="X-Post-Token",
        max_length=128,
        description="The post token of an anonymous question (shown once when it was sent)",
    ),
]


def rules_of(settings: SettingsDep) -> posts.Rules:
    """The checks and limits a post meets, from content's settings."""
    return posts.Rules(
        key=settings.blind_index_key.encode(),
        reject_stems=list(settings.stop_words_reject),
        flag_stems=list(settings.stop_words_flag),
        max_links=settings.post_max_links,
        per_author_hour=settings.posts_per_author_hour,
        per_address_hour=settings.posts_per_address_hour,
        duplicate_window=timedelta(hours=settings.duplicate_window_hours),
    )


RulesDep = Annotated[posts.Rules, Depends(rules_of)]


class QuestionCreate(BaseModel):
    """A question to a specialist."""

    model_config = ConfigDict(extra="forbid")

    specialist_id: uuid.UUID
    body: Text
    language: Language = "ru"
    contact: Contact | None = None


class CommentCreate(BaseModel):
    """A comment on a published item."""

    model_config = ConfigDict(extra="forbid")

    item_id: uuid.UUID
    body: Text


class ReviewCreate(BaseModel):
    """A review of the specialist of one's completed appointment."""

    model_config = ConfigDict(extra="forbid")

    appointment_id: uuid.UUID
    rating: int = Field(ge=1, le=5)
    body: Text
    language: Language = "ru"


class PostEdit(BaseModel):
    """What the author changes while the post waits."""

    model_config = ConfigDict(extra="forbid")

    body: Text | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    contact: Contact | None = None


class Answer(BaseModel):
    """A specialist's public answer to a question."""

    model_config = ConfigDict(extra="forbid")

    answer: Text


class PostPublic(BaseModel):
    """A post as its author sees it."""

    id: uuid.UUID
    kind: str = Field(description="question, comment or review")
    status: str = Field(description="pending, changes_requested, approved, rejected or withdrawn")
    body: str
    language: str
    specialist_id: uuid.UUID | None
    item_id: uuid.UUID | None
    appointment_id: uuid.UUID | None
    rating: int | None
    flags: list[str] = Field(description="What the automatic checks found (links, ...)")
    reason: str | None = Field(
        description="Why it was rejected or what to change (an automatic rejection: its code)"
    )
    answer: str | None
    answered_at: datetime | None
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None


class QuestionSent(PostPublic):
    """A question just sent; an anonymous asker gets its post token, once."""

    post_token: str | None = Field(
        default=None, description="Send it as X-Post-Token to read, edit or withdraw it"
    )


class PublicPost(BaseModel):
    """An approved post as everyone sees it (no author, no contact)."""

    id: uuid.UUID
    kind: str
    body: str
    language: str
    rating: int | None
    answer: str | None
    answered_at: datetime | None
    created_at: datetime


def post_public(p: Post) -> PostPublic:
    return PostPublic(
        id=p.id,
        kind=p.kind,
        status=p.status,
        body=p.body,
        language=p.language,
        specialist_id=p.specialist_id,
        item_id=p.item_id,
        appointment_id=p.appointment_id,
        rating=p.rating,
        flags=list(p.flags),
        reason=p.reason,
        answer=p.answer,
        answered_at=p.answered_at,
        created_at=p.created_at,
        updated_at=p.updated_at,
        decided_at=p.decided_at,
    )


def public_post(p: Post) -> PublicPost:
    return PublicPost(
        id=p.id,
        kind=p.kind,
        body=p.body,
        language=p.language,
        rating=p.rating,
        answer=p.answer,
        answered_at=p.answered_at,
        created_at=p.created_at,
    )


def _sender(request: Request, caller: Caller | None) -> posts.Sender:
    return posts.Sender(caller, caller_address(request))


@router.post(
    "/questions",
    response_model=QuestionSent,
    status_code=status.HTTP_201_CREATED,
    summary="Ask a specialist a question, signed in or anonymously (moderated before it is "
    "public; the automatic checks may reject it at once: status rejected)",
    responses=problem_responses(404, 429),
)
async def ask_question(
    body: QuestionCreate,
    request: Request,
    uow: UowDep,
    now: NowDep,
    caller: MaybeSignedIn,
    rules: RulesDep,
) -> QuestionSent:
    post, token = await posts.ask(
        uow,
        _sender(request, caller),
        rules,
        specialist_id=body.specialist_id,
        body=body.body,
        language=body.language,
        contact=body.contact,
        now=now,
    )
    result = QuestionSent(**post_public(post).model_dump(), post_token=token)
    await uow.commit()
    return result


@router.post(
    "/comments",
    response_model=PostPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Comment on a published item (moderated before it is public)",
    responses=problem_responses(404, 429),
)
async def add_comment(
    body: CommentCreate,
    request: Request,
    uow: UowDep,
    now: NowDep,
    caller: SignedIn,
    rules: RulesDep,
) -> PostPublic:
    post = await posts.comment(
        uow, _sender(request, caller), caller, rules, item_id=body.item_id, body=body.body, now=now
    )
    result = post_public(post)
    await uow.commit()
    return result


@router.get(
    "/comments",
    response_model=Page[PublicPost],
    summary="An item's approved comments, oldest first",
)
async def list_comments(
    item_id: uuid.UUID, uow: UowDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[PublicPost]:
    rows, next_cursor = await posts.public(
        uow.session, kind=posts.COMMENT, item_id=item_id, limit=limit, cursor=cursor
    )
    return Page[PublicPost](items=[public_post(p) for p in rows], next_cursor=next_cursor)


@router.post(
    "/reviews",
    response_model=PostPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Review the specialist of one's completed appointment, once per appointment "
    "(moderated before it is public)",
    responses=problem_responses(409, 429),
)
async def add_review(
    body: ReviewCreate,
    request: Request,
    uow: UowDep,
    now: NowDep,
    caller: SignedIn,
    rules: RulesDep,
) -> PostPublic:
    post = await posts.review(
        uow,
        _sender(request, caller),
        caller,
        rules,
        appointment_id=body.appointment_id,
        rating=body.rating,
        body=body.body,
        language=body.language,
        now=now,
    )
    result = post_public(post)
    await uow.commit()
    return result


@router.get(
    "/posts",
    response_model=Page[PostPublic],
    summary="One's own posts, newest first, whatever their state",
)
async def my_posts(
    uow: UowDep, caller: SignedIn, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[PostPublic]:
    rows, next_cursor = await posts.mine(uow.session, caller, limit=limit, cursor=cursor)
    return Page[PostPublic](items=[post_public(p) for p in rows], next_cursor=next_cursor)


@router.get(
    "/posts/{post_id}",
    response_model=PostPublic,
    summary="One's own post (an anonymous question: with X-Post-Token)",
    responses=problem_responses(404),
)
async def read_post(
    post_id: uuid.UUID, uow: UowDep, caller: MaybeSignedIn, token: PostToken = None
) -> PostPublic:
    return post_public(await posts.own(uow.session, caller, token, post_id))


@router.patch(
    "/posts/{post_id}",
    response_model=PostPublic,
    summary="Change one's post while it waits (or changes were asked for): checked again, "
    "it waits again",
    responses=problem_responses(404, 409),
)
async def edit_post(
    post_id: uuid.UUID,
    body: PostEdit,
    uow: UowDep,
    now: NowDep,
    caller: MaybeSignedIn,
    rules: RulesDep,
    token: PostToken = None,
) -> PostPublic:
    post = await posts.edit(
        uow,
        caller,
        token,
        post_id,
        rules,
        body=body.body,
        rating=body.rating,
        contact=body.contact,
        now=now,
    )
    result = post_public(post)
    await uow.commit()
    return result


@router.post(
    "/posts/{post_id}/withdraw",
    response_model=PostPublic,
    summary="Withdraw one's post while it waits",
    responses=problem_responses(404, 409),
)
async def withdraw_post(
    post_id: uuid.UUID, uow: UowDep, now: NowDep, caller: MaybeSignedIn, token: PostToken = None
) -> PostPublic:
    post = await posts.withdraw(uow, caller, token, post_id, now)
    result = post_public(post)
    await uow.commit()
    return result


@router.get(
    "/questions/addressed",
    response_model=Page[PostPublic],
    summary="Approved questions to me, oldest first (a specialist)",
)
async def questions_to_me(
    uow: UowDep,
    specialist: Specialist,
    unanswered: bool = False,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PostPublic]:
    rows, next_cursor = await posts.addressed_to(
        uow.session, specialist, unanswered=unanswered, limit=limit, cursor=cursor
    )
    return Page[PostPublic](items=[post_public(p) for p in rows], next_cursor=next_cursor)


@router.post(
    "/questions/{post_id}/answer",
    response_model=PostPublic,
    summary="Answer an approved question addressed to me, publicly (a specialist)",
    responses=problem_responses(404, 409),
)
async def answer_question(
    post_id: uuid.UUID, body: Answer, uow: UowDep, now: NowDep, specialist: Specialist
) -> PostPublic:
    post = await posts.answer(uow, specialist, post_id, body.answer, now)
    result = post_public(post)
    await uow.commit()
    return result

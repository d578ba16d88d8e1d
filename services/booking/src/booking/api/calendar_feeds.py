"""Private calendar feeds (docs/calendar-files.md).

``/api/booking/me/calendar-feed``: the caller's own feed (any signed-in user: a client's
sessions, and a specialist's too). The URL with its token is in the answers of ``POST`` (create)
and ``POST /rotate`` only; booking keeps a hash and cannot show it again.

``/api/booking/calendar-feeds/{token}.ics``: the feed itself, for calendar apps (no login: the
token is the key); ``text/calendar``. An unknown, rotated or revoked token is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.i18n import request_language
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal

from booking.adapters.tables import CalendarFeed
from booking.api.common import SettingsDep
from booking.application import calendar_feeds
from booking.config import BookingSettings

me_router = APIRouter(prefix="/me/calendar-feed", tags=["calendar feeds"])
router = APIRouter(prefix="/calendar-feeds", tags=["calendar feeds"])

ICS = "text/calendar; charset=utf-8"
Language = Literal["ru", "en"]


class FeedCreate(BaseModel):
    show_client_names: bool = Field(
        default=False,
        description="A specialist's feed names clients in full (default: initials only)",
    )
    language: Language | None = Field(
        default=None, description="Of the events' texts; default: the request's language"
    )


class FeedUpdate(BaseModel):
    show_client_names: bool | None = None
    language: Language | None = None


class FeedPublic(BaseModel):
    show_client_names: bool
    language: str
    created_at: datetime
    rotated_at: datetime


class FeedIssued(FeedPublic):
    url: str = Field(description="https:// URL of the feed (shown now only)")
    webcal_url: str = Field(description="The same as webcal://, for one-tap subscription")


def _public(feed: CalendarFeed) -> FeedPublic:
    return FeedPublic(
        show_client_names=feed.show_client_names,
        language=feed.language,
        created_at=feed.created_at,
        rotated_at=feed.rotated_at,
    )


def _issued(settings: BookingSettings, issued: calendar_feeds.IssuedFeed) -> FeedIssued:
    url = settings.public_url(f"/api/booking/calendar-feeds/{issued.token}.ics")
    webcal = "webcal://" + url.split("://", 1)[1]
    return FeedIssued(**_public(issued.feed).model_dump(), url=url, webcal_url=webcal)


@me_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedIssued,
    summary="Create my calendar feed (its URL is shown once)",
    responses=problem_responses(409),
)
async def create_feed(
    request: Request,
    principal: CurrentPrincipal,
    uow: UowDep,
    now: NowDep,
    settings: SettingsDep,
    body: FeedCreate | None = None,
) -> FeedIssued:
    body = body or FeedCreate()
    issued = await calendar_feeds.create_feed(
        uow,
        user_id=principal.user_id,
        language=body.language or request_language(request),
        show_client_names=body.show_client_names,
        now=now,
    )
    await uow.commit()
    return _issued(settings, issued)


@me_router.get(
    "",
    response_model=FeedPublic,
    summary="My calendar feed (without its URL)",
    responses=problem_responses(404),
)
async def read_feed(principal: CurrentPrincipal, uow: UowDep) -> FeedPublic:
    return _public(await calendar_feeds.read_feed(uow, user_id=principal.user_id))


@me_router.patch(
    "",
    response_model=FeedPublic,
    summary="Change how my feed reads (client names, language); the URL stays",
    responses=problem_responses(404),
)
async def change_feed(body: FeedUpdate, principal: CurrentPrincipal, uow: UowDep) -> FeedPublic:
    feed = await calendar_feeds.change_feed(
        uow,
        user_id=principal.user_id,
        show_client_names=body.show_client_names,
        language=body.language,
    )
    await uow.commit()
    return _public(feed)


@me_router.post(
    "/rotate",
    response_model=FeedIssued,
    summary="A new URL for my feed (the old one stops working)",
    responses=problem_responses(404),
)
async def rotate_feed(
    principal: CurrentPrincipal, uow: UowDep, now: NowDep, settings: SettingsDep
) -> FeedIssued:
    issued = await calendar_feeds.rotate_feed(uow, user_id=principal.user_id, now=now)
    await uow.commit()
    return _issued(settings, issued)


@me_router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke my calendar feed",
    responses=problem_responses(404),
)
async def revoke_feed(principal: CurrentPrincipal, uow: UowDep) -> Response:
    await calendar_feeds.revoke_feed(uow, user_id=principal.user_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{token}.ics",
    response_class=Response,
    summary="A calendar feed (the token is the key; for calendar apps)",
    responses={
        200: {"content": {"text/calendar": {}}, "description": "The VCALENDAR"},
        **problem_responses(404),
    },
)
async def feed(token: str, uow: UowDep, now: NowDep, settings: SettingsDep) -> Response:
    data = await calendar_feeds.feed_calendar(uow, token=token, settings=settings, now=now)
    return Response(
        data,
        media_type=ICS,
        headers={"Cache-Control": "private, max-age=300", "X-Robots-Tag": "noindex"},
    )

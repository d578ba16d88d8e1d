"""The client diary (cabinet.application.diary): a client's own entries under ``/me``, what a
specialist may read of their client's under ``/clients/{client_id}``, and the mood trend on the
same time axis as content's questionnaire trend (``/api/content/clients/{id}/trends``)."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery
from servicekit.http.responses import problem_responses
from servicekit.security.deps import CurrentPrincipal

from cabinet.api.common import CurrentAccount
from cabinet.application import diary
from cabinet.domain.diary import EMOTIONS, EntryBody

router = APIRouter(tags=["diary"])

Emotion = Literal[EMOTIONS]  # type: ignore[valid-type]
Tag = SafeText


class EntryFields(BaseModel):
    """What a client writes."""

    mood: int = Field(ge=0, le=10, description="0 (worst) to 10 (best)")
    emotions: list[Emotion] = Field(default_factory=list, max_length=len(EMOTIONS))
    tags: list[SafeText] = Field(default_factory=list, max_length=20)
    sleep_hours: float | None = Field(default=None, ge=0, le=24)
    text: SafeText | None = Field(default=None, max_length=20_000)


class EntryCreate(EntryFields):
    """A new entry (private unless ``shared``)."""

    date: dt.date
    appointment_id: uuid.UUID | None = Field(
        default=None, description="One of the client's own appointments"
    )
    shared: bool = False


class EntryUpdate(BaseModel):
    """The fields that change (the written fields are replaced together, as one body)."""

    date: dt.date | None = None
    appointment_id: uuid.UUID | None = None
    clear_appointment: bool = False
    body: EntryFields | None = None


class EntryPublic(EntryFields):
    """An entry."""

    id: uuid.UUID
    date: dt.date
    appointment_id: uuid.UUID | None
    shared: bool
    created_at: datetime
    updated_at: datetime


class EntryList(BaseModel):
    """A page of entries, newest first."""

    items: list[EntryPublic]
    next_cursor: str | None = None


class SharedCount(BaseModel):
    """How many entries changed."""

    changed: int


class MoodPointPublic(BaseModel):
    """One entry's mood (``at``: noon UTC of its date, for a chart's time axis)."""

    entry_id: uuid.UUID
    date: dt.date
    at: datetime
    mood: int
    sleep_hours: float | None


class SessionPublic(BaseModel):
    """A session on the same time axis (as in content's trend)."""

    appointment_id: uuid.UUID
    specialist_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str


class MoodTrendPublic(BaseModel):
    """A client's mood over time with their sessions (the shape of content's trend: a series
    of points in time, and the sessions)."""

    client_id: uuid.UUID
    min_mood: int = 0
    max_mood: int = 10
    points: list[MoodPointPublic]
    sessions: list[SessionPublic]


def _public(e: diary.Entry) -> EntryPublic:
    return EntryPublic(
        id=e.id,
        date=e.entry_date,
        appointment_id=e.appointment_id,
        shared=e.shared,
        created_at=e.created_at,
        updated_at=e.updated_at,
        mood=e.body.mood,
        emotions=e.body.emotions,
        tags=e.body.tags,
        sleep_hours=e.body.sleep_hours,
        text=e.body.text,
    )


def _body(f: EntryFields) -> EntryBody:
    return EntryBody(
        mood=f.mood,
        emotions=list(f.emotions),
        tags=list(f.tags),
        sleep_hours=f.sleep_hours,
        text=f.text,
    )


@router.post(
    "/me/diary-entries",
    response_model=EntryPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Write a diary entry (needs the health-data consent)",
    responses=problem_responses(403, 422),
)
async def write_entry(
    body: EntryCreate, user: CurrentAccount, uow: UowDep, now: NowDep
) -> EntryPublic:
    entry = await diary.write(
        uow,
        user.id,
        entry_date=body.date,
        appointment_id=body.appointment_id,
        body=_body(body),
        shared=body.shared,
        now=now,
    )
    await uow.commit()
    return _public(entry)


@router.get("/me/diary-entries", response_model=EntryList, summary="My diary, newest first")
async def my_entries(
    user: CurrentAccount, uow: UowDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> EntryList:
    items, next_cursor = await diary.page(
        uow, user.id, shared_only=False, limit=limit, cursor=cursor
    )
    return EntryList(items=[_public(e) for e in items], next_cursor=next_cursor)


@router.post(
    "/me/diary-entries/share-all",
    response_model=SharedCount,
    summary="Share every entry with my specialists",
)
async def share_all(user: CurrentAccount, uow: UowDep, now: NowDep) -> SharedCount:
    changed = await diary.share_all(uow, user.id, shared=True, now=now)
    await uow.commit()
    return SharedCount(changed=changed)


@router.post(
    "/me/diary-entries/unshare-all",
    response_model=SharedCount,
    summary="Stop sharing every entry (at once)",
)
async def unshare_all(user: CurrentAccount, uow: UowDep, now: NowDep) -> SharedCount:
    changed = await diary.share_all(uow, user.id, shared=False, now=now)
    await uow.commit()
    return SharedCount(changed=changed)


@router.get(
    "/me/diary-entries/{entry_id}",
    response_model=EntryPublic,
    summary="One of my entries",
    responses=problem_responses(404),
)
async def my_entry(entry_id: uuid.UUID, user: CurrentAccount, uow: UowDep) -> EntryPublic:
    return _public(await diary.read(uow, user.id, entry_id))


@router.patch(
    "/me/diary-entries/{entry_id}",
    response_model=EntryPublic,
    summary="Change one of my entries",
    responses=problem_responses(403, 404, 422),
)
async def change_entry(
    entry_id: uuid.UUID, body: EntryUpdate, user: CurrentAccount, uow: UowDep, now: NowDep
) -> EntryPublic:
    entry = await diary.change(
        uow,
        user.id,
        entry_id,
        entry_date=body.date,
        appointment_id=body.appointment_id,
        clear_appointment=body.clear_appointment,
        body=None if body.body is None else _body(body.body),
        now=now,
    )
    await uow.commit()
    return _public(entry)


@router.delete(
    "/me/diary-entries/{entry_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete one of my entries",
    responses=problem_responses(404),
)
async def delete_entry(entry_id: uuid.UUID, user: CurrentAccount, uow: UowDep) -> Response:
    await diary.delete(uow, user.id, entry_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/me/diary-entries/{entry_id}/share",
    response_model=EntryPublic,
    summary="Share one entry with my specialists",
    responses=problem_responses(404),
)
async def share_entry(
    entry_id: uuid.UUID, user: CurrentAccount, uow: UowDep, now: NowDep
) -> EntryPublic:
    entry = await diary.share(uow, user.id, entry_id, shared=True, now=now)
    await uow.commit()
    return _public(entry)


@router.post(
    "/me/diary-entries/{entry_id}/unshare",
    response_model=EntryPublic,
    summary="Stop sharing one entry (at once)",
    responses=problem_responses(404),
)
async def unshare_entry(
    entry_id: uuid.UUID, user: CurrentAccount, uow: UowDep, now: NowDep
) -> EntryPublic:
    entry = await diary.share(uow, user.id, entry_id, shared=False, now=now)
    await uow.commit()
    return _public(entry)


@router.get(
    "/clients/{client_id}/diary-entries",
    response_model=EntryList,
    summary="A client's diary: all of it for the client, what they shared for their specialist",
    responses=problem_responses(403, 404),
)
async def client_entries(
    client_id: uuid.UUID,
    principal: CurrentPrincipal,
    uow: UowDep,
    now: NowDep,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> EntryList:
    own = await diary.require_reader(uow, principal.user_id, client_id, now)
    items, next_cursor = await diary.page(
        uow, client_id, shared_only=not own, limit=limit, cursor=cursor
    )
    return EntryList(items=[_public(e) for e in items], next_cursor=next_cursor)


@router.get(
    "/clients/{client_id}/mood-trend",
    response_model=MoodTrendPublic,
    summary="A client's mood over time with their sessions (the client; their specialist: "
    "shared entries only)",
    responses=problem_responses(403, 404),
)
async def mood_trend(
    client_id: uuid.UUID, principal: CurrentPrincipal, uow: UowDep, now: NowDep
) -> MoodTrendPublic:
    trend = await diary.mood_trend(uow, principal.user_id, client_id, now)
    return MoodTrendPublic(
        client_id=trend.client_id,
        points=[
            MoodPointPublic(
                entry_id=p.entry_id,
                date=p.entry_date,
                at=datetime(
                    p.entry_date.year, p.entry_date.month, p.entry_date.day, 12, tzinfo=UTC
                ),
                mood=p.mood,
                sleep_hours=p.sleep_hours,
            )
            for p in trend.points
        ],
        sessions=[
            SessionPublic(
                appointment_id=a.appointment_id,
                specialist_id=a.specialist_id,
                starts_at=a.starts_at,
                ends_at=a.ends_at,
                status=a.status,
            )
            for a in trend.sessions
        ],
    )

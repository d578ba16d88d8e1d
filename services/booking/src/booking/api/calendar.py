"""Google Calendar connections (docs/google-calendar.md).

- ``/me/calendar-connection`` (a specialist, their own): ``GET`` the connection and its health
  (last sync, last error), ``PUT`` a refresh token the front end obtained through Google's
  consent, ``PATCH`` what our events say of clients, ``DELETE`` to disconnect (the credentials
  are revoked at Google and deleted).
- ``PUT /specialists/{id}/calendar-connection`` (an admin): connect a specialist through the
  practice's service account with domain-wide delegation.
- ``POST /calendar/google/notifications``: Google's watch notifications (no token: the channel
  id and the channel's secret token are checked).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Request, Response, status
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.responses import problem_responses
from servicekit.security.deps import require_roles
from servicekit.security.jwt import Principal

from booking.adapters.tables import CalendarConnection
from booking.api.common import AdminPrincipal, part_of
from booking.application import calendar
from booking.application.calendar import CalendarSync

me_router = APIRouter(prefix="/me", tags=["calendar"])
specialist_calendar_router = APIRouter(prefix="/specialists", tags=["calendar"])
google_router = APIRouter(prefix="/calendar/google", tags=["calendar"])

SpecialistPrincipal = Annotated[Principal, Depends(require_roles("specialist"))]
Label = Literal["initials", "none"]


def _sync(request: Request) -> CalendarSync:
    return part_of(request.app.state.runtime, "calendar", CalendarSync)


class CalendarConnectionPublic(BaseModel):
    """A specialist's Google Calendar connection and how it is doing."""

    kind: Literal["oauth", "service_account"]
    calendar_id: str
    client_label: Label = Field(description="What our events say of the client")
    status: Literal["active", "error"] = Field(
        description="error: booking stopped until the specialist reconnects (see last_error)"
    )
    last_sync_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    watch_expires_at: datetime | None
    connected_at: datetime


class OAuthConnection(BaseModel):
    """A refresh token from Google's consent screen (scope ``…/auth/calendar``)."""

    refresh_token: SafeText = Field(min_length=1, max_length=2048)
    calendar_id: SafeText = Field(default="primary", min_length=1, max_length=1024)
    client_label: Label = "initials"


class ServiceAccountConnection(BaseModel):
    """The Workspace user the practice's service account acts for, and their calendar."""

    subject: SafeText = Field(min_length=3, max_length=320, examples=["anna@practice.example"])
    calendar_id: SafeText = Field(default="primary", min_length=1, max_length=1024)
    client_label: Label = "initials"


class LabelChange(BaseModel):
    """What our events say of the client."""

    client_label: Label


def _public(row: CalendarConnection) -> CalendarConnectionPublic:
    return CalendarConnectionPublic(
        kind=row.kind,
        calendar_id=row.calendar_id,
        client_label=row.client_label,
        status=row.status,
        last_sync_at=row.last_sync_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        watch_expires_at=row.channel_expires_at,
        connected_at=row.created_at,
    )


@me_router.get(
    "/calendar-connection",
    response_model=CalendarConnectionPublic,
    summary="My Google Calendar connection and its health (a specialist)",
    responses=problem_responses(404),
)
async def get_connection(uow: UowDep, principal: SpecialistPrincipal) -> CalendarConnectionPublic:
    return _public(await calendar.connection_of(uow, principal.user_id))


@me_router.put(
    "/calendar-connection",
    response_model=CalendarConnectionPublic,
    summary="Connect my Google Calendar with a refresh token (a specialist)",
    responses=problem_responses(404, 409),
)
async def connect_oauth(
    request: Request,
    body: OAuthConnection,
    uow: UowDep,
    now: NowDep,
    principal: SpecialistPrincipal,
) -> CalendarConnectionPublic:
    row = await calendar.connect(
        uow,
        _sync(request),
        principal.user_id,
        kind="oauth",
        credentials={"refresh_token": body.refresh_token},
        calendar_id=body.calendar_id,
        client_label=body.client_label,
        now=now,
    )
    await uow.commit()
    return _public(row)


@me_router.patch(
    "/calendar-connection",
    response_model=CalendarConnectionPublic,
    summary="Choose what my calendar's events say of clients (a specialist)",
    responses=problem_responses(404),
)
async def change_label(
    body: LabelChange, uow: UowDep, now: NowDep, principal: SpecialistPrincipal
) -> CalendarConnectionPublic:
    row = await calendar.update_label(uow, principal.user_id, body.client_label, now)
    await uow.commit()
    return _public(row)


@me_router.delete(
    "/calendar-connection",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Disconnect my Google Calendar; the credentials are revoked and deleted",
    responses=problem_responses(404),
)
async def disconnect(request: Request, uow: UowDep, principal: SpecialistPrincipal) -> Response:
    gone = await calendar.disconnect(uow, principal.user_id)
    await uow.commit()
    await calendar.after_disconnect(_sync(request), gone)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@specialist_calendar_router.put(
    "/{specialist_id}/calendar-connection",
    response_model=CalendarConnectionPublic,
    summary="Connect a specialist's calendar through the practice's service account (admin)",
    responses=problem_responses(404, 409),
)
async def connect_service_account(
    request: Request,
    specialist_id: uuid.UUID,
    body: ServiceAccountConnection,
    uow: UowDep,
    now: NowDep,
    principal: AdminPrincipal,
) -> CalendarConnectionPublic:
    row = await calendar.connect(
        uow,
        _sync(request),
        specialist_id,
        kind="service_account",
        credentials={"subject": body.subject},
        calendar_id=body.calendar_id,
        client_label=body.client_label,
        now=now,
    )
    await uow.commit()
    return _public(row)


@google_router.post(
    "/notifications",
    status_code=status.HTTP_200_OK,
    summary="Google Calendar watch notifications (Google calls this)",
    responses=problem_responses(404),
    response_class=Response,
)
async def notification(
    uow: UowDep,
    now: NowDep,
    channel_id: Annotated[str, Header(alias="X-Goog-Channel-ID", max_length=64)],
    resource_state: Annotated[str, Header(alias="X-Goog-Resource-State", max_length=32)],
    channel_token: Annotated[
        str | None, Header(alias="X-Goog-Channel-Token", max_length=256)
    ] = None,
    message_number: Annotated[
        str | None, Header(alias="X-Goog-Message-Number", max_length=32)
    ] = None,
) -> Response:
    await calendar.notified(
        uow, channel_id=channel_id, token=channel_token, state=resource_state, now=now
    )
    await uow.commit()
    return Response(status_code=status.HTTP_200_OK)

"""``/api/notify/calendar-files/{token}.ics``: the calendar file behind the add-to-calendar
button of a Telegram message (a signed, expiring link; no login: a calendar app fetches it)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from servicekit.http.deps import UowDep
from servicekit.http.responses import problem_responses

from notify.api.deps import NotifyDep
from notify.application import calendar

router = APIRouter(prefix="/calendar-files", tags=["calendar"])

ICS = "text/calendar; charset=utf-8"


@router.get(
    "/{token}.ics",
    response_class=Response,
    summary="An appointment's calendar file (signed link)",
    responses={
        200: {"content": {"text/calendar": {}}, "description": "The VCALENDAR"},
        **problem_responses(404, 410),
    },
)
async def calendar_file(token: str, uow: UowDep, notify: NotifyDep) -> Response:
    data = await calendar.calendar_file(uow, notify, token)
    return Response(
        data,
        media_type=ICS,
        headers={
            "Content-Disposition": 'attachment; filename="praktika.ics"',
            "Cache-Control": "private, no-store",
        },
    )

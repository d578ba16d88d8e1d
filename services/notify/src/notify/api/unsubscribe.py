"""``/api/notify/unsubscribe/{token}``: RFC 8058 one-click unsubscribe from non-essential mail.

The mail client POSTs ``List-Unsubscribe=One-Click``; a person following the link gets a page
with a button (a GET never changes anything: link scanners follow links).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from servicekit.http.deps import UowDep
from servicekit.http.responses import problem_responses

from notify.api.deps import NotifyDep
from notify.application import preferences

router = APIRouter(prefix="/unsubscribe", tags=["unsubscribe"])

_PAGE = """<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8">
<title>Отписка / Unsubscribe</title></head><body>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<p>Отписаться от новостей Практики? / Unsubscribe from Praktika news?</p>
<button type="submit">Отписаться / Unsubscribe</button></form></body></html>"""

_DONE = """<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8">
<title>Отписка / Unsubscribe</title></head><body>
<p>Вы отписались от новостей. / You have unsubscribed from news.</p></body></html>"""


@router.get(
    "/{token}",
    response_class=HTMLResponse,
    summary="Unsubscribe page",
    responses=problem_responses(404),
)
async def page(token: str, notify: NotifyDep) -> HTMLResponse:
    preferences.unsubscribe_link_user(notify, token)  # a link notify did not make is 404
    return HTMLResponse(_PAGE)


@router.post(
    "/{token}",
    response_class=HTMLResponse,
    summary="One-click unsubscribe (RFC 8058)",
    responses=problem_responses(404),
)
async def unsubscribe(token: str, uow: UowDep, notify: NotifyDep) -> HTMLResponse:
    await preferences.unsubscribe(uow, notify, token)
    return HTMLResponse(_DONE)

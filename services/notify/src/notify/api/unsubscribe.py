"""``/api/notify/unsubscribe/{token}``: RFC 8058 one-click unsubscribe from non-essential mail.

The mail client POSTs ``List-Unsubscribe=One-Click``; a person following the link gets a page
with a button (a GET never changes anything: link scanners follow links).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from servicekit.http.deps import UowDep
from servicekit.http.problems import Msg, NotFound
from servicekit.http.responses import problem_responses

from notify.adapters.tables import Preference, Recipient
from notify.api.deps import ContextDep
from notify.domain.preferences import DEFAULT_CHANNELS
from notify.domain.tokens import read_unsubscribe_token

router = APIRouter(prefix="/unsubscribe", tags=["unsubscribe"])

_UNKNOWN_LINK = Msg(ru="Неизвестная ссылка для отписки.", en="Unknown unsubscribe link.")

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
async def page(token: str, ctx: ContextDep) -> HTMLResponse:
    if read_unsubscribe_token(token, ctx.settings.link_signing_key) is None:
        raise NotFound(_UNKNOWN_LINK)
    return HTMLResponse(_PAGE)


@router.post(
    "/{token}",
    response_class=HTMLResponse,
    summary="One-click unsubscribe (RFC 8058)",
    responses=problem_responses(404),
)
async def unsubscribe(token: str, uow: UowDep, ctx: ContextDep) -> HTMLResponse:
    user_id = read_unsubscribe_token(token, ctx.settings.link_signing_key)
    if user_id is None or await uow.session.get(Recipient, user_id) is None:
        raise NotFound(_UNKNOWN_LINK)
    now = ctx.clock()
    prefs = await uow.session.get(Preference, user_id, with_for_update=True)
    if prefs is None:
        prefs = Preference(user_id=user_id, channels=list(DEFAULT_CHANNELS), updated_at=now)
    prefs.unsubscribed_at = prefs.unsubscribed_at or now
    prefs.updated_at = now
    uow.session.add(prefs)
    await uow.commit()
    return HTMLResponse(_DONE)

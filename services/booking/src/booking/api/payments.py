"""``POST /api/booking/payments/yookassa/webhook``: YooKassa's notifications.

Notifications are unsigned, so nothing in the body is believed: the source address must be in
the allow-list (``X-Forwarded-For`` is read only from configured proxies), and the object is
re-fetched from YooKassa by id; only the fetched state is applied, idempotently. A body that
names a malformed id, or an object booking never made, is answered 200 ``ignored`` (YooKassa
would retry otherwise) and YooKassa is not called: only a checked id of a payment or refund of
ours goes into a YooKassa URL.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from servicekit.http.client_ip import caller_address, parse_networks
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import json_document
from servicekit.http.problems import Forbidden, Msg, Problem
from servicekit.http.responses import problem_responses

from booking.api.common import GatewayDep, SettingsDep
from booking.application.payments import apply_notification

router = APIRouter(prefix="/payments", tags=["payments"])
logger = logging.getLogger("booking.webhook")


def _allowed(address: str, allowlist: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in parse_networks(allowlist))


@router.post(
    "/yookassa/webhook",
    summary="YooKassa notifications (source IP allow-list; the object is re-fetched)",
    response_model=dict[str, str],
    responses=problem_responses(400, 403, 503),
)
async def yookassa_webhook(
    request: Request,
    uow: UowDep,
    now: NowDep,
    settings: SettingsDep,
    gateway: GatewayDep,
) -> JSONResponse:
    source = caller_address(request)
    if not _allowed(source, settings.yookassa_webhook_allowlist):
        logger.warning("YooKassa notification from outside the allow-list", extra={"ip": source})
        raise Forbidden(
            Msg(
                ru="Уведомления принимаются только с адресов ЮKassa.",
                en="Notifications are accepted from YooKassa's addresses only.",
            )
        )
    try:
        body: Any = json_document(await request.body())
        event = str(body["event"])
        given_id = body["object"]["id"]
    except (ValueError, KeyError, TypeError):
        raise Problem(
            Msg(ru="Это не уведомление ЮKassa.", en="Not a YooKassa notification."),
            status=400,
            code="bad_notification",
        ) from None
    outcome = await apply_notification(uow, gateway, event=event, object_id_given=given_id, now=now)
    await uow.commit()
    return JSONResponse({"status": outcome})

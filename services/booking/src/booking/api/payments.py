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

from booking.adapters.yookassa import YooKassaError, YooKassaUnavailable, object_id
from booking.api.common import SettingsDep, YooKassaDep
from booking.application.payments import (
    apply_refund,
    knows_provider_object,
    refund_by_provider_id,
    settle_payment,
)

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
    yookassa: YooKassaDep,
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
    if not event.startswith(("payment.", "refund.")):
        logger.info("YooKassa event not used by booking", extra={"event": event[:64]})
        return JSONResponse({"status": "ok"})
    provider_id = object_id(given_id)
    if provider_id is None or not await knows_provider_object(uow.session, event, provider_id):
        # Malformed, forged or another shop's: nothing to ask YooKassa about.
        logger.warning("notification names no object of ours", extra={"event": event[:64]})
        return JSONResponse({"status": "ignored"})
    try:
        if event.startswith("payment."):
            provider = await yookassa.get_payment(provider_id)
            await settle_payment(uow, yookassa, provider, now=now)
        elif event.startswith("refund."):
            provider_refund = await yookassa.get_refund(provider_id)
            refund = await refund_by_provider_id(uow.session, provider_refund.id)
            if refund is not None:
                await apply_refund(uow, refund, provider_refund, now=now)
    except YooKassaError as exc:
        if exc.status == 404:  # not a real object: forged or from another shop
            logger.warning("notification names an unknown object", extra={"event": event})
            return JSONResponse({"status": "ignored"})
        raise
    except YooKassaUnavailable:
        # Not 200, so YooKassa delivers it again later.
        raise Problem(
            Msg(
                ru="ЮKassa не ответила; повторите попытку позже.",
                en="YooKassa did not answer; retry later.",
            ),
            status=503,
            code="unavailable",
        ) from None
    await uow.commit()
    return JSONResponse({"status": "ok"})

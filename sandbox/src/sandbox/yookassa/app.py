"""The YooKassa fake's HTTP app: API v3 under ``/v3``, the checkout page, the inspection API.

API v3 (HTTP Basic auth with a configured shop id and secret key):

- ``POST /v3/payments``, ``GET /v3/payments/{id}``, ``POST /v3/payments/{id}/capture``,
  ``POST /v3/payments/{id}/cancel``, ``POST /v3/refunds``, ``GET /v3/refunds/{id}``.
- Every POST needs ``Idempotence-Key`` (at most 64 characters): the same key with the same method,
  path and JSON body within 24 h replays the first answer byte for byte; with another body it is
  ``400 invalid_request "Idempotence key duplicated"``. Errors are YooKassa's
  ``{"type": "error", "id", "code", "description", "parameter"}``.

Checkout (no auth): ``GET|POST /sandbox/checkout/{id}`` (see :mod:`sandbox.yookassa.checkout`).

Inspection (besides :mod:`sandbox.kit`'s requests, faults, reset):

- ``GET  /_sandbox/`` HTML page: payments, refunds and notifications with their answers
- ``GET  /_sandbox/payments?status=``, ``GET /_sandbox/payments/{id}``
- ``POST /_sandbox/payments/{id}/succeed`` ``{"card_number": "5555555555554444"}`` (optional body):
  pay as the checkout page would (``waiting_for_capture`` when created with ``capture: false``)
- ``POST /_sandbox/payments/{id}/cancel`` ``{"reason": null, "party": "yoo_money"}`` (optional):
  cancel as YooKassa would (``expired_on_confirmation`` / ``expired_on_capture`` by default)
- ``GET  /_sandbox/refunds?payment_id=``
- ``GET  /_sandbox/notifications?event=&object_id=&state=&count=&wait=`` with every attempt
- ``GET|POST /_sandbox/webhook`` ``{"url": "http://127.0.0.1:8000/...", "policy": {...}}``
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Body, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from sandbox.kit import MAX_WAIT_SECONDS, create_sandbox_app, poll_until
from sandbox.pages import PAGE_PATH, newest_first, render_page
from sandbox.serving import LOOPBACK
from sandbox.yookassa.checkout import CHECKOUT_PATH, checkout_page, message_page
from sandbox.yookassa.errors import YooKassaError, invalid_credentials, invalid_request
from sandbox.yookassa.notifier import (
    Notification,
    NotificationPolicy,
    NotificationState,
    Notifier,
)
from sandbox.yookassa.store import (
    IDEMPOTENCE_TTL,
    SUCCESS_CARD,
    Card,
    Clock,
    PaymentStore,
    utc_now,
)
from sandbox.yookassa.validation import (
    Money,
    parse_capture,
    parse_payment_create,
    parse_refund_create,
)

DEFAULT_SHOP_ID = "sandbox-shop"
"""Shop id the fake accepts unless told otherwise."""

DEFAULT_SECRET_KEY = "sandbox-secret"
"""Secret key of :data:`DEFAULT_SHOP_ID`."""

IDEMPOTENCE_KEY_MAX = 64

_JSON = "application/json; charset=utf-8"


@dataclass
class YooKassaFake:
    """The state of one YooKassa fake: its store, its notifier and the shops it accepts."""

    store: PaymentStore
    notifier: Notifier
    credentials: dict[str, str]

    def reset(self) -> None:
        """Forget payments, refunds, keys and notifications (``POST /_sandbox/reset``)."""
        self.store.reset()
        self.notifier.reset()


def yookassa_fake(app: FastAPI) -> YooKassaFake:
    """The :class:`YooKassaFake` of an app made by :func:`create_yookassa_app`."""
    fake: YooKassaFake = app.state.yookassa
    return fake


class WebhookSettings(BaseModel):
    """Body of ``POST /_sandbox/webhook``: where notifications go and how they are retried."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(description="Webhook URL; null stops notifications")
    policy: NotificationPolicy | None = Field(
        default=None, description="Retry policy; kept if unset"
    )


class WebhookView(BaseModel):
    """Answer of ``GET|POST /_sandbox/webhook``."""

    url: str | None
    source_address: str | None
    policy: NotificationPolicy


class SucceedRequest(BaseModel):
    """Optional body of ``POST /_sandbox/payments/{id}/succeed``."""

    model_config = ConfigDict(extra="forbid")

    card_number: str = SUCCESS_CARD


class CancelRequest(BaseModel):
    """Optional body of ``POST /_sandbox/payments/{id}/cancel``."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, description="Default: expired_on_confirmation/capture")
    party: str = "yoo_money"


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()


def _error_response(error: YooKassaError) -> Response:
    return Response(
        _json_bytes(error.body()), error.status, headers=error.headers, media_type=_JSON
    )


def _canonical(raw: bytes) -> str:
    """The body as data: key order and whitespace don't make a request different."""
    if not raw.strip():
        return ""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return raw.decode(errors="replace")


def create_yookassa_app(
    *,
    webhook_url: str | None = None,
    credentials: Mapping[str, str] | None = None,
    notification_policy: NotificationPolicy | None = None,
    notify_from: str | None = LOOPBACK,
    public_url: str | None = None,
    require_receipt: bool = True,
    idempotence_ttl: timedelta = IDEMPOTENCE_TTL,
    clock: Clock = utc_now,
) -> FastAPI:
    """A YooKassa API v3 fake with its own state (see the module docstring for the routes).

    ``credentials`` maps accepted shop ids to secret keys (default ``sandbox-shop`` /
    ``sandbox-secret``). ``webhook_url`` is where notifications go (also settable with
    ``POST /_sandbox/webhook``), POSTed from ``notify_from`` and retried per
    ``notification_policy``. ``public_url`` is the base of ``confirmation_url`` (default: the URL
    the API request came to). ``clock`` drives ``created_at`` and the 24 h idempotence window.
    """
    notifier = Notifier(
        webhook_url=webhook_url,
        policy=notification_policy,
        source_address=notify_from,
        clock=clock,
    )
    store = PaymentStore(clock=clock, on_event=notifier.notify, idempotence_ttl=idempotence_ttl)
    fake = YooKassaFake(
        store=store,
        notifier=notifier,
        credentials=dict(credentials or {DEFAULT_SHOP_ID: DEFAULT_SECRET_KEY}),
    )
    app = create_sandbox_app(
        "yookassa",
        description="YooKassa API v3: payments, refunds, checkout page and webhook notifications",
        reset_hooks=[fake.reset],
    )
    app.state.yookassa = fake

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        notifier.attach(asyncio.get_running_loop())
        try:
            yield
        finally:
            await notifier.aclose()

    app.router.lifespan_context = lifespan

    @app.exception_handler(YooKassaError)
    async def yookassa_error(_: Request, exc: YooKassaError) -> Response:
        return _error_response(exc)

    # ------------------------------------------------------------------ API v3 plumbing

    def authenticate(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise invalid_credentials()
        try:
            shop_id, sep, secret = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise invalid_credentials() from exc
        expected = fake.credentials.get(shop_id)
        if not sep or expected is None or not hmac.compare_digest(secret, expected):
            raise invalid_credentials()
        return shop_id

    async def idempotent_post(
        request: Request, operation: Callable[[str, Any], dict[str, Any]]
    ) -> Response:
        shop_id = authenticate(request)
        key = request.headers.get("idempotence-key")
        if not key:
            raise invalid_request("Idempotence-Key header is missing", "Idempotence-Key")
        if len(key) > IDEMPOTENCE_KEY_MAX:
            raise invalid_request(
                "Idempotence key is too long. Send the value in accordance with the documentation",
                "Idempotence-Key",
            )
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        if raw.strip() and not content_type.lower().startswith("application/json"):
            raise YooKassaError(
                415, "invalid_request", "Content-Type must be application/json", "Content-Type"
            )

        def run() -> tuple[int, bytes]:
            try:
                try:
                    body = json.loads(raw) if raw.strip() else None
                except ValueError as exc:
                    raise invalid_request("Request body is not valid JSON") from exc
                return 200, _json_bytes(operation(shop_id, body))
            except YooKassaError as error:
                return error.status, _json_bytes(error.body())

        fingerprint = f"{request.method} {request.url.path} {_canonical(raw)}"
        code, content, _ = store.idempotent(shop_id, key, fingerprint, run)
        return Response(content, code, media_type=_JSON)

    def checkout_base(request: Request) -> str:
        base = public_url or str(request.base_url)
        return f"{base.rstrip('/')}{CHECKOUT_PATH}"

    # ------------------------------------------------------------------ API v3 routes

    @app.post("/v3/payments", tags=["API v3"])
    async def create_payment(request: Request) -> Response:
        """Create a payment: ``pending``, with a ``confirmation_url`` on the checkout page."""
        base = checkout_base(request)

        def operation(shop_id: str, body: Any) -> dict[str, Any]:
            parsed = parse_payment_create(body, require_receipt=require_receipt)
            return store.create_payment(shop_id, parsed, base)

        return await idempotent_post(request, operation)

    @app.get("/v3/payments/{payment_id}", tags=["API v3"])
    async def get_payment(request: Request, payment_id: str) -> Response:
        """The payment now."""
        return Response(
            _json_bytes(store.get_payment(payment_id, authenticate(request))), media_type=_JSON
        )

    @app.post("/v3/payments/{payment_id}/capture", tags=["API v3"])
    async def capture_payment(request: Request, payment_id: str) -> Response:
        """``waiting_for_capture`` → ``succeeded`` (optionally a smaller ``amount``)."""

        def operation(shop_id: str, body: Any) -> dict[str, Any]:
            payment = store.get_payment(payment_id, shop_id)
            authorized = Money(Decimal(payment["amount"]["value"]), payment["amount"]["currency"])
            return store.capture(shop_id, payment_id, parse_capture(body, authorized))

        return await idempotent_post(request, operation)

    @app.post("/v3/payments/{payment_id}/cancel", tags=["API v3"])
    async def cancel_payment(request: Request, payment_id: str) -> Response:
        """``waiting_for_capture`` → ``canceled`` (``canceled_by_merchant``)."""
        return await idempotent_post(request, lambda shop, _: store.cancel(shop, payment_id))

    @app.post("/v3/refunds", tags=["API v3"])
    async def create_refund(request: Request) -> Response:
        """Refund (part of) a succeeded payment; refunds succeed at once."""
        return await idempotent_post(
            request, lambda shop, body: store.create_refund(shop, parse_refund_create(body))
        )

    @app.get("/v3/refunds/{refund_id}", tags=["API v3"])
    async def get_refund(request: Request, refund_id: str) -> Response:
        """The refund now."""
        return Response(
            _json_bytes(store.get_refund(refund_id, authenticate(request))), media_type=_JSON
        )

    # ------------------------------------------------------------------ checkout page

    @app.get(f"{CHECKOUT_PATH}/{{payment_id}}", response_class=HTMLResponse, tags=["checkout"])
    async def show_checkout(payment_id: str) -> HTMLResponse:
        """The page ``confirmation_url`` opens."""
        try:
            payment = store.get_payment(payment_id)
        except YooKassaError:
            return HTMLResponse(message_page("Not found", f"No payment {payment_id}."), 404)
        return HTMLResponse(checkout_page(payment))

    @app.post(f"{CHECKOUT_PATH}/{{payment_id}}", tags=["checkout"])
    async def submit_checkout(request: Request, payment_id: str) -> Response:
        """Pay or give up; ``303`` back to the shop's ``return_url``."""
        form = dict(parse_qsl((await request.body()).decode(errors="replace")))
        try:
            payment = store.get_payment(payment_id)
        except YooKassaError:
            return HTMLResponse(message_page("Not found", f"No payment {payment_id}."), 404)
        if payment["status"] != "pending":
            return HTMLResponse(checkout_page(payment), status.HTTP_409_CONFLICT)
        return_url = payment["confirmation"]["return_url"]
        try:
            if form.get("action", "pay") == "decline":
                store.expire(payment_id, "yoo_money", "expired_on_confirmation")
            else:
                try:
                    card = Card.parse(
                        form.get("card_number", ""),
                        form.get("expiry_month", "12"),
                        form.get("expiry_year", "2030"),
                    )
                except ValueError as exc:
                    return HTMLResponse(
                        checkout_page(payment, error=f"Check the card: {exc}."),
                        status.HTTP_400_BAD_REQUEST,
                    )
                store.pay(payment_id, card)
        except YooKassaError:  # someone else paid or canceled it meanwhile
            return HTMLResponse(
                checkout_page(store.get_payment(payment_id)), status.HTTP_409_CONFLICT
            )
        return RedirectResponse(return_url, status.HTTP_303_SEE_OTHER)

    # ------------------------------------------------------------------ inspection

    def inspected(action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return action()
        except YooKassaError as exc:
            raise HTTPException(exc.status, exc.description) from exc

    @app.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> HTMLResponse:
        """Payments with their state and refunds, and every notification with its answers."""
        refunds: dict[str, list[dict[str, Any]]] = {}
        for refund in store.refunds():
            refunds.setdefault(refund["payment_id"], []).append(refund)
        return render_page(
            request,
            "yookassa.html",
            title="YooKassa sandbox: payments",
            webhook_url=notifier.webhook_url,
            payments=newest_first(store.payments()),
            refunds=refunds,
            notifications=newest_first(notifier.notifications()),
        )

    @app.get("/_sandbox/payments", tags=["inspection"])
    async def list_payments(status: str | None = None) -> list[dict[str, Any]]:
        """Every payment, oldest first (optionally only those in ``status``)."""
        return [p for p in store.payments() if status is None or p["status"] == status]

    @app.get("/_sandbox/payments/{payment_id}", tags=["inspection"])
    async def inspect_payment(payment_id: str) -> dict[str, Any]:
        """One payment, whichever shop it belongs to."""
        return inspected(lambda: store.get_payment(payment_id))

    @app.post("/_sandbox/payments/{payment_id}/succeed", tags=["inspection"])
    async def succeed_payment(
        payment_id: str, body: SucceedRequest | None = Body(default=None)
    ) -> dict[str, Any]:
        """Pay as the checkout page would; a declining card is refused (use ``/cancel``)."""
        try:
            card = Card.parse((body or SucceedRequest()).card_number)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        if card.decline() is not None:
            raise HTTPException(422, "that test card declines; use /cancel")
        return inspected(lambda: store.pay(payment_id, card))

    @app.post("/_sandbox/payments/{payment_id}/cancel", tags=["inspection"])
    async def cancel_as_yookassa(
        payment_id: str, body: CancelRequest | None = Body(default=None)
    ) -> dict[str, Any]:
        """Cancel as YooKassa would (expiry by default), sending ``payment.canceled``."""
        request = body or CancelRequest()
        return inspected(lambda: store.expire(payment_id, request.party, request.reason))

    @app.get("/_sandbox/refunds", tags=["inspection"])
    async def list_refunds(payment_id: str | None = None) -> list[dict[str, Any]]:
        """Every refund (of one payment), oldest first."""
        return store.refunds(payment_id)

    @app.get("/_sandbox/notifications", tags=["inspection"])
    async def list_notifications(
        event: str | None = None,
        object_id: str | None = None,
        state: NotificationState | None = None,
        count: int = Query(default=1, ge=1, description="With wait: how many to wait for"),
        wait: float = Query(default=0.0, ge=0.0, le=MAX_WAIT_SECONDS),
    ) -> list[Notification]:
        """Notifications with every delivery attempt, oldest first; ``wait`` long-polls."""
        return await poll_until(
            lambda: notifier.notifications(event=event, object_id=object_id, state=state),
            lambda found: len(found) >= count,
            wait,
        )

    def webhook_view() -> WebhookView:
        return WebhookView(
            url=notifier.webhook_url,
            source_address=notifier.source_address,
            policy=notifier.policy,
        )

    @app.get("/_sandbox/webhook", tags=["inspection"])
    async def get_webhook() -> WebhookView:
        """Where notifications go, from which address, and how they are retried."""
        return webhook_view()

    @app.post("/_sandbox/webhook", tags=["inspection"])
    async def set_webhook(settings: WebhookSettings) -> WebhookView:
        """Send notifications of later events to ``url`` (null: nowhere)."""
        notifier.set_webhook_url(settings.url)
        if settings.policy is not None:
            notifier.policy = settings.policy
        return webhook_view()

    return app

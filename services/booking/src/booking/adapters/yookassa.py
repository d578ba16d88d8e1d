"""An async client for the YooKassa API v3 calls booking makes (integrations.md §1).

* Basic auth ``shopId:secretKey``; JSON bodies; base URL from configuration.
* Every POST carries an ``Idempotence-Key`` (ours: the payment's or refund's id), and a retry
  repeats the same body with the same key, so a retried create never makes a second payment.
* Retried: 500, 202 (after the body's ``retry_after`` ms), 429 (after ``Retry-After``), timeouts
  and connection errors, with growing delays. Never retried: any other 4xx (the request itself is
  wrong; retrying cannot fix it).
* Money is kopecks inside and a decimal string (``"1500.00"``) only here, at the edge.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx

logger = logging.getLogger("booking.yookassa")

RETRYABLE_STATUSES = frozenset({202, 429, 500})


def to_value(kopecks: int) -> str:
    """``150000`` → ``"1500.00"``."""
    if kopecks < 0:
        raise ValueError("amounts are never negative")
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def to_kopecks(value: str | int | float) -> int:
    """``"1500.00"`` → ``150000``."""
    try:
        amount = Decimal(str(value)) * 100
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if amount != amount.to_integral_value():
        raise ValueError(f"more than two decimals: {value!r}")
    return int(amount)


_OBJECT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def object_id(value: object) -> str | None:
    """A YooKassa payment or refund id (``2d0c6a1e-000f-5000-8000-1b8e6d1a6f7c``), or ``None``
    for anything else: ids from a notification body are checked before they go into a URL."""
    return value if isinstance(value, str) and _OBJECT_ID.fullmatch(value) else None


def _object_path(collection: str, value: str, *action: str) -> str:
    checked = object_id(value)
    if checked is None:
        raise ValueError(f"not a YooKassa object id: {value[:64]!r}")
    return "/".join((collection, quote(checked, safe=""), *action))


class YooKassaError(Exception):
    """YooKassa refused a request (a 4xx other than 429): do not retry it as is."""

    def __init__(self, status: int, body: Mapping[str, Any] | None) -> None:
        body = body or {}
        self.status = status
        self.code = str(body.get("code", "unknown"))
        self.description = str(body.get("description", ""))
        self.parameter = body.get("parameter")
        super().__init__(f"YooKassa {status} {self.code}: {self.description}")


class YooKassaUnavailable(Exception):
    """YooKassa gave no definite answer after every attempt (500/202/429/timeouts)."""


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as YooKassa reports it."""

    id: str
    status: str
    paid: bool
    amount: int
    confirmation_url: str | None
    metadata: Mapping[str, Any]
    cancellation_party: str | None = None
    cancellation_reason: str | None = None
    captured_at: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ProviderPayment:
        """Parse a Payment object."""
        confirmation = body.get("confirmation") or {}
        details = body.get("cancellation_details") or {}
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            paid=bool(body.get("paid", False)),
            amount=to_kopecks(body["amount"]["value"]),
            confirmation_url=confirmation.get("confirmation_url"),
            metadata=dict(body.get("metadata") or {}),
            cancellation_party=details.get("party"),
            cancellation_reason=details.get("reason"),
            captured_at=body.get("captured_at"),
            raw=dict(body),
        )


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as YooKassa reports it."""

    id: str
    payment_id: str
    status: str
    amount: int
    cancellation_reason: str | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ProviderRefund:
        """Parse a Refund object."""
        details = body.get("cancellation_details") or {}
        return cls(
            id=str(body["id"]),
            payment_id=str(body["payment_id"]),
            status=str(body["status"]),
            amount=to_kopecks(body["amount"]["value"]),
            cancellation_reason=details.get("reason"),
        )


@dataclass(frozen=True)
class ReceiptCustomer:
    """Who gets the 54-FZ receipt: an email or an E.164 phone."""

    email: str | None = None
    phone: str | None = None

    def as_json(self) -> dict[str, str]:
        """The ``receipt.customer`` object."""
        if self.email:
            return {"email": self.email}
        if self.phone:
            return {"phone": self.phone}
        raise ValueError("a receipt needs the customer's email or phone")


Sleep = Callable[[float], Awaitable[None]]


class YooKassaClient:
    """The calls booking makes; one instance per process (it pools connections)."""

    def __init__(
        self,
        base_url: str,
        shop_id: str,
        secret_key: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        retry_base: float = 0.5,
        vat_code: int = 1,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.vat_code = vat_code
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            auth=httpx.BasicAuth(shop_id, secret_key),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        backoff = float(self.retry_base * 2.0 ** (attempt - 1))
        if response is None:
            return backoff
        if response.status_code == 429:
            try:
                return max(backoff, float(response.headers.get("Retry-After", "")))
            except ValueError:
                return backoff
        if response.status_code == 202:
            try:
                return float(response.json().get("retry_after", 0)) / 1000 or backoff
            except (ValueError, AttributeError):
                return backoff
        return backoff

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotence_key: str | None = None,
    ) -> dict[str, Any]:
        headers = {}
        if method == "POST":
            if not idempotence_key:
                raise ValueError("every POST to YooKassa needs an Idempotence-Key")
            headers["Idempotence-Key"] = idempotence_key
        last: str = "no attempt"
        for attempt in range(1, self.max_attempts + 1):
            response: httpx.Response | None = None
            try:
                response = await self._http.request(
                    method, path.lstrip("/"), json=body, headers=headers
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last = f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    data: dict[str, Any] = response.json()
                    return data
                if response.status_code not in RETRYABLE_STATUSES:
                    try:
                        error = response.json()
                    except ValueError:
                        error = None
                    raise YooKassaError(response.status_code, error)
                last = f"HTTP {response.status_code}"
            if attempt < self.max_attempts:
                delay = self._delay(attempt, response)
                logger.warning(
                    "YooKassa gave no definite answer; retrying with the same key",
                    extra={"path": path, "attempt": attempt, "outcome": last, "delay": delay},
                )
                await self._sleep(delay)
        raise YooKassaUnavailable(f"{method} {path}: {last} after {self.max_attempts} attempts")

    def _receipt(self, customer: ReceiptCustomer, description: str, amount: int) -> dict[str, Any]:
        return {
            "customer": customer.as_json(),
            "items": [
                {
                    "description": description[:128],
                    "quantity": "1.00",
                    "amount": {"value": to_value(amount), "currency": "RUB"},
                    "vat_code": self.vat_code,
                    "payment_mode": "full_prepayment",
                    "payment_subject": "service",
                }
            ],
        }

    async def create_payment(
        self,
        *,
        idempotence_key: str,
        amount: int,
        description: str,
        return_url: str,
        metadata: Mapping[str, str],
        customer: ReceiptCustomer,
    ) -> ProviderPayment:
        """``POST /payments``: a two-stage payment (``capture: false``) with a 54-FZ receipt.

        Paying only authorises the money (``waiting_for_capture``); booking captures it while
        the hold is still its client's and cancels the authorisation otherwise, so a payment
        that comes after its hold ended never takes money and needs no refund.
        """
        body = {
            "amount": {"value": to_value(amount), "currency": "RUB"},
            "capture": False,
            "confirmation": {"type": "redirect", "return_url": return_url},
            "description": description[:128],
            "metadata": dict(metadata),
            "receipt": self._receipt(customer, description, amount),
        }
        data = await self._call("POST", "payments", body=body, idempotence_key=idempotence_key)
        return ProviderPayment.from_json(data)

    async def get_payment(self, payment_id: str) -> ProviderPayment:
        """``GET /payments/{id}``: the payment's current state (what webhooks are checked by)."""
        return ProviderPayment.from_json(
            await self._call("GET", _object_path("payments", payment_id))
        )

    async def capture_payment(self, payment_id: str, *, idempotence_key: str) -> ProviderPayment:
        """``POST /payments/{id}/capture`` of the whole authorised amount (the receipt was sent
        with the payment); valid while ``waiting_for_capture``."""
        data = await self._call(
            "POST",
            _object_path("payments", payment_id, "capture"),
            body={},
            idempotence_key=idempotence_key,
        )
        return ProviderPayment.from_json(data)

    async def cancel_payment(self, payment_id: str, *, idempotence_key: str) -> ProviderPayment:
        """``POST /payments/{id}/cancel`` (valid while ``waiting_for_capture``)."""
        data = await self._call(
            "POST",
            _object_path("payments", payment_id, "cancel"),
            body={},
            idempotence_key=idempotence_key,
        )
        return ProviderPayment.from_json(data)

    async def create_refund(
        self,
        *,
        idempotence_key: str,
        payment_id: str,
        amount: int,
        description: str,
        customer: ReceiptCustomer | None,
    ) -> ProviderRefund:
        """``POST /refunds`` (with a refund receipt when the customer's contact is known)."""
        body: dict[str, Any] = {
            "payment_id": payment_id,
            "amount": {"value": to_value(amount), "currency": "RUB"},
            "description": description[:250],
        }
        if customer is not None:
            body["receipt"] = self._receipt(customer, description, amount)
        data = await self._call("POST", "refunds", body=body, idempotence_key=idempotence_key)
        return ProviderRefund.from_json(data)

    async def get_refund(self, refund_id: str) -> ProviderRefund:
        """``GET /refunds/{id}``."""
        return ProviderRefund.from_json(await self._call("GET", _object_path("refunds", refund_id)))

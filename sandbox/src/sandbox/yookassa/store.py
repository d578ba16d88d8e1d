"""The fake shop's memory: payments, refunds and remembered ``Idempotence-Key`` answers.

One :class:`PaymentStore` per app. Every method takes one re-entrant lock, so handlers, the
inspection API and threads can call it at once. Transitions follow integrations.md §1.4:
``pending → waiting_for_capture | succeeded | canceled``, ``waiting_for_capture → succeeded |
canceled``. Each transition calls ``on_event(event, object)`` with the object as ``GET`` shows it
then, under the lock, so notifications leave in the order things happened.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.yookassa.errors import YooKassaError, invalid_request, not_found
from sandbox.yookassa.validation import (
    CaptureRequest,
    Money,
    PaymentCreate,
    RefundCreate,
    format_money,
)

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware UTC."""

EventSink = Callable[[str, dict[str, Any]], object]
"""``on_event("payment.succeeded", payment_object)``."""

IDEMPOTENCE_TTL = timedelta(hours=24)
"""How long an ``Idempotence-Key`` answer is replayed (integrations.md §1.1)."""

GATEWAY_ID = "100700"
"""``recipient.gateway_id`` of the sandbox shop."""

COMMISSION_RATE = Decimal("0.035")
"""What the test shop keeps: ``income_amount`` is the amount minus 3.5 %."""

CAPTURE_WINDOW = timedelta(days=7)
"""``expires_at`` of a bank-card payment in ``waiting_for_capture``."""

SUCCESS_CARD = "5555555555554444"
"""YooKassa's test card that pays without 3-D Secure."""

DECLINING_CARDS: dict[str, tuple[str, str]] = {
    "4600": ("payment_network", "insufficient_funds"),
    "4592": ("yoo_money", "3d_secure_failed"),
    "4527": ("payment_network", "general_decline"),
}
"""Last four digits of YooKassa's declining test cards → ``cancellation_details`` party, reason."""

THREE_DS_CARD_LAST4 = "4477"
"""The test card that pays after 3-D Secure (``authorization_details.three_d_secure.applied``)."""


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def wire_time(moment: datetime) -> str:
    """``2019-01-22T14:30:45.129Z``: YooKassa's timestamps, UTC with milliseconds."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _object_id(kind: str) -> str:
    """Ids shaped like YooKassa's: ``-000f-5000-`` for payments, ``-0015-5000-`` for refunds."""
    digits = uuid.uuid4().hex
    return f"{digits[:8]}-{kind}-5000-8000-{digits[8:20]}"


@dataclass(frozen=True)
class Card:
    """The card a payer typed on the checkout page (only what YooKassa shows of it)."""

    first6: str
    last4: str
    expiry_month: str
    expiry_year: str

    @classmethod
    def parse(cls, number: str, expiry_month: str = "12", expiry_year: str = "2030") -> Card:
        """A card from its number; ``ValueError`` when it is not a plausible card number."""
        digits = number.replace(" ", "").replace("-", "")
        if not digits.isdigit() or not 13 <= len(digits) <= 19 or not _luhn_ok(digits):
            raise ValueError("invalid card number")
        if not (expiry_month.isdigit() and 1 <= int(expiry_month) <= 12):
            raise ValueError("invalid expiry month")
        if not (expiry_year.isdigit() and len(expiry_year) == 4):
            raise ValueError("invalid expiry year")
        return cls(digits[:6], digits[-4:], f"{int(expiry_month):02d}", expiry_year)

    @property
    def card_type(self) -> str:
        """Payment system by the first digits, as YooKassa names it."""
        if self.first6.startswith("220"):
            return "Mir"
        return {"4": "Visa", "5": "MasterCard", "3": "AmericanExpress"}.get(
            self.first6[0], "Unknown"
        )

    def decline(self) -> tuple[str, str] | None:
        """``(party, reason)`` when this is a declining test card, else ``None``."""
        return DECLINING_CARDS.get(self.last4)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


@dataclass
class PaymentRecord:
    """One payment as the fake keeps it."""

    id: str
    shop_id: str
    amount: Money
    capture: bool
    return_url: str
    confirmation_url: str
    description: str | None
    metadata: dict[str, str]
    receipt: dict[str, Any] | None
    created_at: datetime
    status: str = "pending"
    card: Card | None = None
    captured_at: datetime | None = None
    expires_at: datetime | None = None
    cancellation_details: dict[str, str] | None = None
    refunded: Decimal = field(default_factory=Decimal)

    @property
    def paid(self) -> bool:
        """Money was authorised: ``waiting_for_capture`` or ``succeeded``."""
        return self.status in ("waiting_for_capture", "succeeded")

    @property
    def refundable_value(self) -> Decimal:
        """What can still be refunded: the captured amount minus earlier refunds."""
        return self.amount.value - self.refunded if self.status == "succeeded" else Decimal(0)

    def wire(self) -> dict[str, Any]:
        """The Payment object as ``GET /v3/payments/{id}`` returns it."""
        body: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "paid": self.paid,
            "amount": self.amount.wire(),
        }
        if self.paid:
            income = self.amount.value - (self.amount.value * COMMISSION_RATE).quantize(
                Decimal("0.01")
            )
            body["income_amount"] = Money(income, self.amount.currency).wire()
        if self.status == "pending":
            body["confirmation"] = {
                "type": "redirect",
                "return_url": self.return_url,
                "confirmation_url": self.confirmation_url,
            }
        body["created_at"] = wire_time(self.created_at)
        if self.captured_at is not None:
            body["captured_at"] = wire_time(self.captured_at)
        if self.expires_at is not None and self.status == "waiting_for_capture":
            body["expires_at"] = wire_time(self.expires_at)
        if self.description is not None:
            body["description"] = self.description
        body["metadata"] = dict(self.metadata)
        if self.card is not None:
            body["payment_method"] = {
                "type": "bank_card",
                "id": self.id,
                "saved": False,
                "title": f"Bank card *{self.card.last4}",
                "card": {
                    "first6": self.card.first6,
                    "last4": self.card.last4,
                    "expiry_month": self.card.expiry_month,
                    "expiry_year": self.card.expiry_year,
                    "card_type": self.card.card_type,
                    "issuer_country": "RU",
                },
            }
        if self.paid and self.card is not None:
            body["authorization_details"] = {
                "rrn": str(int(self.id.replace("-", "")[-12:], 16))[:12],
                "auth_code": self.id[:6].upper(),
                "three_d_secure": {"applied": self.card.last4 == THREE_DS_CARD_LAST4},
            }
        body["recipient"] = {"account_id": self.shop_id, "gateway_id": GATEWAY_ID}
        body["refundable"] = self.refundable_value > 0
        if self.refunded > 0:
            body["refunded_amount"] = Money(self.refunded, self.amount.currency).wire()
        if self.receipt is not None and self.status != "canceled":
            body["receipt_registration"] = "succeeded" if self.status == "succeeded" else "pending"
        if self.cancellation_details is not None:
            body["cancellation_details"] = dict(self.cancellation_details)
        body["test"] = True
        return body


@dataclass
class RefundRecord:
    """One refund as the fake keeps it (refunds succeed at once in the sandbox)."""

    id: str
    payment_id: str
    shop_id: str
    amount: Money
    created_at: datetime
    description: str | None = None
    metadata: dict[str, str] | None = None
    receipt: dict[str, Any] | None = None
    status: str = "succeeded"

    def wire(self) -> dict[str, Any]:
        """The Refund object as ``GET /v3/refunds/{id}`` returns it."""
        body: dict[str, Any] = {
            "id": self.id,
            "payment_id": self.payment_id,
            "status": self.status,
            "created_at": wire_time(self.created_at),
            "amount": self.amount.wire(),
        }
        if self.description is not None:
            body["description"] = self.description
        if self.metadata:
            body["metadata"] = dict(self.metadata)
        if self.receipt is not None:
            body["receipt_registration"] = "succeeded"
        return body


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer given for an ``Idempotence-Key``, replayed byte for byte."""

    fingerprint: str
    status: int
    body: bytes
    stored_at: datetime


class PaymentStore:
    """Thread-safe payments, refunds and idempotence memory of one fake."""

    def __init__(
        self,
        *,
        clock: Clock = utc_now,
        on_event: EventSink | None = None,
        idempotence_ttl: timedelta = IDEMPOTENCE_TTL,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._on_event = on_event
        self._ttl = idempotence_ttl
        self._payments: dict[str, PaymentRecord] = {}
        self._refunds: dict[str, RefundRecord] = {}
        self._answers: dict[tuple[str, str], StoredAnswer] = {}

    def now(self) -> datetime:
        """The fake's clock."""
        return self._clock()

    # ----------------------------------------------------------------- idempotence

    def idempotent(
        self,
        shop_id: str,
        key: str,
        fingerprint: str,
        operation: Callable[[], tuple[int, bytes]],
    ) -> tuple[int, bytes, bool]:
        """Run ``operation`` once per key and 24 h; ``(status, body, replayed)``.

        The same key with the same ``fingerprint`` (method, path, body) replays the first answer;
        with another fingerprint it is a 400 ``Idempotence key duplicated``. Errors the operation
        raises (:class:`YooKassaError`) are answers too and are remembered like successes.
        """
        with self._lock:
            now = self._clock()
            stored = self._answers.get((shop_id, key))
            if stored is not None and now - stored.stored_at < self._ttl:
                if stored.fingerprint != fingerprint:
                    raise invalid_request("Idempotence key duplicated", "Idempotence-Key")
                return stored.status, stored.body, True
            status, body = operation()
            self._answers[(shop_id, key)] = StoredAnswer(fingerprint, status, body, now)
            return status, body, False

    # ----------------------------------------------------------------- payments

    def create_payment(
        self, shop_id: str, request: PaymentCreate, checkout_base_url: str
    ) -> dict[str, Any]:
        """A new ``pending`` payment whose ``confirmation_url`` is the fake's checkout page."""
        with self._lock:
            payment_id = _object_id("000f")
            record = PaymentRecord(
                id=payment_id,
                shop_id=shop_id,
                amount=request.amount,
                capture=request.capture,
                return_url=request.return_url,
                confirmation_url=f"{checkout_base_url.rstrip('/')}/{payment_id}",
                description=request.description,
                metadata=dict(request.metadata or {}),
                receipt=request.receipt,
                created_at=self._clock(),
            )
            self._payments[payment_id] = record
            return record.wire()

    def _payment(self, payment_id: str, shop_id: str | None = None) -> PaymentRecord:
        record = self._payments.get(payment_id)
        if record is None or (shop_id is not None and record.shop_id != shop_id):
            raise not_found(f"Payment {payment_id} not found", "payment_id")
        return record

    def get_payment(self, payment_id: str, shop_id: str | None = None) -> dict[str, Any]:
        """The payment as ``GET`` shows it; 404 when another shop's or unknown."""
        with self._lock:
            return self._payment(payment_id, shop_id).wire()

    def pay(self, payment_id: str, card: Card) -> dict[str, Any]:
        """The payer confirms with ``card`` (checkout page or inspection API).

        A declining test card cancels the payment; any other card authorises it:
        ``succeeded`` when it was created with ``capture: true``, else ``waiting_for_capture``.
        Raises :class:`YooKassaError` 404/409 when unknown or no longer ``pending``.
        """
        with self._lock:
            record = self._payment(payment_id)
            if record.status != "pending":
                raise YooKassaError(
                    409, "invalid_request", f"Payment {payment_id} is already {record.status}"
                )
            record.card = card
            decline = card.decline()
            if decline is not None:
                party, reason = decline
                return self._cancel(record, party, reason)
            if record.capture:
                record.status = "succeeded"
                record.captured_at = self._clock()
                return self._emit("payment.succeeded", record)
            record.status = "waiting_for_capture"
            record.expires_at = self._clock() + CAPTURE_WINDOW
            return self._emit("payment.waiting_for_capture", record)

    def expire(
        self, payment_id: str, party: str = "yoo_money", reason: str | None = None
    ) -> dict[str, Any]:
        """Cancel as YooKassa itself would: ``expired_on_confirmation`` while ``pending``,
        ``expired_on_capture`` while ``waiting_for_capture`` (or the ``reason`` given)."""
        with self._lock:
            record = self._payment(payment_id)
            if record.status not in ("pending", "waiting_for_capture"):
                raise YooKassaError(
                    409, "invalid_request", f"Payment {payment_id} is already {record.status}"
                )
            default = (
                "expired_on_confirmation" if record.status == "pending" else "expired_on_capture"
            )
            return self._cancel(record, party, reason or default)

    def capture(self, shop_id: str, payment_id: str, request: CaptureRequest) -> dict[str, Any]:
        """``POST /payments/{id}/capture``: ``waiting_for_capture`` → ``succeeded``."""
        with self._lock:
            record = self._payment(payment_id, shop_id)
            if record.status != "waiting_for_capture":
                raise invalid_request(
                    f"Payment {payment_id} is {record.status}; only a payment waiting for "
                    "capture can be captured",
                    "payment_id",
                )
            if request.amount is not None:
                record.amount = request.amount
            if request.receipt is not None:
                record.receipt = request.receipt
            record.status = "succeeded"
            record.captured_at = self._clock()
            record.expires_at = None
            return self._emit("payment.succeeded", record)

    def cancel(self, shop_id: str, payment_id: str) -> dict[str, Any]:
        """``POST /payments/{id}/cancel``: only from ``waiting_for_capture`` (§1.5)."""
        with self._lock:
            record = self._payment(payment_id, shop_id)
            if record.status != "waiting_for_capture":
                raise invalid_request(
                    f"Payment {payment_id} is {record.status}; only a payment waiting for "
                    "capture can be canceled",
                    "payment_id",
                )
            return self._cancel(record, "merchant", "canceled_by_merchant")

    def _cancel(self, record: PaymentRecord, party: str, reason: str) -> dict[str, Any]:
        record.status = "canceled"
        record.expires_at = None
        record.cancellation_details = {"party": party, "reason": reason}
        return self._emit("payment.canceled", record)

    def payments(self) -> list[dict[str, Any]]:
        """Every payment, oldest first."""
        with self._lock:
            return [record.wire() for record in self._payments.values()]

    # ----------------------------------------------------------------- refunds

    def create_refund(self, shop_id: str, request: RefundCreate) -> dict[str, Any]:
        """``POST /refunds``: at most the captured amount minus earlier refunds; succeeds now."""
        with self._lock:
            payment = self._payments.get(request.payment_id)
            if payment is None or payment.shop_id != shop_id:
                raise invalid_request(f"Payment {request.payment_id} not found", "payment_id")
            if payment.status != "succeeded":
                raise invalid_request(
                    f"Payment {payment.id} is {payment.status}; only a succeeded payment can be "
                    "refunded",
                    "payment_id",
                )
            if request.amount.currency != payment.amount.currency:
                raise invalid_request(
                    "Refund currency differs from the payment's", "amount.currency"
                )
            available = payment.refundable_value
            if request.amount.value > available:
                raise invalid_request(
                    f"Refund amount {format_money(request.amount.value)} exceeds what is left to "
                    f"refund: {format_money(available)}",
                    "amount.value",
                )
            refund = RefundRecord(
                id=_object_id("0015"),
                payment_id=payment.id,
                shop_id=shop_id,
                amount=request.amount,
                created_at=self._clock(),
                description=request.description,
                metadata=request.metadata,
                receipt=request.receipt,
            )
            self._refunds[refund.id] = refund
            payment.refunded += request.amount.value
            body = refund.wire()
            if self._on_event is not None:
                self._on_event("refund.succeeded", body)
            return body

    def get_refund(self, refund_id: str, shop_id: str | None = None) -> dict[str, Any]:
        """The refund as ``GET`` shows it; 404 when another shop's or unknown."""
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None or (shop_id is not None and refund.shop_id != shop_id):
                raise not_found(f"Refund {refund_id} not found", "refund_id")
            return refund.wire()

    def refunds(self, payment_id: str | None = None) -> list[dict[str, Any]]:
        """Every refund (of one payment), oldest first."""
        with self._lock:
            return [
                refund.wire()
                for refund in self._refunds.values()
                if payment_id is None or refund.payment_id == payment_id
            ]

    # ----------------------------------------------------------------- housekeeping

    def _emit(self, event: str, record: PaymentRecord) -> dict[str, Any]:
        body = record.wire()
        if self._on_event is not None:
            self._on_event(event, body)
        return body

    def reset(self) -> None:
        """Forget payments, refunds and remembered answers."""
        with self._lock:
            self._payments.clear()
            self._refunds.clear()
            self._answers.clear()

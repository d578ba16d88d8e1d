"""Checks of request bodies, answered like YooKassa: 400 ``invalid_request`` naming the parameter.

Parameters are named by their path in the body (``receipt.items[0].vat_code``). Rules come from
integrations.md §1.3 and §1.5 and the official SDK's request models. Two deliberate strictnesses:
a payment must carry a receipt (the shop sends 54-FZ receipts; ``require_receipt=False`` lifts it),
and every receipt item must name its ``payment_subject`` and ``payment_mode``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.yookassa.errors import invalid_request

CURRENCY = "RUB"
"""The only currency the sandbox shop takes (a test shop's account currency)."""

DESCRIPTION_MAX = 128
REFUND_DESCRIPTION_MAX = 250
RETURN_URL_MAX = 2048
METADATA_MAX_KEYS = 16
METADATA_KEY_MAX = 32
METADATA_VALUE_MAX = 512
RECEIPT_ITEMS_MAX = 100

PAYMENT_MODES = frozenset(
    {
        "full_prepayment",
        "partial_prepayment",
        "advance",
        "full_payment",
        "partial_payment",
        "credit",
        "credit_payment",
    }
)
"""Values of ``receipt.items[].payment_mode`` (54-FZ tag 1214)."""

PAYMENT_SUBJECTS = frozenset(
    {
        "commodity",
        "excise",
        "job",
        "service",
        "gambling_bet",
        "gambling_prize",
        "lottery",
        "lottery_prize",
        "intellectual_activity",
        "payment",
        "agent_commission",
        "composite",
        "another",
        "property_right",
        "non_operating_gain",
        "insurance_premium",
        "sales_tax",
        "resort_fee",
    }
)
"""Values of ``receipt.items[].payment_subject`` (54-FZ tag 1212)."""

_MONEY = re.compile(r"^\d{1,12}(\.\d{1,2})?$")
_QUANTITY = re.compile(r"^\d{1,10}(\.\d{1,3})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?\d{11,15}$")
_INN = re.compile(r"^(\d{10}|\d{12})$")


@dataclass(frozen=True)
class Money:
    """An amount in kopeck precision and its currency."""

    value: Decimal
    currency: str = CURRENCY

    def wire(self) -> dict[str, str]:
        """``{"value": "1500.00", "currency": "RUB"}``."""
        return {"value": format_money(self.value), "currency": self.currency}


def format_money(value: Decimal) -> str:
    """A decimal string with exactly two digits after the point."""
    return str(value.quantize(Decimal("0.01")))


@dataclass(frozen=True)
class PaymentCreate:
    """A valid ``POST /payments`` body."""

    amount: Money
    capture: bool
    return_url: str
    description: str | None
    metadata: dict[str, str] | None
    receipt: dict[str, Any] | None


@dataclass(frozen=True)
class CaptureRequest:
    """A valid ``POST /payments/{id}/capture`` body (every part optional)."""

    amount: Money | None = None
    receipt: dict[str, Any] | None = None


@dataclass(frozen=True)
class RefundCreate:
    """A valid ``POST /refunds`` body."""

    payment_id: str
    amount: Money
    description: str | None
    metadata: dict[str, str] | None = None
    receipt: dict[str, Any] | None = field(default=None)


def _object(value: Any, parameter: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_request(f"Parameter {parameter} must be an object", parameter)
    return value


def _string(value: Any, parameter: str, *, max_length: int, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise invalid_request(f"Parameter {parameter} is missing", parameter)
        return None
    if not isinstance(value, str) or (required and not value):
        raise invalid_request(f"Parameter {parameter} must be a non-empty string", parameter)
    if len(value) > max_length:
        raise invalid_request(
            f"Parameter {parameter} is too long: {len(value)} characters, at most {max_length}",
            parameter,
        )
    return value


def _decimal(value: Any, parameter: str, pattern: re.Pattern[str], what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise invalid_request(f"Parameter {parameter} must be a decimal string", parameter)
    text = str(value)
    if not pattern.match(text):
        raise invalid_request(f"Invalid {what} value {text!r} in {parameter}", parameter)
    try:
        number = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already guarantees digits
        raise invalid_request(f"Invalid {what} value {text!r}", parameter) from exc
    if number <= 0:
        raise invalid_request(f"Parameter {parameter} must be greater than 0", parameter)
    return number


def parse_amount(value: Any, parameter: str = "amount", currency: str = CURRENCY) -> Money:
    """``{"value": "1500.00", "currency": "RUB"}``: positive, at most two decimals, in RUB."""
    if value is None:
        raise invalid_request(f"Parameter {parameter} is missing", parameter)
    amount = _object(value, parameter)
    if amount.get("value") is None:
        raise invalid_request(f"Parameter {parameter}.value is missing", f"{parameter}.value")
    number = _decimal(amount["value"], f"{parameter}.value", _MONEY, "amount")
    if amount.get("currency") != currency:
        raise invalid_request(
            f"Invalid currency {amount.get('currency')!r}: the shop accepts {currency}",
            f"{parameter}.currency",
        )
    return Money(number, currency)


def parse_metadata(value: Any, parameter: str = "metadata") -> dict[str, str] | None:
    """At most 16 keys of at most 32 characters, string values of at most 512."""
    if value is None:
        return None
    metadata = _object(value, parameter)
    if len(metadata) > METADATA_MAX_KEYS:
        raise invalid_request(
            f"Too many keys in {parameter}: {len(metadata)}, at most {METADATA_MAX_KEYS}",
            parameter,
        )
    for key, item in metadata.items():
        if len(key) > METADATA_KEY_MAX:
            raise invalid_request(
                f"Key {key!r} in {parameter} is longer than {METADATA_KEY_MAX} characters",
                f"{parameter}.{key}",
            )
        if not isinstance(item, str) or len(item) > METADATA_VALUE_MAX:
            raise invalid_request(
                f"Value of {parameter}.{key} must be a string of at most "
                f"{METADATA_VALUE_MAX} characters",
                f"{parameter}.{key}",
            )
    return dict(metadata)


def parse_receipt(value: Any, total: Money, parameter: str = "receipt") -> dict[str, Any]:
    """A 54-FZ receipt: a customer with email or phone; items that add up to ``total``."""
    receipt = _object(value, parameter)
    customer = receipt.get("customer")
    customer = {} if customer is None else _object(customer, f"{parameter}.customer")
    email = customer.get("email", receipt.get("email"))
    phone = customer.get("phone", receipt.get("phone"))
    if not email and not phone:
        raise invalid_request(
            "Receipt customer has neither email nor phone: give at least one",
            f"{parameter}.customer",
        )
    if email is not None and (not isinstance(email, str) or not _EMAIL.match(email)):
        raise invalid_request(f"Invalid email {email!r}", f"{parameter}.customer.email")
    if phone is not None and (not isinstance(phone, str) or not _PHONE.match(phone)):
        raise invalid_request(
            f"Invalid phone {phone!r}: use the ITU-T E.164 format, e.g. 79000000000",
            f"{parameter}.customer.phone",
        )
    _string(customer.get("full_name"), f"{parameter}.customer.full_name", max_length=256)
    inn = customer.get("inn")
    if inn is not None and (not isinstance(inn, str) or not _INN.match(inn)):
        raise invalid_request("INN must be 10 or 12 digits", f"{parameter}.customer.inn")
    tax_system_code = receipt.get("tax_system_code")
    if tax_system_code is not None and (
        isinstance(tax_system_code, bool)
        or not isinstance(tax_system_code, int)
        or not 1 <= tax_system_code <= 6
    ):
        raise invalid_request(
            "tax_system_code must be an integer from 1 to 6", f"{parameter}.tax_system_code"
        )

    items = receipt.get("items")
    if not isinstance(items, list) or not items:
        raise invalid_request("Receipt must have at least one item", f"{parameter}.items")
    if len(items) > RECEIPT_ITEMS_MAX:
        raise invalid_request(
            f"Too many receipt items: {len(items)}, at most {RECEIPT_ITEMS_MAX}",
            f"{parameter}.items",
        )
    sum_of_items = Decimal(0)
    for index, raw_item in enumerate(items):
        path = f"{parameter}.items[{index}]"
        item = _object(raw_item, path)
        _string(item.get("description"), f"{path}.description", max_length=128, required=True)
        if item.get("quantity") is None:
            raise invalid_request(f"Parameter {path}.quantity is missing", f"{path}.quantity")
        quantity = _decimal(item["quantity"], f"{path}.quantity", _QUANTITY, "quantity")
        price = parse_amount(item.get("amount"), f"{path}.amount", total.currency)
        vat_code = item.get("vat_code")
        if vat_code is None:
            raise invalid_request(f"Parameter {path}.vat_code is missing", f"{path}.vat_code")
        if isinstance(vat_code, bool) or not isinstance(vat_code, int) or not 1 <= vat_code <= 12:
            raise invalid_request(
                f"Invalid vat_code {vat_code!r}: an integer from 1 to 12", f"{path}.vat_code"
            )
        for name, allowed in (
            ("payment_subject", PAYMENT_SUBJECTS),
            ("payment_mode", PAYMENT_MODES),
        ):
            tag = item.get(name)
            if tag is None:
                raise invalid_request(f"Parameter {path}.{name} is missing", f"{path}.{name}")
            if tag not in allowed:
                raise invalid_request(f"Invalid {name} {tag!r}", f"{path}.{name}")
        sum_of_items += (price.value * quantity).quantize(Decimal("0.01"))
    if sum_of_items != total.value:
        raise invalid_request(
            f"The receipt items add up to {format_money(sum_of_items)}, "
            f"not to the amount {format_money(total.value)}",
            f"{parameter}.items",
        )
    return dict(receipt)


def parse_payment_create(body: Any, *, require_receipt: bool = True) -> PaymentCreate:
    """Validate a ``POST /payments`` body; only ``redirect`` confirmations are supported."""
    payment = _object(body, "body")
    amount = parse_amount(payment.get("amount"))
    description = _string(payment.get("description"), "description", max_length=DESCRIPTION_MAX)
    capture = payment.get("capture", False)
    if not isinstance(capture, bool):
        raise invalid_request("Parameter capture must be true or false", "capture")
    if payment.get("confirmation") is None:
        raise invalid_request("Parameter confirmation is missing", "confirmation")
    confirmation = _object(payment["confirmation"], "confirmation")
    if confirmation.get("type") != "redirect":
        raise invalid_request(
            f"Confirmation type {confirmation.get('type')!r} is not supported by the sandbox; "
            "use 'redirect'",
            "confirmation.type",
        )
    return_url = _string(
        confirmation.get("return_url"),
        "confirmation.return_url",
        max_length=RETURN_URL_MAX,
        required=True,
    )
    assert return_url is not None
    metadata = parse_metadata(payment.get("metadata"))
    receipt = None
    if payment.get("receipt") is not None:
        receipt = parse_receipt(payment["receipt"], amount)
    elif require_receipt:
        raise invalid_request("Receipt is missing or illegal", "receipt")
    return PaymentCreate(amount, capture, return_url, description, metadata, receipt)


def parse_capture(body: Any, authorized: Money) -> CaptureRequest:
    """Validate a capture body: nothing, or ``amount`` (partial capture) and ``receipt``."""
    if body is None:
        return CaptureRequest()
    capture = _object(body, "body")
    amount = None
    if capture.get("amount") is not None:
        amount = parse_amount(capture["amount"], currency=authorized.currency)
        if amount.value > authorized.value:
            raise invalid_request(
                f"Capture amount {format_money(amount.value)} exceeds the authorized "
                f"{format_money(authorized.value)}",
                "amount.value",
            )
    receipt = None
    if capture.get("receipt") is not None:
        receipt = parse_receipt(capture["receipt"], amount or authorized)
    return CaptureRequest(amount, receipt)


def parse_refund_create(body: Any) -> RefundCreate:
    """Validate a ``POST /refunds`` body (the payment's own rules are the store's)."""
    refund = _object(body, "body")
    payment_id = _string(refund.get("payment_id"), "payment_id", max_length=36, required=True)
    assert payment_id is not None
    amount = parse_amount(refund.get("amount"))
    description = _string(
        refund.get("description"), "description", max_length=REFUND_DESCRIPTION_MAX
    )
    metadata = parse_metadata(refund.get("metadata"))
    receipt = None
    if refund.get("receipt") is not None:
        receipt = parse_receipt(refund["receipt"], amount)
    return RefundCreate(payment_id, amount, description, metadata, receipt)

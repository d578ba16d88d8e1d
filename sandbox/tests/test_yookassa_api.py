"""YooKassa fake, API v3: the official ``yookassa`` SDK drives it and must parse every answer.

The SDK's request models validate what is sent (as booking's client will send it), its response
models parse what the fake returns; the tests then assert concrete values, because those models
are lenient (integrations.md §1.8). Idempotence, validation and auth are checked on the raw wire.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from sandbox.yookassa import DEFAULT_SECRET_KEY, DEFAULT_SHOP_ID, RunningYooKassa, running_yookassa
from yookassa import Configuration, Payment, Refund
from yookassa.domain.exceptions import BadRequestError, NotFoundError, UnauthorizedError
from yookassa.domain.models.confirmation.response.confirmation_redirect import (
    ConfirmationRedirect,
)
from yookassa.domain.models.payment_data.response.payment_data_bank_card import (
    PaymentDataBankCard,
)
from yookassa.domain.request.payment_request import PaymentRequest
from yookassa.domain.response import PaymentResponse, RefundResponse

T = TypeVar("T")

PAYMENT_ID = re.compile(r"^[0-9a-f]{8}-000f-5000-8000-[0-9a-f]{12}$")
REFUND_ID = re.compile(r"^[0-9a-f]{8}-0015-5000-8000-[0-9a-f]{12}$")
WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RETURN_URL = "https://app.example/return?order=42"


def payment_body(value: str = "1500.00", *, capture: bool = True, **changes: Any) -> dict[str, Any]:
    """A create-payment body as booking sends it (integrations.md §1.3)."""
    body: dict[str, Any] = {
        "amount": {"value": value, "currency": "RUB"},
        "capture": capture,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": "Консультация 15 января, 10:00",
        "metadata": {"appointment_id": "42"},
        "receipt": {
            "customer": {"email": "client@example.org"},
            "items": [
                {
                    "description": "Консультация психолога, 50 минут",
                    "quantity": "1.00",
                    "amount": {"value": value, "currency": "RUB"},
                    "vat_code": 1,
                    "payment_mode": "full_payment",
                    "payment_subject": "service",
                }
            ],
        },
    }
    body.update(changes)
    return body


async def sdk(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """The SDK is synchronous (requests): run it off the loop that serves the fake."""
    return await asyncio.to_thread(call, *args, **kwargs)


def basic(shop_id: str = DEFAULT_SHOP_ID, secret: str = DEFAULT_SECRET_KEY) -> dict[str, str]:
    token = base64.b64encode(f"{shop_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest_asyncio.fixture
async def yookassa() -> AsyncIterator[RunningYooKassa]:
    async with running_yookassa() as running:
        Configuration.configure(DEFAULT_SHOP_ID, DEFAULT_SECRET_KEY, api_url=running.api_url)
        yield running


@pytest_asyncio.fixture
async def api(yookassa: RunningYooKassa) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=yookassa.api_url, headers=basic()) as client:
        yield client


async def pay(yookassa: RunningYooKassa, payment_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=yookassa.base_url) as client:
        response = await client.post(f"/_sandbox/payments/{payment_id}/succeed")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_example_body_passes_the_sdk_request_model() -> None:
    PaymentRequest(payment_body()).validate()  # raises on what YooKassa would refuse


async def test_sdk_creates_a_payment_and_parses_every_field(yookassa: RunningYooKassa) -> None:
    key = str(uuid.uuid4())
    payment = await sdk(Payment.create, payment_body(), key)

    assert isinstance(payment, PaymentResponse)
    assert PAYMENT_ID.match(payment.id)
    assert payment.status == "pending"
    assert payment.paid is False
    assert payment.refundable is False
    assert payment.test is True
    assert payment.amount.value == Decimal("1500.00")
    assert payment.amount.currency == "RUB"
    assert payment.description == "Консультация 15 января, 10:00"
    assert payment.metadata == {"appointment_id": "42", "cms_name": "yookassa_sdk_python"}
    assert WIRE_TIME.match(payment.created_at)
    assert payment.recipient.account_id == DEFAULT_SHOP_ID
    assert isinstance(payment.confirmation, ConfirmationRedirect)
    assert payment.confirmation.return_url == RETURN_URL
    assert (
        payment.confirmation.confirmation_url
        == f"{yookassa.base_url}/sandbox/checkout/{payment.id}"
    )
    assert payment.payment_method is None
    assert payment.captured_at is None

    (sent,) = yookassa.app.state.sandbox.requests.select(path_prefix="/v3/payments")
    assert sent.headers["idempotence-key"] == key
    assert sent.headers["authorization"] == basic()["Authorization"]
    assert sent.body_json()["receipt"]["items"][0]["vat_code"] == 1
    assert sent.response_status == 200

    found = await sdk(Payment.find_one, payment.id)
    assert dict(found) == dict(payment)


async def test_two_stage_payment_capture_refunds_and_the_refund_limit(
    yookassa: RunningYooKassa,
) -> None:
    created = await sdk(Payment.create, payment_body(capture=False))
    await pay(yookassa, created.id)

    waiting = await sdk(Payment.find_one, created.id)
    assert waiting.status == "waiting_for_capture"
    assert waiting.paid is True
    assert waiting.confirmation is None
    assert WIRE_TIME.match(waiting.expires_at)
    assert isinstance(waiting.payment_method, PaymentDataBankCard)
    assert waiting.payment_method.card.last4 == "4444"
    assert waiting.payment_method.card.first6 == "555555"
    assert waiting.payment_method.card.card_type == "MasterCard"
    assert waiting.authorization_details.three_d_secure.applied is False
    with pytest.raises(BadRequestError) as early:
        await sdk(Refund.create, {"payment_id": created.id, "amount": dict(waiting.amount)})
    assert early.value.content["parameter"] == "payment_id"

    captured = await sdk(
        Payment.capture, created.id, {"amount": {"value": "1200.00", "currency": "RUB"}}
    )
    assert captured.status == "succeeded"
    assert captured.amount.value == Decimal("1200.00")
    assert captured.income_amount.value == Decimal("1158.00")  # 3.5 % commission
    assert WIRE_TIME.match(captured.captured_at)
    assert captured.expires_at is None
    assert captured.refundable is True

    refund = await sdk(
        Refund.create,
        {
            "payment_id": created.id,
            "amount": {"value": "700.00", "currency": "RUB"},
            "description": "Отмена за 12 часов: 70 %",
        },
    )
    assert isinstance(refund, RefundResponse)
    assert REFUND_ID.match(refund.id)
    assert refund.payment_id == created.id
    assert refund.status == "succeeded"
    assert refund.amount.value == Decimal("700.00")
    assert refund.description == "Отмена за 12 часов: 70 %"
    assert WIRE_TIME.match(refund.created_at)
    assert dict(await sdk(Refund.find_one, refund.id)) == dict(refund)

    with pytest.raises(BadRequestError) as over:
        await sdk(
            Refund.create,
            {"payment_id": created.id, "amount": {"value": "500.01", "currency": "RUB"}},
        )
    assert over.value.content["code"] == "invalid_request"
    assert over.value.content["parameter"] == "amount.value"
    assert "500.00" in over.value.content["description"]

    rest = await sdk(
        Refund.create, {"payment_id": created.id, "amount": {"value": "500.00", "currency": "RUB"}}
    )
    assert rest.amount.value == Decimal("500.00")
    after = await sdk(Payment.find_one, created.id)
    assert after.status == "succeeded"
    assert after.refunded_amount.value == Decimal("1200.00")
    assert after.refundable is False
    with pytest.raises(BadRequestError):
        await sdk(
            Refund.create,
            {"payment_id": created.id, "amount": {"value": "0.01", "currency": "RUB"}},
        )


async def test_cancel_only_from_waiting_for_capture(yookassa: RunningYooKassa) -> None:
    pending = await sdk(Payment.create, payment_body(capture=False))
    with pytest.raises(BadRequestError) as refused:
        await sdk(Payment.cancel, pending.id)
    assert refused.value.content["code"] == "invalid_request"
    assert "pending" in refused.value.content["description"]

    await pay(yookassa, pending.id)
    canceled = await sdk(Payment.cancel, pending.id)
    assert canceled.status == "canceled"
    assert canceled.paid is False
    assert canceled.cancellation_details.party == "merchant"
    assert canceled.cancellation_details.reason == "canceled_by_merchant"
    with pytest.raises(BadRequestError):
        await sdk(Payment.capture, pending.id)
    with pytest.raises(NotFoundError) as missing:
        await sdk(Payment.find_one, "00000000-000f-5000-8000-000000000000")
    assert missing.value.content["code"] == "not_found"


async def test_same_key_same_body_replays_the_first_answer_exactly(
    yookassa: RunningYooKassa, api: httpx.AsyncClient
) -> None:
    key = {"Idempotence-Key": "booking-42-attempt-1"}
    first = await api.post("/payments", json=payment_body(), headers=key)
    # the same data with keys in another order and other whitespace is the same request
    same_data = json.dumps(dict(reversed(payment_body().items())), indent=2, ensure_ascii=False)
    second = await api.post(
        "/payments",
        content=same_data.encode(),
        headers={**key, "Content-Type": "application/json"},
    )
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert len(yookassa.fake.store.payments()) == 1

    conflict = await api.post("/payments", json=payment_body("1600.00"), headers=key)
    assert conflict.status_code == 400
    error = conflict.json()
    assert error["type"] == "error"
    assert error["code"] == "invalid_request"
    assert error["description"] == "Idempotence key duplicated"
    assert error["parameter"] == "Idempotence-Key"
    assert uuid.UUID(error["id"])

    new_key = await api.post("/payments", json=payment_body(), headers={"Idempotence-Key": "k2"})
    assert new_key.json()["id"] != first.json()["id"]
    assert len(yookassa.fake.store.payments()) == 2


async def test_concurrent_requests_with_one_key_make_one_payment(
    yookassa: RunningYooKassa, api: httpx.AsyncClient
) -> None:
    headers = {"Idempotence-Key": str(uuid.uuid4())}
    answers = await asyncio.gather(
        *(api.post("/payments", json=payment_body(), headers=headers) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert len(yookassa.fake.store.payments()) == 1


async def test_idempotence_key_is_required_short_and_kept_for_24_hours() -> None:
    now = [datetime(2026, 1, 15, 7, 0, tzinfo=UTC)]
    async with (
        running_yookassa(clock=lambda: now[0]) as yookassa,
        httpx.AsyncClient(base_url=yookassa.api_url, headers=basic()) as api,
    ):
        missing = await api.post("/payments", json=payment_body())
        assert missing.status_code == 400
        assert missing.json()["parameter"] == "Idempotence-Key"
        assert missing.json()["code"] == "invalid_request"
        too_long = await api.post(
            "/payments", json=payment_body(), headers={"Idempotence-Key": "k" * 65}
        )
        assert too_long.status_code == 400
        assert too_long.json()["description"].startswith("Idempotence key is too long")
        no_key_cancel = await api.post("/payments/x/cancel")
        assert no_key_cancel.status_code == 400
        assert yookassa.fake.store.payments() == []

        key = {"Idempotence-Key": "k" * 64}
        first = (await api.post("/payments", json=payment_body(), headers=key)).json()
        assert first["created_at"] == "2026-01-15T07:00:00.000Z"
        now[0] += timedelta(hours=23, minutes=59)
        replay = (await api.post("/payments", json=payment_body(), headers=key)).json()
        assert replay == first
        now[0] += timedelta(minutes=1)
        later = (await api.post("/payments", json=payment_body(), headers=key)).json()
        assert later["id"] != first["id"]
        assert later["created_at"] == "2026-01-16T07:00:00.000Z"


async def test_basic_auth_with_configured_credentials() -> None:
    async with running_yookassa(credentials={"506751": "test_secret"}) as yookassa:
        async with httpx.AsyncClient(base_url=yookassa.api_url) as raw:
            anonymous = await raw.get("/payments/anything")
            default_shop = await raw.post(
                "/payments",
                json=payment_body(),
                headers={**basic(), "Idempotence-Key": "k"},
            )
        assert anonymous.status_code == 401
        assert anonymous.json()["type"] == "error"
        assert anonymous.json()["code"] == "invalid_credentials"
        assert default_shop.status_code == 401

        Configuration.configure("506751", "wrong", api_url=yookassa.api_url)
        with pytest.raises(UnauthorizedError) as refused:
            await sdk(Payment.create, payment_body())
        assert refused.value.content["code"] == "invalid_credentials"

        Configuration.configure("506751", "test_secret", api_url=yookassa.api_url)
        payment = await sdk(Payment.create, payment_body())
        assert payment.recipient.account_id == "506751"
        assert yookassa.fake.store.payments()[0]["id"] == payment.id


async def test_a_shop_sees_only_its_own_payments() -> None:
    shops = {"shop-a": "secret-a", "shop-b": "secret-b"}
    async with (
        running_yookassa(credentials=shops) as yookassa,
        httpx.AsyncClient(base_url=yookassa.api_url) as raw,
    ):
        created = await raw.post(
            "/payments",
            json=payment_body(),
            headers={**basic("shop-a", "secret-a"), "Idempotence-Key": "same"},
        )
        payment_id = created.json()["id"]
        mine = await raw.get(f"/payments/{payment_id}", headers=basic("shop-a", "secret-a"))
        theirs = await raw.get(f"/payments/{payment_id}", headers=basic("shop-b", "secret-b"))
        # keys are per shop: shop-b's "same" key with another body is no conflict
        other = await raw.post(
            "/payments",
            json=payment_body("10.00"),
            headers={**basic("shop-b", "secret-b"), "Idempotence-Key": "same"},
        )
    assert mine.status_code == 200
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "not_found"
    assert other.status_code == 200
    assert other.json()["amount"]["value"] == "10.00"


def _without(path: str) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        del target[last]

    return change


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return change


ITEM = "receipt.items.0"


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        (_without("amount"), "amount"),
        (_set("amount.value", "0.00"), "amount.value"),
        (_set("amount.value", "15.001"), "amount.value"),
        (_set("amount.value", "ten"), "amount.value"),
        (_set("amount.currency", "USD"), "amount.currency"),
        (_set("description", "д" * 129), "description"),
        (_set("capture", "yes"), "capture"),
        (_without("confirmation"), "confirmation"),
        (_set("confirmation.type", "qr"), "confirmation.type"),
        (_without("confirmation.return_url"), "confirmation.return_url"),
        (_set("metadata", {f"k{i}": "v" for i in range(17)}), "metadata"),
        (_set("metadata", {"appointment_id": 42}), "metadata.appointment_id"),
        (_without("receipt"), "receipt"),
        (_set("receipt.customer", {}), "receipt.customer"),
        (_set("receipt.customer", {"phone": "12345"}), "receipt.customer.phone"),
        (_set("receipt.items", []), "receipt.items"),
        (_without(f"{ITEM}.description"), "receipt.items[0].description"),
        (_set(f"{ITEM}.quantity", "0"), "receipt.items[0].quantity"),
        (_set(f"{ITEM}.vat_code", 13), "receipt.items[0].vat_code"),
        (_without(f"{ITEM}.vat_code"), "receipt.items[0].vat_code"),
        (_without(f"{ITEM}.payment_subject"), "receipt.items[0].payment_subject"),
        (_set(f"{ITEM}.payment_mode", "whenever"), "receipt.items[0].payment_mode"),
        (_set(f"{ITEM}.amount.value", "1499.99"), "receipt.items"),
    ],
)
async def test_invalid_payment_bodies_are_400_naming_the_parameter(
    yookassa: RunningYooKassa,
    api: httpx.AsyncClient,
    change: Callable[[dict[str, Any]], None],
    parameter: str,
) -> None:
    body = payment_body()
    change(body)
    response = await api.post(
        "/payments", json=body, headers={"Idempotence-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"] == "error"
    assert error["code"] == "invalid_request"
    assert error["parameter"] == parameter
    assert error["description"]
    assert yookassa.fake.store.payments() == []


async def test_receipt_by_phone_with_two_items_is_accepted(api: httpx.AsyncClient) -> None:
    body = payment_body("3000.00")
    body["receipt"] = {
        "customer": {"phone": "79001234567", "full_name": "Иванова Анна"},
        "items": [
            {
                "description": "Сессия",
                "quantity": "2",
                "amount": {"value": "1250.00", "currency": "RUB"},
                "vat_code": 1,
                "payment_mode": "full_prepayment",
                "payment_subject": "service",
            },
            {
                "description": "Тест",
                "quantity": "1.000",
                "amount": {"value": "500.00", "currency": "RUB"},
                "vat_code": 4,
                "payment_mode": "full_prepayment",
                "payment_subject": "service",
            },
        ],
    }
    PaymentRequest(body).validate()
    response = await api.post("/payments", json=body, headers={"Idempotence-Key": "phone"})
    assert response.status_code == 200, response.text
    assert response.json()["amount"] == {"value": "3000.00", "currency": "RUB"}


async def test_wire_details_content_type_and_bad_json(api: httpx.AsyncClient) -> None:
    headers = {"Idempotence-Key": str(uuid.uuid4())}
    form = await api.post("/payments", data={"amount": "1"}, headers=headers)
    assert form.status_code == 415
    assert form.json()["type"] == "error"
    broken = await api.post(
        "/payments",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.json()["code"] == "invalid_request"
    assert broken.headers["content-type"].startswith("application/json")
    wrong_method = await api.put("/payments")
    assert wrong_method.status_code == 405

"""YooKassa fake: the checkout page, webhook notifications, faults, inspection and the runner.

A small receiver app stands in for booking's webhook endpoint; the official SDK's
``WebhookNotificationFactory`` must parse every notification body it gets.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request, Response
from sandbox.registry import get_fake
from sandbox.runner import start_fake
from sandbox.testing import serve_app
from sandbox.yookassa import (
    DEFAULT_SECRET_KEY,
    DEFAULT_SHOP_ID,
    NotificationPolicy,
    RunningYooKassa,
    running_yookassa,
)
from yookassa import Configuration, Payment
from yookassa.domain.exceptions import TooManyRequestsError
from yookassa.domain.notification import (
    RefundWebhookNotification,
    WebhookNotification,
    WebhookNotificationFactory,
)
from yookassa.domain.response import PaymentResponse, RefundResponse

RETURN_URL = "https://app.example/return?order=42"
FAST = NotificationPolicy(max_attempts=4, first_delay=0.05, backoff=2.0, max_delay=0.2, timeout=5)


def payment_body(value: str = "1500.00", *, capture: bool = True) -> dict[str, Any]:
    """A create-payment body as booking sends it (integrations.md §1.3)."""
    return {
        "amount": {"value": value, "currency": "RUB"},
        "capture": capture,
        "confirmation": {"type": "redirect", "return_url": RETURN_URL},
        "description": "Консультация",
        "metadata": {"appointment_id": "42"},
        "receipt": {
            "customer": {"email": "client@example.org"},
            "items": [
                {
                    "description": "Консультация психолога",
                    "quantity": "1.00",
                    "amount": {"value": value, "currency": "RUB"},
                    "vat_code": 1,
                    "payment_mode": "full_payment",
                    "payment_subject": "service",
                }
            ],
        },
    }


def auth_headers(key: str | None = None) -> dict[str, str]:
    token = base64.b64encode(f"{DEFAULT_SHOP_ID}:{DEFAULT_SECRET_KEY}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    if key is not None:
        headers["Idempotence-Key"] = key
    return headers


@dataclass
class Receiver:
    """A webhook endpoint that answers from a script of status codes, then 200."""

    url: str
    script: list[int]
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, within: float = 10) -> None:
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = FastAPI()
    state = Receiver(url="", script=[])

    @app.post("/api/booking/payments/yookassa/webhook")
    async def webhook(request: Request) -> Response:
        assert request.client is not None
        state.received.append((request.client.host, await request.json()))
        state.arrived.set()
        return Response(status_code=state.script.pop(0) if state.script else 200)

    async with serve_app(app) as base_url:
        state.url = f"{base_url}/api/booking/payments/yookassa/webhook"
        yield state


@pytest_asyncio.fixture
async def yookassa(receiver: Receiver) -> AsyncIterator[RunningYooKassa]:
    async with running_yookassa(webhook_url=receiver.url, notification_policy=FAST) as running:
        Configuration.configure(DEFAULT_SHOP_ID, DEFAULT_SECRET_KEY, api_url=running.api_url)
        yield running


@pytest_asyncio.fixture
async def inspect(yookassa: RunningYooKassa) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=yookassa.base_url) as client:
        yield client


async def create(payment: dict[str, Any] | None = None) -> Any:
    return await asyncio.to_thread(Payment.create, payment or payment_body())


async def test_paying_on_the_checkout_page_notifies_the_webhook_until_it_answers_200(
    yookassa: RunningYooKassa, receiver: Receiver, inspect: httpx.AsyncClient
) -> None:
    receiver.script = [500, 503]
    payment = await create()
    page_url = payment.confirmation.confirmation_url

    async with httpx.AsyncClient() as browser:
        page = await browser.get(page_url)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "1500.00 RUB" in page.text
        assert f'action="/sandbox/checkout/{payment.id}"' in page.text
        assert 'name="card_number" value="5555555555554444"' in page.text

        paid = await browser.post(
            page_url,
            data={
                "card_number": "5555 5555 5555 4444",
                "expiry_month": "11",
                "expiry_year": "2031",
            },
        )
        assert paid.status_code == 303
        assert paid.headers["location"] == RETURN_URL
        again = await browser.post(page_url, data={"card_number": "5555555555554444"})
        assert again.status_code == 409
        assert "succeeded" in again.text

    await receiver.wait_for(3)
    assert [host for host, _ in receiver.received] == ["127.0.0.1"] * 3
    bodies = [body for _, body in receiver.received]
    assert bodies[0] == bodies[1] == bodies[2]
    notification = WebhookNotificationFactory().create(bodies[0])
    # payment events come back as the base class with a PaymentResponse inside
    assert type(notification) is WebhookNotification
    assert isinstance(notification.object, PaymentResponse)
    assert notification.type == "notification"
    assert notification.event == "payment.succeeded"
    assert notification.object.id == payment.id
    assert notification.object.status == "succeeded"
    assert notification.object.paid is True
    assert notification.object.amount.value == Decimal("1500.00")
    assert notification.object.payment_method.card.expiry_month == "11"
    assert notification.object.payment_method.card.expiry_year == "2031"
    assert notification.object.metadata["appointment_id"] == "42"

    listed = await inspect.get("/_sandbox/notifications", params={"event": "payment.succeeded"})
    (record,) = listed.json()
    assert record["state"] == "delivered"
    assert record["url"] == receiver.url
    assert record["object_id"] == payment.id
    assert [a["status_code"] for a in record["attempts"]] == [500, 503, 200]
    assert [a["number"] for a in record["attempts"]] == [1, 2, 3]
    assert {a["source_address"] for a in record["attempts"]} == {"127.0.0.1"}

    fetched = await asyncio.to_thread(Payment.find_one, payment.id)
    assert fetched.status == "succeeded"
    assert fetched.confirmation is None


@pytest.mark.parametrize(
    ("form", "party", "reason"),
    [
        ({"card_number": "5555555555554600"}, "payment_network", "insufficient_funds"),
        ({"card_number": "5555555555554592"}, "yoo_money", "3d_secure_failed"),
        ({"card_number": "5555555555554527"}, "payment_network", "general_decline"),
        ({"action": "decline"}, "yoo_money", "expired_on_confirmation"),
    ],
)
async def test_declining_cards_and_giving_up_cancel_the_payment(
    yookassa: RunningYooKassa,
    receiver: Receiver,
    form: dict[str, str],
    party: str,
    reason: str,
) -> None:
    payment = await create()
    async with httpx.AsyncClient() as browser:
        answer = await browser.post(payment.confirmation.confirmation_url, data=form)
    assert answer.status_code == 303
    assert answer.headers["location"] == RETURN_URL

    canceled = await asyncio.to_thread(Payment.find_one, payment.id)
    assert canceled.status == "canceled"
    assert canceled.paid is False
    assert canceled.cancellation_details.party == party
    assert canceled.cancellation_details.reason == reason

    await receiver.wait_for(1)
    (_, body), *_ = receiver.received
    assert body["event"] == "payment.canceled"
    assert body["object"]["cancellation_details"] == {"party": party, "reason": reason}


async def test_an_invalid_card_number_keeps_the_payment_pending(
    yookassa: RunningYooKassa, receiver: Receiver
) -> None:
    payment = await create()
    async with httpx.AsyncClient() as browser:
        answer = await browser.post(
            payment.confirmation.confirmation_url, data={"card_number": "5555555555554445"}
        )
        unknown = await browser.get(f"{yookassa.base_url}/sandbox/checkout/nope")
    assert answer.status_code == 400
    assert "Check the card" in answer.text
    assert unknown.status_code == 404
    assert (await asyncio.to_thread(Payment.find_one, payment.id)).status == "pending"
    await asyncio.sleep(0.2)
    assert receiver.received == []


async def test_two_stage_and_refund_notifications(
    yookassa: RunningYooKassa, receiver: Receiver, inspect: httpx.AsyncClient
) -> None:
    payment = await create(payment_body(capture=False))
    succeeded = await inspect.post(f"/_sandbox/payments/{payment.id}/succeed")
    assert succeeded.json()["status"] == "waiting_for_capture"
    await asyncio.to_thread(Payment.capture, payment.id)
    async with httpx.AsyncClient(base_url=yookassa.api_url) as api:
        refund = await api.post(
            "/refunds",
            json={"payment_id": payment.id, "amount": {"value": "300.00", "currency": "RUB"}},
            headers=auth_headers(str(uuid.uuid4())),
        )
    assert refund.status_code == 200

    await receiver.wait_for(3)
    events = [body["event"] for _, body in receiver.received]
    assert events == ["payment.waiting_for_capture", "payment.succeeded", "refund.succeeded"]
    refund_note = WebhookNotificationFactory().create(receiver.received[2][1])
    assert isinstance(refund_note, RefundWebhookNotification)
    assert isinstance(refund_note.object, RefundResponse)
    assert refund_note.object.id == refund.json()["id"]
    assert refund_note.object.payment_id == payment.id
    assert refund_note.object.amount.value == Decimal("300.00")

    refunds = (await inspect.get("/_sandbox/refunds", params={"payment_id": payment.id})).json()
    assert [r["amount"]["value"] for r in refunds] == ["300.00"]


async def test_delivery_gives_up_after_the_configured_attempts(
    yookassa: RunningYooKassa, receiver: Receiver, inspect: httpx.AsyncClient
) -> None:
    receiver.script = [500] * 10
    payment = await create()
    await inspect.post(f"/_sandbox/payments/{payment.id}/succeed")
    (record,) = (
        await inspect.get(
            "/_sandbox/notifications", params={"state": "gave_up", "wait": 10, "count": 1}
        )
    ).json()
    assert [a["status_code"] for a in record["attempts"]] == [500, 500, 500, 500]
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 4


async def test_webhook_url_is_set_through_the_inspection_api(receiver: Receiver) -> None:
    async with (
        running_yookassa(notification_policy=FAST) as yookassa,
        httpx.AsyncClient(base_url=yookassa.base_url) as inspect,
        httpx.AsyncClient(base_url=yookassa.api_url, headers=auth_headers()) as api,
    ):
        first = await api.post("/payments", json=payment_body(), headers={"Idempotence-Key": "1"})
        await inspect.post(f"/_sandbox/payments/{first.json()['id']}/succeed")
        (unsent,) = (await inspect.get("/_sandbox/notifications")).json()
        assert unsent["state"] == "no_webhook"
        assert unsent["attempts"] == []

        dead = await inspect.post("/_sandbox/webhook", json={"url": "http://127.0.0.1:9/nobody"})
        assert dead.status_code == 200
        second = await api.post("/payments", json=payment_body(), headers={"Idempotence-Key": "2"})
        await inspect.post(f"/_sandbox/payments/{second.json()['id']}/succeed")
        (gave_up,) = (
            await inspect.get("/_sandbox/notifications", params={"state": "gave_up", "wait": 10})
        ).json()
        assert len(gave_up["attempts"]) == 4
        assert all(a["status_code"] is None and a["error"] for a in gave_up["attempts"])

        view = await inspect.post("/_sandbox/webhook", json={"url": receiver.url})
        assert view.json()["url"] == receiver.url
        assert view.json()["source_address"] == "127.0.0.1"
        third = await api.post("/payments", json=payment_body(), headers={"Idempotence-Key": "3"})
        await inspect.post(
            f"/_sandbox/payments/{third.json()['id']}/cancel",
            json={"reason": "expired_on_confirmation"},
        )
        await receiver.wait_for(1)
        assert receiver.received[0][1]["event"] == "payment.canceled"
        assert receiver.received[0][1]["object"]["id"] == third.json()["id"]


async def test_faults_500_202_429_then_the_same_key_succeeds(
    yookassa: RunningYooKassa, inspect: httpx.AsyncClient
) -> None:
    faults = [
        {"method": "POST", "path": "^/v3/payments$", "status": 500, "times": 1,
         "body": {"type": "error", "code": "internal_server_error",
                  "description": "Internal server error"}},
        {"method": "POST", "path": "^/v3/payments$", "status": 202, "times": 1,
         "body": {"type": "processing", "description": "Request accepted", "retry_after": 1800}},
        {"method": "POST", "path": "^/v3/payments$", "status": 429, "times": 1,
         "headers": {"Retry-After": "2"},
         "body": {"type": "error", "code": "too_many_requests",
                  "description": "Too many requests"}},
    ]  # fmt: skip
    for fault in faults:
        assert (await inspect.post("/_sandbox/faults", json=fault)).status_code == 201

    headers = auth_headers("booking-hold-7")
    async with httpx.AsyncClient(base_url=yookassa.api_url) as api:
        answers = [await api.post("/payments", json=payment_body(), headers=headers)]
        answers += [await api.post("/payments", json=payment_body(), headers=headers)]
        answers += [await api.post("/payments", json=payment_body(), headers=headers)]
        answers += [await api.post("/payments", json=payment_body(), headers=headers)]
        replay = await api.post("/payments", json=payment_body(), headers=headers)

    assert [a.status_code for a in answers] == [500, 202, 429, 200]
    assert answers[0].json()["code"] == "internal_server_error"
    assert answers[1].json()["retry_after"] == 1800
    assert answers[2].headers["retry-after"] == "2"
    assert replay.content == answers[3].content
    (payment,) = (await inspect.get("/_sandbox/payments")).json()
    assert payment["id"] == answers[3].json()["id"]
    recorded = (await inspect.get("/_sandbox/requests", params={"path_prefix": "/v3/"})).json()
    assert [r["response_status"] for r in recorded] == [500, 202, 429, 200, 200]
    assert {r["headers"]["idempotence-key"] for r in recorded} == {"booking-hold-7"}


async def test_the_sdk_raises_its_own_error_on_an_injected_429(
    yookassa: RunningYooKassa, inspect: httpx.AsyncClient
) -> None:
    await inspect.post(
        "/_sandbox/faults",
        json={
            "path": "^/v3/payments/",
            "status": 429,
            "headers": {"Retry-After": "1"},
            "body": {"type": "error", "code": "too_many_requests", "description": "slow down"},
        },
    )
    with pytest.raises(TooManyRequestsError) as limited:
        await asyncio.to_thread(Payment.find_one, "00000000-000f-5000-8000-000000000000")
    assert limited.value.content["code"] == "too_many_requests"


async def test_inspection_drives_lists_and_resets(
    yookassa: RunningYooKassa, inspect: httpx.AsyncClient
) -> None:
    first = await create()
    second = await create()
    assert (await inspect.post(f"/_sandbox/payments/{first.id}/succeed")).status_code == 200
    declining = await inspect.post(
        f"/_sandbox/payments/{second.id}/succeed", json={"card_number": "5555555555554600"}
    )
    assert declining.status_code == 422
    canceled = await inspect.post(f"/_sandbox/payments/{second.id}/cancel")
    assert canceled.json()["cancellation_details"] == {
        "party": "yoo_money",
        "reason": "expired_on_confirmation",
    }
    twice = await inspect.post(f"/_sandbox/payments/{second.id}/cancel")
    assert twice.status_code == 409
    assert (await inspect.post("/_sandbox/payments/nope/succeed")).status_code == 404

    succeeded = (await inspect.get("/_sandbox/payments", params={"status": "succeeded"})).json()
    assert [p["id"] for p in succeeded] == [first.id]
    one = (await inspect.get(f"/_sandbox/payments/{second.id}")).json()
    assert one["status"] == "canceled"
    await yookassa.fake.notifier.wait_for(lambda found: len(found) == 2, timeout=10)

    assert (await inspect.post("/_sandbox/reset")).status_code == 204
    assert (await inspect.get("/_sandbox/payments")).json() == []
    assert (await inspect.get("/_sandbox/notifications")).json() == []
    assert (await inspect.get("/_sandbox/webhook")).json()["url"] is not None


async def test_registered_and_started_by_the_runner(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = get_fake("yookassa")
    assert spec.implemented
    assert spec.ports == {"yookassa": 9001}
    monkeypatch.setenv("SANDBOX_YOOKASSA_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("SANDBOX_YOOKASSA_SHOP_ID", "506751")
    async with (
        start_fake(spec, {"yookassa": 0}) as (url,),
        httpx.AsyncClient(base_url=url) as client,
    ):
        health = (await client.get("/_sandbox/health")).json()
        webhook = (await client.get("/_sandbox/webhook")).json()
        token = base64.b64encode(f"506751:{DEFAULT_SECRET_KEY}".encode()).decode()
        created = await client.post(
            "/v3/payments",
            json=payment_body(),
            headers={"Authorization": f"Basic {token}", "Idempotence-Key": "runner"},
        )
    assert health["fake"] == "yookassa"
    assert webhook["url"] == receiver.url
    assert created.status_code == 200
    assert created.json()["recipient"]["account_id"] == "506751"

"""booking's YooKassa client against the sandbox: retries with the same key, never on 4xx."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from booking.adapters.yookassa import (
    ReceiptCustomer,
    YooKassaClient,
    YooKassaError,
    YooKassaUnavailable,
    to_kopecks,
    to_value,
)
from sandbox.yookassa import DEFAULT_SECRET_KEY, DEFAULT_SHOP_ID, RunningYooKassa, running_yookassa


@pytest.fixture
async def fake() -> AsyncIterator[RunningYooKassa]:
    async with running_yookassa() as running:
        yield running


def client(fake: RunningYooKassa, **kw: object) -> YooKassaClient:
    options: dict[str, object] = {"timeout": 0.5, "max_attempts": 3, "retry_base": 0.01}
    options.update(kw)
    secret = str(options.pop("secret", DEFAULT_SECRET_KEY))
    return YooKassaClient(fake.api_url, DEFAULT_SHOP_ID, secret, **options)  # type: ignore[arg-type]


async def create(yk: YooKassaClient, key: str) -> object:
    return await yk.create_payment(
        idempotence_key=key,
        amount=150000,
        description="Консультация, 17.03.2026 10:00",
        return_url="https://app.example/paid",
        metadata={"payment_id": key},
        customer=ReceiptCustomer(email="anna@example.org"),
    )


def test_money_at_the_edge() -> None:
    assert to_value(150000) == "1500.00" and to_value(5) == "0.05"
    assert to_kopecks("1500.00") == 150000 and to_kopecks("0.5") == 50
    with pytest.raises(ValueError, match="two decimals"):
        to_kopecks("1.005")


@pytest.mark.asyncio(loop_scope="session")
async def test_a_timeout_is_retried_with_the_same_key_and_makes_one_payment(
    fake: RunningYooKassa,
) -> None:
    key = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=fake.base_url) as inspect:
        await inspect.post(
            "/_sandbox/faults",
            json={"method": "POST", "path": "^/v3/payments$", "delay_seconds": 1.5, "times": 1},
        )
        yk = client(fake)
        try:
            payment = await create(yk, key)
        finally:
            await yk.aclose()
        sent = (
            await inspect.get("/_sandbox/requests", params={"path_prefix": "/v3/payments"})
        ).json()
        stored = (await inspect.get("/_sandbox/payments")).json()
    assert len(sent) == 2 and {r["headers"]["idempotence-key"] for r in sent} == {key}
    assert [p["id"] for p in stored] == [payment.id]  # type: ignore[attr-defined]


@pytest.mark.asyncio(loop_scope="session")
async def test_four_hundreds_are_not_retried_and_outages_give_up(fake: RunningYooKassa) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url) as inspect:
        wrong = client(fake, secret="wrong")
        try:
            with pytest.raises(YooKassaError) as refused:
                await create(wrong, str(uuid.uuid4()))
        finally:
            await wrong.aclose()
        assert refused.value.status == 401 and refused.value.code == "invalid_credentials"
        assert len((await inspect.get("/_sandbox/requests")).json()) == 1
        await inspect.post(
            "/_sandbox/faults",
            json={"method": "GET", "path": "^/v3/payments/", "status": 500, "times": 5},
        )
        yk = client(fake)
        try:
            with pytest.raises(YooKassaUnavailable):
                await yk.get_payment("2f000000-000f-5000-8000-000000000000")
        finally:
            await yk.aclose()
        gets = (await inspect.get("/_sandbox/requests", params={"method": "GET"})).json()
        assert len(gets) == 3

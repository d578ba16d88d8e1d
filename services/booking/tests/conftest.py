"""booking's test fixtures: the service in-process on a throwaway database and vhost, a fake
clock, tokens, and a small client that sets up catalog and schedules through the HTTP API.

One service instance serves the whole session (start-up is the slow part), so every test makes
its own specialists and services and never relies on another test's data. The service's clock
is one object, but no test inherits another's time: before every test it is back at
:data:`START` (:func:`clock_at_start`), so tests pass in any order. ``BOOKING_TEST_ORDER=reverse``
(or ``random``, ``random:<seed>``) runs them so, to show it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import pytest
from booking.bootstrap import build_runtime, definition
from booking.config import BookingSettings
from contracts.cabinet.v1 import UserRegisteredV1
from contracts.registry import spec_of
from contracts.testing import example_envelope
from pydantic import BaseModel
from sandbox.google import RunningGoogle, running_google
from sandbox.testing import serve_app
from sandbox.yookassa import (
    DEFAULT_SECRET_KEY,
    DEFAULT_SHOP_ID,
    NotificationPolicy,
    RunningYooKassa,
    running_yookassa,
)
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import (
    EventTap,
    FakeClock,
    RunningService,
    TokenMint,
    outbox_drained,
    running_service,
    tapping,
    temporary_vhost,
    wait_until,
)
from starlette.types import ASGIApp, Receive, Scope, Send

START = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)  # a Monday, two weeks before Berlin's DST change

WEEKDAYS_9_TO_18 = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(1, 8)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``BOOKING_TEST_ORDER``: ``reverse``, ``random`` or ``random:<seed>`` reorders the tests
    (no test may depend on another having run before it)."""
    order = os.environ.get("BOOKING_TEST_ORDER", "")
    if order == "reverse":
        items.reverse()
    elif order.startswith("random"):
        seed = order.partition(":")[2] or str(random.randrange(10**6))
        print(f"BOOKING_TEST_ORDER=random:{seed}")
        random.Random(seed).shuffle(items)


@dataclass
class Booking:
    """The running service plus helpers that go through its HTTP API."""

    svc: RunningService
    tokens: TokenMint
    clock: FakeClock
    events: EventTap
    yookassa: RunningYooKassa
    amqp_url: str
    google: RunningGoogle
    known: set[uuid.UUID] = field(default_factory=set)
    _connection: aio_pika.abc.AbstractConnection | None = None
    _channel: aio_pika.abc.AbstractChannel | None = None
    _channel_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def client(self) -> Any:
        return self.svc.client

    def auth(self, *roles: str, sub: uuid.UUID | None = None) -> dict[str, str]:
        return self.tokens.auth(*roles, sub=sub)

    @property
    def admin(self) -> dict[str, str]:
        return self.tokens.auth("admin")

    async def create_service(self, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"Консультация {uuid.uuid4().hex[:6]}",
            "durations_minutes": [50],
            "price": {"amount": 300000, "currency": "RUB"},
            "format": "online",
            "buffer_before_minutes": 0,
            "buffer_after_minutes": 10,
            "min_notice_minutes": 0,
            "slot_step_minutes": 60,
            **fields,
        }
        r = await self.client.post("/api/booking/services", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def create_specialist(
        self,
        *,
        service_ids: list[str] = (),  # type: ignore[assignment]
        time_zone: str = "Europe/Moscow",
        weekly_hours: list[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        user_id = uuid.UUID(str(fields.pop("user_id", None) or uuid.uuid4()))
        await self.know(user_id, roles=("client", "specialist"))
        body = {
            "user_id": str(user_id),
            "display_name": "Анна Петрова",
            "time_zone": time_zone,
            "weekly_hours": WEEKDAYS_9_TO_18 if weekly_hours is None else weekly_hours,
            "service_ids": list(service_ids),
            **fields,
        }
        r = await self.client.post("/api/booking/specialists", json=body, headers=self.admin)
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def practice(self, **service_fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """A service and a specialist (Moscow, 09–18 every day) who gives it."""
        service = await self.create_service(**service_fields)
        specialist = await self.create_specialist(service_ids=[service["id"]])
        return service, specialist

    async def publish(self, payload: BaseModel) -> uuid.UUID:
        """Publish an event as its producer would (to its exchange, with its routing key)."""
        spec = spec_of(type(payload))
        envelope = example_envelope(type(payload), **payload.model_dump())
        async with self._channel_lock:
            if self._channel is None:
                self._connection = await aio_pika.connect(self.amqp_url)
                self._channel = await self._connection.channel()
            channel = self._channel
        exchange = await channel.declare_exchange(
            spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await exchange.publish(
            aio_pika.Message(
                envelope.model_dump_json().encode(),
                message_id=str(envelope.event_id),
                correlation_id=envelope.correlation_id,
                type=envelope.event_type,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=spec.routing_key,
        )
        return envelope.event_id

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def booking_knows(self, user_id: uuid.UUID) -> dict[str, Any] | None:
        """booking's record of a user (``GET /clients/{id}`` as them), None if it has none."""
        r = await self.client.get(
            f"/api/booking/clients/{user_id}", headers=self.auth("client", sub=user_id)
        )
        return dict(r.json()) if r.status_code == 200 else None

    async def know(
        self,
        user_id: uuid.UUID | None = None,
        *,
        roles: tuple[str, ...] = ("client",),
        verified: bool = True,
    ) -> uuid.UUID:
        """A user cabinet has told booking about, as cabinet does: ``user.registered`` with
        their contacts, roles and whether their email is verified. Waits until booking has it."""
        user_id = user_id or uuid.uuid4()
        await self.publish(
            UserRegisteredV1(
                user_id=user_id,
                email=f"client-{user_id.hex[:8]}@example.org",
                email_verified=verified,
                name="Мария Иванова",
                phone="+79991234567",
                time_zone="Europe/Moscow",
                language="ru",
                roles=list(roles),
                registered_at=self.clock.now,
            )
        )

        async def known() -> bool:
            record = await self.booking_knows(user_id)
            return (
                record is not None
                and record["email_verified"] is verified
                and sorted(record["roles"]) == sorted(roles)
            )

        await wait_until(known, timeout=20)
        if verified:
            self.known.add(user_id)
        return user_id

    async def register_client(self, user_id: uuid.UUID | None = None) -> uuid.UUID:
        """A client cabinet has told booking about (name, email for receipts; verified)."""
        return await self.know(user_id)

    async def slots(
        self, service: dict[str, Any], specialist: dict[str, Any], **params: Any
    ) -> list[str]:
        """Bookable UTC starts (``...Z``) of a practice in a window."""
        r = await self.client.get(
            "/api/booking/slots",
            params={"service_id": service["id"], "specialist_id": specialist["user_id"], **params},
        )
        assert r.status_code == 200, r.text
        return [s["starts_at"] for s in r.json()["items"]]

    async def book(
        self,
        service: dict[str, Any],
        specialist: dict[str, Any],
        starts_at: str,
        *,
        client_id: uuid.UUID | None = None,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Any:
        """POST /appointments as a client (``headers`` added); returns the response.

        The client (a new one when ``client_id`` is None) is first made known to booking as a
        verified user through cabinet's event, as only a verified email may book."""
        client_id = client_id or uuid.uuid4()
        if client_id not in self.known:
            await self.know(client_id)
        headers = {**self.auth("client", sub=client_id), **(headers or {})}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(
            "/api/booking/appointments",
            json={
                "service_id": service["id"],
                "specialist_id": specialist["user_id"],
                "starts_at": starts_at,
                **extra,
            },
            headers=headers,
        )

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(self.svc.database_url))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def settled(self) -> None:
        """Every event booking recorded so far has been published and has reached the tap: what
        has not arrived by now was never sent."""
        await outbox_drained(self.svc.database_url)
        await self.events.flush()


@pytest.fixture(scope="session")
def tokens() -> TokenMint:
    return TokenMint()


@pytest.fixture(scope="session")
def clock() -> FakeClock:
    """The service's clock (the runtime holds this one object for the session)."""
    return FakeClock(START)


@pytest.fixture(autouse=True)
def clock_at_start(clock: FakeClock) -> datetime:
    """Every test starts at :data:`START`, whatever the test before it did to the clock."""
    clock.set(START)
    return START


@pytest.fixture(scope="session")
async def amqp_url() -> AsyncIterator[str]:
    async with temporary_vhost() as url:
        yield url


def without_lifespan(app: ASGIApp) -> ASGIApp:
    """The app for a second server: the runtime is already started by running_service."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return wrapped


@pytest.fixture(scope="session")
async def yookassa() -> AsyncIterator[RunningYooKassa]:
    policy = NotificationPolicy(first_delay=0.2, max_delay=1.0, max_attempts=20, timeout=10)
    async with running_yookassa(notification_policy=policy) as fake:
        yield fake


@pytest.fixture(scope="session")
async def google(clock: FakeClock) -> AsyncIterator[RunningGoogle]:
    """The Google Calendar fake, on the service's clock (channel and token expiries)."""
    async with running_google(clock=clock) as fake:
        yield fake


@pytest.fixture(scope="session")
async def booking(
    amqp_url: str,
    tokens: TokenMint,
    clock: FakeClock,
    yookassa: RunningYooKassa,
    google: RunningGoogle,
) -> AsyncIterator[Booking]:
    async with (
        running_service(
            definition,
            build_runtime,
            BookingSettings,
            amqp_url=amqp_url,
            tokens=tokens,
            clock=clock,
            yookassa_base_url=yookassa.api_url,
            yookassa_shop_id=DEFAULT_SHOP_ID,
            yookassa_secret_key=DEFAULT_SECRET_KEY,
            yookassa_retry_base_seconds=0.05,
            yookassa_webhook_allowlist="127.0.0.1",
            payment_reconcile_minutes=5,
            google_calendar_api_base=google.api_url,
            google_token_uri=google.token_uri,
            google_revoke_uri=google.revoke_uri,
            google_service_account_key=json.dumps(google.service_account_key()),
            google_calendar_timeout_seconds=1.0,
            google_calendar_retry_base_seconds=0.05,
            google_calendar_retry_max_seconds=0.2,
        ) as svc,
        tapping(amqp_url, "booking.events") as tap,
        # A real port, so the fake's notifications reach the webhook over HTTP from 127.0.0.1.
        serve_app(without_lifespan(svc.app)) as url,
    ):
        yookassa.fake.notifier.set_webhook_url(f"{url}/api/booking/payments/yookassa/webhook")
        svc.runtime.calendar.client.webhook_url = (  # type: ignore[attr-defined]
            f"{url}/api/booking/calendar/google/notifications"
        )
        helper = Booking(svc, tokens, clock, tap, yookassa, amqp_url, google)
        yield helper
        await helper.close()


@pytest.fixture
def now(booking: Booking, clock_at_start: datetime) -> datetime:
    """The time every test starts at (:data:`START`), with the service running."""
    return clock_at_start

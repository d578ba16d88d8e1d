"""content's test fixtures: the service in-process on a throwaway database and vhost, tokens,
a tap on content's events, and helpers that publish cabinet's consents and booking's
appointments exactly as their producers do.

One service instance serves the whole session (start-up is the slow part), so every test makes
its own users and never relies on another test's data. The service runs on real time: nothing
here moves a clock (an overdue assignment is simply due a second from now).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import pytest
from content.bootstrap import build_runtime, definition
from content.config import ContentSettings
from contracts.booking.v1 import AppointmentCompletedV1, AppointmentConfirmedV1
from contracts.cabinet.v1 import ConsentGrantedV1, ConsentWithdrawnV1
from contracts.registry import spec_of
from contracts.testing import example_envelope
from contracts.types import Money
from pydantic import BaseModel
from servicekit.db.engine import asyncpg_dsn
from servicekit.testing import (
    EventTap,
    RunningService,
    TokenMint,
    running_service,
    tapping,
    temporary_vhost,
    wait_until,
)

HEALTH = "health_data_processing"
TRANSFER = "transfer_to_specialist"
PHQ9 = "6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0901"
GAD7 = "6d0e6f3c-6f3e-4b8e-9a53-0c5a3e1f0702"
FREQUENCY = ["not_at_all", "several_days", "more_than_half", "nearly_every_day"]


def phq9_answers(*scores: int) -> dict[str, str]:
    """PHQ-9 answers from nine scores (item 1 first)."""
    assert len(scores) == 9
    return {f"q{n}": FREQUENCY[s] for n, s in enumerate(scores, 1)}


@dataclass
class Content:
    """The running service plus helpers that go through its HTTP API and the broker."""

    svc: RunningService
    tokens: TokenMint
    amqp_url: str
    events: EventTap
    _connection: aio_pika.abc.AbstractConnection | None = None
    _channel: aio_pika.abc.AbstractChannel | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def client(self) -> Any:
        return self.svc.client

    def auth(self, *roles: str, sub: uuid.UUID | None = None) -> dict[str, str]:
        return self.tokens.auth(*roles, sub=sub)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Raw rows of content's database (what an operator with psql would see)."""
        conn = await asyncpg.connect(asyncpg_dsn(self.svc.database_url))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def publish(self, payload: BaseModel) -> uuid.UUID:
        """Publish an event as its producer would (to its exchange, with its routing key)."""
        spec = spec_of(type(payload))
        envelope = example_envelope(type(payload), **payload.model_dump())
        async with self._lock:
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

    async def consent(
        self, user: uuid.UUID, purpose: str = HEALTH, *, granted: bool = True
    ) -> None:
        """cabinet records a grant (or a withdrawal); content's copy follows."""
        common = {
            "consent_id": uuid.uuid4(),
            "user_id": user,
            "purpose": purpose,
            "document_id": uuid.uuid4(),
            "document_version": 1,
        }
        at = datetime.now(UTC)
        await self.publish(
            ConsentGrantedV1(**common, granted_at=at)
            if granted
            else ConsentWithdrawnV1(**common, withdrawn_at=at)
        )

        async def copied() -> bool:
            rows = await self.fetch(
                "SELECT granted FROM consents WHERE user_id = $1 AND purpose = $2", user, purpose
            )
            return bool(rows) and rows[0]["granted"] is granted

        await wait_until(copied, timeout=20)

    async def consenting_client(self, *purposes: str) -> uuid.UUID:
        """A new client with the health-data consent (and any other purposes given)."""
        user = uuid.uuid4()
        for purpose in (HEALTH, *purposes):
            await self.consent(user, purpose)
        return user

    async def appointment(
        self, client: uuid.UUID, specialist: uuid.UUID, *, starts_at: datetime | None = None
    ) -> uuid.UUID:
        """booking confirms an appointment between them; content's copy follows."""
        starts = starts_at or datetime.now(UTC) + timedelta(days=2)
        appointment_id = uuid.uuid4()
        await self.publish(
            AppointmentConfirmedV1(
                appointment_id=appointment_id,
                client_id=client,
                service_id=uuid.uuid4(),
                service_name="Консультация",
                specialist_id=specialist,
                specialist_name="Анна Петрова",
                format="online",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=50),
                specialist_time_zone="Europe/Moscow",
                price=Money(amount=300000),
                intake_required=False,
                reschedule_count=0,
            )
        )

        async def copied() -> bool:
            rows = await self.fetch(
                "SELECT 1 FROM appointments WHERE appointment_id = $1", appointment_id
            )
            return bool(rows)

        await wait_until(copied, timeout=20)
        return appointment_id

    async def completed(
        self, client: uuid.UUID, specialist: uuid.UUID, appointment_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        """booking marks a session between them as held (confirmed first, when not given);
        content's copy follows."""
        if appointment_id is None:
            appointment_id = await self.appointment(
                client, specialist, starts_at=datetime.now(UTC) - timedelta(hours=2)
            )
        starts = datetime.now(UTC) - timedelta(hours=2)
        await self.publish(
            AppointmentCompletedV1(
                appointment_id=appointment_id,
                client_id=client,
                service_id=uuid.uuid4(),
                service_name="Консультация",
                specialist_id=specialist,
                specialist_name="Анна Петрова",
                format="online",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=50),
                specialist_time_zone="Europe/Moscow",
                price=Money(amount=300000),
                intake_required=False,
                reschedule_count=0,
                marked_by_user_id=specialist,
            )
        )

        async def copied() -> bool:
            rows = await self.fetch(
                "SELECT status FROM appointments WHERE appointment_id = $1", appointment_id
            )
            return bool(rows) and rows[0]["status"] == "completed"

        await wait_until(copied, timeout=20)
        return appointment_id

    async def start(
        self, questionnaire_id: str = PHQ9, headers: dict[str, str] | None = None, **body: Any
    ) -> dict[str, Any]:
        r = await self.client.post(
            "/api/content/runs",
            json={"questionnaire_id": questionnaire_id, **body},
            headers=headers or {},
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def complete(
        self, run_id: str, answers: dict[str, str], headers: dict[str, str]
    ) -> dict[str, Any]:
        r = await self.client.post(
            f"/api/content/runs/{run_id}/complete", json={"answers": answers}, headers=headers
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def take(
        self, user: uuid.UUID, answers: dict[str, str], questionnaire_id: str = PHQ9
    ) -> dict[str, Any]:
        """A signed-in client takes a questionnaire in one go; the completed run."""
        me = self.auth("client", sub=user)
        run = await self.start(questionnaire_id, me)
        return await self.complete(run["id"], answers, me)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


@pytest.fixture(scope="session")
async def content() -> AsyncIterator[Content]:
    tokens = TokenMint()
    async with (
        temporary_vhost() as amqp_url,
        running_service(
            definition,
            build_runtime,
            ContentSettings,
            amqp_url=amqp_url,
            tokens=tokens,
            # The tests' requests come through "a proxy" at 127.0.0.1: each post says its own
            # address in X-Forwarded-For (posts are rate-limited per address).
            trusted_proxies=["127.0.0.1"],
            posts_per_address_hour=30,
        ) as svc,
        tapping(amqp_url, "content.events") as tap,
    ):
        harness = Content(svc=svc, tokens=tokens, amqp_url=amqp_url, events=tap)
        try:
            yield harness
        finally:
            await harness.close()

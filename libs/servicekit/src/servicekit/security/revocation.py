"""Session revocation: every service refuses the access tokens of an ended session within seconds.

Every access token cabinet issues carries its session id (``sid``: the refresh family). When a
session ends early (logout, a reused refresh token, a password change or reset, a role removed)
cabinet publishes ``cabinet.sessions.revoked`` (:class:`contracts.cabinet.v1.SessionsRevokedV1`)
through its outbox. Each service reads it into the :class:`RevocationList` its
:class:`~servicekit.security.jwt.TokenVerifier` consults on every request, cached in memory (a
set look-up, no database and no network per request).

Every replica must learn of every revocation, and a replica that starts (or reconnects) must
learn of those made while it was away, for as long as a revoked token could still be presented.
So the events are read from a RabbitMQ **stream** queue, ``<service>.session-revocations``
(bound to ``cabinet.events``): a stream is a durable log that every consumer reads in full
without taking messages from the others, and a consumer may start at a point in time. Each
replica attaches at "now minus the longest token lifetime", so what it remembers after a restart
is exactly what it must. The stream keeps an hour (``x-max-age``) in small segments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from contracts.cabinet.v1 import SessionsRevokedV1
from contracts.envelope import ContractError, parse_envelope
from contracts.registry import spec_of

__all__ = ["RevocationFeed", "RevocationList", "revocation_queue"]

logger = logging.getLogger("servicekit.security.revocation")

#: How long the stream keeps revocations (far longer than any access token lives).
STREAM_MAX_AGE = "1h"
#: Small segments, so the broker can drop old ones (it deletes whole segments only).
STREAM_SEGMENT_BYTES = 1_000_000


def revocation_queue(service: str) -> str:
    """The stream queue a service reads revocations from."""
    return f"{service}.session-revocations"


class RevocationList:
    """Revoked session ids, each remembered until its tokens would have expired anyway."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    def revoke(self, session_ids: Iterable[uuid.UUID | str], until: float) -> None:
        """Refuse ``session_ids`` until the epoch second ``until``."""
        now = self._clock()
        if len(self._until) > 1024:
            self._until = {sid: t for sid, t in self._until.items() if t > now}
        for sid in session_ids:
            key = str(sid).replace("-", "").lower()
            self._until[key] = max(until, self._until.get(key, 0.0))

    def is_revoked(self, session_id: str) -> bool:
        """Whether tokens of ``session_id`` are refused now."""
        until = self._until.get(session_id.replace("-", "").lower())
        return until is not None and until > self._clock()

    def __len__(self) -> int:
        return len(self._until)


class RevocationFeed:
    """Reads ``cabinet.sessions.revoked`` from the service's stream into a :class:`RevocationList`.

    ``remember_seconds`` is the longest time a revoked session's token may still be presented
    (the verifier's maximum token lifetime plus its leeway): a revocation is applied for that
    long after it was made, and a (re)starting replica reads back that far.
    """

    def __init__(
        self,
        *,
        service: str,
        amqp_url: str,
        revocations: RevocationList,
        remember_seconds: float,
    ) -> None:
        self.service = service
        self.amqp_url = amqp_url
        self.revocations = revocations
        self.remember_seconds = remember_seconds
        self.queue_name = revocation_queue(service)
        self.consuming = asyncio.Event()
        self.applied = 0

    def apply(self, body: bytes) -> None:
        """Apply one message (an unreadable one is logged and skipped: the log is not ours)."""
        try:
            envelope = parse_envelope(body)
        except ContractError as exc:
            logger.error("unreadable revocation event skipped: %s", exc)
            return
        payload = envelope.payload
        if not isinstance(payload, SessionsRevokedV1):
            return
        until = payload.revoked_at.timestamp() + self.remember_seconds
        self.revocations.revoke(payload.session_ids, until)
        self.applied += 1
        logger.info(
            "sessions revoked",
            extra={"sessions": len(payload.session_ids), "reason": payload.reason},
        )

    async def run(self) -> None:
        """Consume until cancelled, reconnecting (and reading back) after a broker outage."""
        delay = 0.5
        while True:
            try:
                await self._consume()
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("revocation feed interrupted: %r; retrying in %.1fs", exc, delay)
            self.consuming.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _consume(self) -> None:
        spec = spec_of(SessionsRevokedV1)
        connection = await aio_pika.connect(self.amqp_url, timeout=10)
        try:
            closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def on_close(*_: object) -> None:
                if not closed.done():
                    closed.set_result(None)

            connection.close_callbacks.add(on_close)
            channel = await connection.channel()
            channel.close_callbacks.add(on_close)
            await channel.set_qos(prefetch_count=256)  # a stream consumer needs a credit
            exchange = await channel.declare_exchange(
                spec.exchange, aio_pika.ExchangeType.TOPIC, durable=True
            )
            queue = await channel.declare_queue(
                self.queue_name,
                durable=True,
                arguments={
                    "x-queue-type": "stream",
                    "x-max-age": STREAM_MAX_AGE,
                    "x-stream-max-segment-size-bytes": STREAM_SEGMENT_BYTES,
                },
            )
            await queue.bind(exchange, routing_key=spec.routing_key)

            async def on_message(message: AbstractIncomingMessage) -> None:
                self.apply(message.body)
                await message.ack()

            await queue.consume(
                on_message,
                arguments={"x-stream-offset": f"{int(self.remember_seconds) + 1}s"},
            )
            self.consuming.set()
            await closed
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

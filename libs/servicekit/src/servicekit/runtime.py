"""The composition root every service shares: one :class:`ServiceRuntime` per process.

A service describes itself with a :class:`ServiceDefinition` (its tables, migrations, events it
produces, consumers, timer handlers and HTTP routers); the runtime wires the database, the unit of
work, the outbox relay, the retention purge (housekeeping), the timer worker, the consumers and
the token verifier, and starts and stops them with the HTTP app. Tests build a runtime with other
settings or a fake clock by parameter, never by patching. A runtime leaves its definition as it
was declared: the consumers it runs are its own copies (several runtimes share a process in
tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from contracts.registry import spec_of
from contracts.routing import exchange_for
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import MetaData, text

from servicekit.clock import Clock, utcnow
from servicekit.db.engine import asyncpg_dsn, make_engine, make_session_factory
from servicekit.housekeeping import Housekeeping
from servicekit.http.problems import ProblemMap
from servicekit.messaging.broker import ConsumerHost
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWorkFactory
from servicekit.messaging.relay import AfterPublish, OutboxRelay
from servicekit.messaging.sealing import EventSealer
from servicekit.metrics import ServiceMetrics
from servicekit.security.fields import configure_keyring, keyring_from_settings
from servicekit.security.jwt import TokenVerifier, verifier_from_settings
from servicekit.security.revocation import RevocationFeed, RevocationList
from servicekit.settings import ServiceSettings
from servicekit.timers import TimerHandler, TimerWorker

logger = logging.getLogger("servicekit.runtime")

_PROBE_GIVE_UP = 10.0  # seconds a readiness probe may run (in the background) before it is dropped


@dataclass
class ServiceDefinition:
    """What a service is made of; ``<service>/bootstrap.py`` builds one."""

    name: str
    title: str
    description: str
    metadata: MetaData
    migrations_dir: Path
    produces: Sequence[type[BaseModel]] = ()
    consumers: Sequence[EventConsumer] = ()
    timers: Mapping[str, TimerHandler] = field(default_factory=dict)
    routers: Sequence[APIRouter] = ()  # mounted under /api/<name>/
    root_routers: Sequence[APIRouter] = ()  # mounted at the root (e.g. /.well-known/...)
    # (table, timestamp column, how long to keep): purged with the outbox, inbox and timers by
    # the housekeeping leader (servicekit.housekeeping).
    retention: Sequence[tuple[str, str, timedelta]] = ()
    port: int = 8000
    # How the service's domain errors read over HTTP (its ``api/errors.py``).
    problems: ProblemMap | None = None

    def exchanges(self) -> list[str]:
        """The exchange this service publishes to (always its own, even before any event)."""
        own = exchange_for(self.name)
        for model in self.produces:
            if spec_of(model).exchange != own:
                raise ValueError(f"{self.name} cannot produce {spec_of(model).event_type}")
        return [own]


class ServiceRuntime:
    """A running service: database, outbox relay, housekeeping, timers, consumers, token
    verifier."""

    def __init__(
        self,
        definition: ServiceDefinition,
        settings: ServiceSettings,
        *,
        clock: Clock = utcnow,
        relay_after_publish: AfterPublish | None = None,
    ) -> None:
        self.definition = definition
        self.settings = settings
        self.clock = clock
        self.metrics = ServiceMetrics()
        keyring = keyring_from_settings(settings)
        # The one process-wide setting a runtime makes: EncryptedString columns encrypt and
        # decrypt with the process's keyring (a column type's processors are handed only the
        # dialect: SQLAlchemy has no per-engine place for keys). A process runs one service in
        # production; in-process tests run several, all with the same development field keys.
        configure_keyring(keyring)
        # Its own keys, not the process-wide keyring: in-process tests run several services.
        self.sealer = EventSealer.from_settings(settings, keyring)
        self.engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        self.sessions = make_session_factory(self.engine)
        self.uow = UnitOfWorkFactory(self.sessions, definition.name, clock, self.sealer)
        self.revocations = RevocationList()
        self.verifier: TokenVerifier = verifier_from_settings(
            settings, revocations=self.revocations
        )
        # Every process (HTTP included, whatever RUN_CONSUMERS says) learns of ended sessions.
        self.revocation_feed = RevocationFeed(
            service=definition.name,
            amqp_url=settings.amqp_url,
            revocations=self.revocations,
            remember_seconds=settings.jwt_max_lifetime_seconds + self.verifier.leeway,
        )
        self.relay = OutboxRelay(
            service=definition.name,
            dsn=asyncpg_dsn(settings.database_url),
            amqp_url=settings.amqp_url,
            exchanges=definition.exchanges(),
            metrics=self.metrics,
            batch_size=settings.relay_batch_size,
            poll_seconds=settings.relay_poll_seconds,
            after_publish=relay_after_publish,
        )
        self.housekeeping = Housekeeping(
            service=definition.name,
            dsn=asyncpg_dsn(settings.database_url),
            metrics=self.metrics,
            interval_seconds=settings.housekeeping_seconds,
            extra_retention=definition.retention,
        )
        self.timers = TimerWorker(
            self.uow,
            definition.timers,
            clock=clock,
            poll_seconds=settings.timers_poll_seconds,
            metrics=self.metrics,
        )
        # The runtime's own consumers, built from the definitions (module-level objects a
        # service shares between runtimes, never changed here) with this runtime's settings.
        consumers = [
            consumer.for_runtime(
                delivery_limit=settings.delivery_limit, partitions=settings.queue_partitions
            )
            for consumer in definition.consumers
        ]
        self.consumers = ConsumerHost(
            service=definition.name,
            amqp_url=settings.amqp_url,
            consumers=consumers if settings.run_consumers else (),
            produces_exchanges=definition.exchanges(),
            uow_factory=self.uow,
            metrics=self.metrics,
            prefetch_count=settings.prefetch_count,
            partitions=settings.consumer_partitions,
            rebalance_seconds=settings.rebalance_seconds,
        )
        self._tasks: list[asyncio.Task[Any]] = []
        self._probes: dict[str, tuple[float, asyncio.Task[str]]] = {}
        self._fresh: set[str] = set()  # probes whose answer no call has read yet

    @property
    def name(self) -> str:
        """The service name."""
        return self.definition.name

    async def start(self) -> None:
        """Start background work. The broker may be down: consumers connect when it is back."""
        self._tasks.append(asyncio.create_task(self._start_consumers(), name="consumers"))
        self._tasks.append(
            asyncio.create_task(self.revocation_feed.run(), name="session-revocations")
        )
        if self.settings.run_relay:
            self._tasks.append(asyncio.create_task(self.relay.run(), name="outbox-relay"))
        if self.settings.run_housekeeping:
            self._tasks.append(asyncio.create_task(self.housekeeping.run(), name="housekeeping"))
        if self.settings.run_timers and self.definition.timers:
            self._tasks.append(asyncio.create_task(self.timers.run(), name="timers"))

    async def _start_consumers(self) -> None:
        delay = 0.5
        while True:
            try:
                await self.consumers.start()
                logger.info(
                    "consumers started",
                    extra={"queues": [c.queue_name for c in self.consumers.consumers]},
                )
                return
            except Exception as exc:
                logger.warning("broker not reachable yet: %r; retrying in %.1fs", exc, delay)
                with contextlib.suppress(Exception):
                    await self.consumers.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 15.0)

    async def wait_consuming(self) -> None:
        """Block until the consumers (and the revocation feed) are subscribed (wrap in
        ``asyncio.timeout``)."""
        await self.consumers.started_event.wait()
        await self.revocation_feed.consuming.wait()

    async def stop(self) -> None:
        """Stop background work and close connections."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for _, probe in self._probes.values():
            probe.cancel()  # a readiness probe stuck on a silent socket is not waited for
        self._probes.clear()
        with contextlib.suppress(Exception):
            await self.consumers.stop()
        await self.verifier.aclose()
        await self.engine.dispose()

    async def readiness(self, *, timeout: float = 0.8) -> dict[str, str]:
        """``{"database": "ok" | error, "broker": "ok" | error}``, both checked at once, each
        given ``timeout`` seconds: a database or broker that hangs (accepts, never answers) makes
        the probe answer "unavailable" within a second, not hang with it."""

        async def database() -> str:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return "ok"

        async def broker() -> str:
            ok = await self.consumers.ping(timeout)
            return "ok" if ok else "unavailable: not connected"

        async def check(name: str, probe: Callable[[], Coroutine[Any, Any, str]]) -> str:
            # The probe runs as its own task and is waited for at most ``timeout``: a probe stuck
            # on a silent socket never holds the answer up, and while one is still running no
            # second one is started. A slow one (a busy machine) is left to finish, so the next
            # call can use its answer; one running longer than ``_PROBE_GIVE_UP`` is abandoned.
            loop = asyncio.get_running_loop()
            running = self._probes.get(name)
            stale = running is not None and loop.time() - running[0] > _PROBE_GIVE_UP
            if running is not None and stale and not running[1].done():
                running[1].cancel()
            reusable = (
                running is not None and not stale and (not running[1].done() or name in self._fresh)
            )
            if running is None or not reusable:
                running = (loop.time(), asyncio.create_task(probe(), name=f"readyz-{name}"))
                self._probes[name] = running
            self._fresh.discard(name)
            task = running[1]
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                self._fresh.add(name)  # its answer, when it comes, is for the next call
                return "unavailable: no answer"
            try:
                return task.result()
            except asyncio.CancelledError:
                return "unavailable: no answer"
            except Exception as exc:
                return f"unavailable: {type(exc).__name__}"

        db_state, broker_state = await asyncio.gather(
            check("database", database), check("broker", broker)
        )
        return {"database": db_state, "broker": broker_state}

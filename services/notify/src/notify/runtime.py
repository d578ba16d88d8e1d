"""notify's runtime: servicekit's, plus the bot's Dispatcher and delivery workers.

The timer worker every service has fires ``deliver`` timers too, on its poll. The delivery
workers here fire only ``deliver`` timers, woken at commit by ``NOTIFY notify_deliver`` (a trigger
on the timers table), so a message goes out within milliseconds of the event that caused it.
Several of them (and several replicas) claim timers with ``FOR UPDATE SKIP LOCKED``: each message
is sent by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from servicekit.clock import Clock
from servicekit.db.engine import asyncpg_dsn
from servicekit.messaging.relay import AfterPublish
from servicekit.runtime import ServiceDefinition, ServiceRuntime
from servicekit.timers import TimerWorker

from notify.adapters.deliveries import DELIVER
from notify.config import NotifySettings
from notify.context import NotifyContext
from notify.entrypoints.bot import build_dispatcher

logger = logging.getLogger("notify.runtime")

WAKE_CHANNEL = "notify_deliver"


class NotifyRuntime(ServiceRuntime):
    """A running notify: the servicekit runtime with notify's context, bot and senders."""

    def __init__(
        self,
        definition: ServiceDefinition,
        settings: NotifySettings,
        ctx: NotifyContext,
        *,
        clock: Clock,
        relay_after_publish: AfterPublish | None = None,
    ) -> None:
        super().__init__(definition, settings, clock=clock, relay_after_publish=relay_after_publish)
        self.notify = ctx
        self.notify_settings = settings
        self.dispatcher = build_dispatcher()
        self.delivery_workers = [
            TimerWorker(
                self.uow,
                {DELIVER: definition.timers[DELIVER]},
                clock=clock,
                poll_seconds=settings.timers_poll_seconds,
                metrics=self.metrics,
            )
            for _ in range(settings.delivery_workers if settings.run_timers else 0)
        ]
        self._wake = asyncio.Event()
        self._senders: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start servicekit's background work, then the delivery workers."""
        await super().start()
        if self.delivery_workers:
            self._senders.append(asyncio.create_task(self._listen(), name="deliver-listen"))
            for i, worker in enumerate(self.delivery_workers):
                self._senders.append(
                    asyncio.create_task(self._send_due(worker), name=f"deliver-{i}")
                )

    async def _listen(self) -> None:
        """Wake the delivery workers when a delivery timer is committed."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(asyncpg_dsn(self.settings.database_url))
                lost = asyncio.Event()
                conn.add_termination_listener(lambda *_, lost=lost: lost.set())
                await conn.add_listener(WAKE_CHANNEL, lambda *_: self._wake.set())
                await lost.wait()  # the workers' poll covers the time until we are back
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("delivery wake-up listener lost: %r", exc)
                await asyncio.sleep(1)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)

    async def _send_due(self, worker: TimerWorker) -> None:
        while True:
            try:
                await worker.run_due()
            except Exception:
                logger.exception("delivery worker iteration failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), worker.poll_seconds)
            self._wake.clear()

    async def stop(self) -> None:
        """Stop the delivery workers, servicekit's background work, and the bot session."""
        for task in self._senders:
            task.cancel()
        for task in self._senders:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._senders.clear()
        await super().stop()
        await self.notify.close()

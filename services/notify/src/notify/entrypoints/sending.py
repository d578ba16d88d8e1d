"""The sending workers: ``deliver`` timers fired within milliseconds of the commit that wrote
them.

The timer worker every service has fires ``deliver`` timers too, on its poll. These workers fire
only ``deliver`` timers, woken at commit by ``NOTIFY notify_deliver`` (a trigger on the timers
table). Several of them (and several replicas) claim timers with ``FOR UPDATE SKIP LOCKED``: each
message is sent by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from servicekit.clock import Clock
from servicekit.db.engine import asyncpg_dsn
from servicekit.messaging.outbox import UnitOfWorkFactory
from servicekit.metrics import ServiceMetrics
from servicekit.timers import TimerHandler, TimerWorker

from notify.adapters.deliveries import DELIVER

logger = logging.getLogger("notify.sending")

WAKE_CHANNEL = "notify_deliver"


class DeliveryWorkers:
    """``count`` workers that send due deliveries, and the listener that wakes them."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        deliver: TimerHandler,
        *,
        database_url: str,
        count: int,
        clock: Clock,
        poll_seconds: float,
        metrics: ServiceMetrics,
    ) -> None:
        self.database_url = database_url
        self.workers = [
            TimerWorker(
                uow, {DELIVER: deliver}, clock=clock, poll_seconds=poll_seconds, metrics=metrics
            )
            for _ in range(count)
        ]
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start the listener and the workers (none when ``count`` is 0)."""
        if not self.workers:
            return
        self._tasks.append(asyncio.create_task(self._listen(), name="deliver-listen"))
        for i, worker in enumerate(self.workers):
            self._tasks.append(asyncio.create_task(self._send_due(worker), name=f"deliver-{i}"))

    async def _listen(self) -> None:
        """Wake the workers when a delivery timer is committed."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(asyncpg_dsn(self.database_url))
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
        """Stop the workers and the listener."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

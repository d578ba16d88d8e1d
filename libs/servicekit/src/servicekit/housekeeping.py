"""Retention: deleting what a service keeps only for a while, as a task of its own.

* **What.** Published outbox rows (their bodies are already gone; the rows stay a week for audit
  of what was sent when), inbox rows after 30 days (longer than any redelivery could come),
  fired timers after a week, and the service's own rules (``ServiceDefinition.retention``:
  table, timestamp column, how long), e.g. cabinet's login throttle counters.
* **Who.** One replica per database: the leader, holding a PostgreSQL session-level advisory
  lock (its own key, not the relay's) on a connection of its own, as the outbox relay does. If
  the leader dies its connection drops and the lock with it; a standby tries for the lock once
  per interval, on a connection it closes again, so only the leader keeps one open.
* **When.** At once on becoming leader, then every ``interval_seconds``
  (``HOUSEKEEPING_SECONDS``, 10 minutes by default).
* **How.** One ``DELETE`` per rule, each committed on its own: a large purge never holds one long
  transaction, and a rule that fails (a table a migration has not created yet) is logged
  without stopping the others.

It used to run inside the outbox relay's loop (every 600 s, by the relay's leader); on its own,
publishing never waits behind a purge, and it is scheduled, measured and tested by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from servicekit.clock import utcnow
from servicekit.db.faults import is_transient
from servicekit.metrics import ServiceMetrics

logger = logging.getLogger("servicekit.housekeeping")


@dataclass(frozen=True)
class RetentionRule:
    """Rows of ``table`` whose ``column`` (a timestamp) is older than ``keep`` are deleted; rows
    where it is NULL (an unpublished outbox row, an unfired timer) never are."""

    table: str
    column: str
    keep: timedelta

    @property
    def name(self) -> str:
        """``table.column``: the key of the rule in results, logs and metrics."""
        return f"{self.table}.{self.column}"


def kit_rules(
    *,
    outbox: timedelta = timedelta(days=7),
    inbox: timedelta = timedelta(days=30),
    timers: timedelta = timedelta(days=7),
) -> list[RetentionRule]:
    """The rules for the tables every service has (:mod:`servicekit.db.tables`)."""
    return [
        RetentionRule("outbox", "published_at", outbox),
        RetentionRule("inbox", "received_at", inbox),
        RetentionRule("timers", "fired_at", timers),
    ]


def _lock_key(service: str) -> int:
    # A stable signed 64-bit key per service for pg_try_advisory_lock (FNV-1a, as the relay's).
    h = 1469598103934665603
    for ch in f"housekeeping:{service}".encode():
        h = ((h ^ ch) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h - (1 << 64) if h >= (1 << 63) else h


class Housekeeping:
    """Purges a service's database by its retention rules. ``await housekeeping.run()`` until
    cancelled; :meth:`purge` runs one purge at once (the leader's loop calls it)."""

    def __init__(
        self,
        *,
        service: str,
        dsn: str,
        metrics: ServiceMetrics | None = None,
        interval_seconds: float = 600.0,
        rules: Sequence[RetentionRule] | None = None,
        extra_retention: Sequence[tuple[str, str, timedelta]] = (),
    ) -> None:
        self.service = service
        self.dsn = dsn
        self.metrics = metrics or ServiceMetrics()
        self.interval_seconds = interval_seconds
        self.rules = [
            *(kit_rules() if rules is None else rules),
            *(RetentionRule(table, column, keep) for table, column, keep in extra_retention),
        ]
        self.is_leader = False
        self.lock_attempts = 0  # tries for the leader lock (a standby's heartbeat)

    async def run(self) -> None:
        """Run forever: become leader, then purge every interval; a standby tries again each
        interval."""
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn)
                self.lock_attempts += 1
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", _lock_key(self.service)):
                    self._set_leader(True)
                    logger.info("housekeeping is leader", extra={"service_name": self.service})
                    while True:
                        await self.purge(conn)
                        await asyncio.sleep(self.interval_seconds)
            except Exception as exc:  # database away, connection dropped, ...
                logger.warning("housekeeping interrupted; trying again later: %r", exc)
            finally:
                self._set_leader(False)
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(self.interval_seconds * (0.5 + random.random() / 2))

    def _set_leader(self, value: bool) -> None:
        self.is_leader = value
        self.metrics.housekeeping_leader.set(1 if value else 0)

    async def purge(self, conn: asyncpg.Connection | None = None) -> dict[str, int]:
        """Delete what is past its retention now; returns rows deleted per rule
        (``table.column``). Uses ``conn`` or a connection of its own. A rule that fails is
        logged and counted as ``-1``; the connection failing (the database away) raises."""
        if conn is None:
            own = await asyncpg.connect(self.dsn)
            try:
                return await self.purge(own)
            finally:
                await own.close()
        now = utcnow()
        deleted: dict[str, int] = {}
        for rule in self.rules:
            try:
                status = await conn.execute(
                    f'DELETE FROM "{rule.table}" WHERE "{rule.column}" < $1', now - rule.keep
                )
            except asyncpg.PostgresError as exc:
                if is_transient(exc):
                    raise  # the database is away: nothing else will work either
                logger.error(  # this rule's table or column: the others still run
                    "retention rule failed",
                    extra={"rule": rule.name, "error": f"{type(exc).__name__}: {exc}"[:500]},
                )
                deleted[rule.name] = -1
                continue
            count = int(status.split()[-1])
            deleted[rule.name] = count
            if count:
                self.metrics.retention_deleted.labels(rule.name).inc(count)
        purged = {name: n for name, n in deleted.items() if n}
        logger.log(
            logging.INFO if purged else logging.DEBUG,
            "retention purge",
            extra={"service_name": self.service, "deleted": purged},
        )
        return deleted

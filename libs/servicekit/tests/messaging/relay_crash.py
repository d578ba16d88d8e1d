"""Run a relay that dies (``os._exit``) right after the broker confirmed, before marking rows.

Used by ``test_failures.py`` as a subprocess: ``python relay_crash.py <database_url> <amqp_url>``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from servicekit.db.engine import asyncpg_dsn
from servicekit.messaging.relay import OutboxRelay


async def die(rows: Sequence[Any]) -> None:
    print(f"published {len(rows)}; dying before marking", flush=True)
    os._exit(17)


async def main(database_url: str, amqp_url: str) -> None:
    relay = OutboxRelay(
        service="cabinet",
        dsn=asyncpg_dsn(database_url),
        amqp_url=amqp_url,
        exchanges=["cabinet.events"],
        after_publish=die,
        poll_seconds=0.2,
    )
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

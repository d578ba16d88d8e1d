"""Limits on what a caller may ask for: registrations, mails, failed logins (counted per key in
``login_throttle``; the rules are :mod:`cabinet.domain.throttle`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from servicekit.messaging.outbox import UnitOfWork

from cabinet.adapters import throttles
from cabinet.domain.throttle import ThrottlePolicy, ensure_unlocked


async def check(uow: UnitOfWork, keys: Sequence[str], now: datetime) -> None:
    """:class:`~cabinet.domain.throttle.TooManyAttempts` while any of ``keys`` is locked."""
    ensure_unlocked(await throttles.states(uow, keys), now)


async def limit(uow: UnitOfWork, keys: Mapping[str, ThrottlePolicy], now: datetime) -> None:
    """Refuse while any of ``keys`` is locked; else count one more use of each under its
    policy."""
    await check(uow, list(keys), now)
    for key, policy in keys.items():
        await throttles.count(uow, key, policy, now)

"""Throttle counters per key (``login_throttle`` rows): failed logins, registrations, mails
asked for, notices of registration attempts. The rules are in :mod:`cabinet.domain.throttle`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import Keyring, normalize_email
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from cabinet.adapters.credentials import digest
from cabinet.adapters.tables import LoginThrottle
from cabinet.domain.throttle import ThrottlePolicy, ThrottleState, first_use


def email_key(email: str, keyring: Keyring) -> str:
    """The blind index an address is throttled by, whether or not an account has it."""
    try:
        return keyring.blind_index(normalize_email(email), kind="email")
    except ValueError:
        return digest(email.strip().casefold())  # matches no account, still throttled


async def states(uow: UnitOfWork, keys: Sequence[str]) -> list[ThrottleState | None]:
    """The stored state of each key (None: never counted)."""
    found: list[ThrottleState | None] = []
    for key in keys:
        row = await uow.session.get(LoginThrottle, key)
        found.append(
            None
            if row is None
            else ThrottleState(row.failures, row.window_started_at, row.locked_until)
        )
    return found


async def count(uow: UnitOfWork, key: str, policy: ThrottlePolicy, now: datetime) -> None:
    """Count one more use (or failure) of ``key``; past the allowance it locks."""
    row = await uow.session.get(LoginThrottle, key, with_for_update=True)
    state = (
        first_use(policy, now)
        if row is None
        else ThrottleState(row.failures, row.window_started_at, row.locked_until).after_failure(
            policy, now
        )
    )
    await uow.session.exec(
        insert(LoginThrottle)
        .values(
            key=key,
            failures=state.failures,
            window_started_at=state.window_started_at,
            locked_until=state.locked_until,
        )
        .on_conflict_do_update(
            index_elements=["key"],
            set_={
                "failures": state.failures,
                "window_started_at": state.window_started_at,
                "locked_until": state.locked_until,
            },
        )
    )


async def clear(uow: UnitOfWork, key: str) -> None:
    """Forget the failures of ``key`` (a successful login clears its account's)."""
    await uow.session.exec(
        update(LoginThrottle)
        .where(col(LoginThrottle.key) == key)
        .values(failures=0, locked_until=None)
    )

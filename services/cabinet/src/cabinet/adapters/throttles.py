"""Throttle counters per key (``login_throttle`` rows): failed logins, verification resends,
notices of registration attempts. The rules are in :mod:`cabinet.domain.throttle`."""

from __future__ import annotations

from datetime import datetime

from servicekit.http.problems import Msg, Problem
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import blind_index, normalize_email
from sqlalchemy.dialects.postgresql import insert

from cabinet.adapters.credentials import digest
from cabinet.adapters.tables import LoginThrottle
from cabinet.domain.throttle import ThrottlePolicy, ThrottleState


def email_key(email: str) -> str:
    """The blind index an address is throttled by, whether or not an account has it."""
    try:
        return blind_index(normalize_email(email), kind="email")
    except ValueError:
        return digest(email.strip().casefold())  # matches no account, still throttled


async def throttle_state(uow: UnitOfWork, key: str) -> ThrottleState | None:
    """The stored state of a key (None: never counted)."""
    row = await uow.session.get(LoginThrottle, key)
    if row is None:
        return None
    return ThrottleState(row.failures, row.window_started_at, row.locked_until)


async def retry_after(uow: UnitOfWork, keys: list[str], now: datetime) -> int | None:
    """Seconds until every one of ``keys`` is unlocked (None: none is locked)."""
    waits = [
        s.retry_after(now) for s in [await throttle_state(uow, k) for k in keys] if s is not None
    ]
    return max((w for w in waits if w is not None), default=None)


async def count(uow: UnitOfWork, key: str, policy: ThrottlePolicy, now: datetime) -> None:
    """Count one more use (or failure) of ``key``; past the allowance it locks."""
    row = await uow.session.get(LoginThrottle, key, with_for_update=True)
    state = (
        ThrottleState(0, now, None)
        if row is None
        else ThrottleState(row.failures, row.window_started_at, row.locked_until)
    ).after_failure(policy, now)
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


def too_many_attempts(wait: int) -> Problem:
    """429 with ``Retry-After``."""
    return Problem(
        Msg(
            ru="Слишком много попыток. Попробуйте позже.",
            en="Too many attempts. Try again later.",
        ),
        status=429,
        code="too_many_attempts",
        title=Msg(ru="Слишком много попыток", en="Too many attempts"),
        headers={"Retry-After": str(wait)},
    )

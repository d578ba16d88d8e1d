"""Throttling: how long a key (an account, a source address, a target address) must wait.

Uses (failed logins, registrations, mails asked for) count within a window; past the allowance
each further use locks the key for an exponentially growing time, capped. A successful login
clears the account's counter (not the address's: an address trying many accounts stays slowed
down). While any key of a request is locked, the request is refused (:class:`TooManyAttempts`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from servicekit.errors import DomainError


class TooManyAttempts(DomainError):
    """A key of the request is locked for ``retry_after`` more seconds."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"locked for {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class ThrottlePolicy:
    """Allowance and lock growth for one kind of key."""

    allowed_failures: int
    window: timedelta
    first_lock: timedelta = timedelta(seconds=30)
    max_lock: timedelta = timedelta(minutes=15)

    def lock_after(self, failures: int) -> timedelta | None:
        """The lock imposed after the ``failures``-th failure in the window (None: no lock)."""
        over = failures - self.allowed_failures - 1
        if over < 0:
            return None
        return min(self.max_lock, self.first_lock * (1 << min(over, 16)))


@dataclass(frozen=True)
class ThrottleState:
    """What is stored per key."""

    failures: int
    window_started_at: datetime
    locked_until: datetime | None

    def retry_after(self, now: datetime) -> int | None:
        """Seconds to wait before trying again, or None when not locked."""
        if self.locked_until is None or self.locked_until <= now:
            return None
        return max(1, int((self.locked_until - now).total_seconds() + 0.999))

    def after_failure(self, policy: ThrottlePolicy, now: datetime) -> ThrottleState:
        """The state after one more failure."""
        if now - self.window_started_at > policy.window:
            failures, started = 1, now
        else:
            failures, started = self.failures + 1, self.window_started_at
        lock = policy.lock_after(failures)
        return ThrottleState(failures, started, None if lock is None else now + lock)


def first_use(policy: ThrottlePolicy, now: datetime) -> ThrottleState:
    """The state of a key counted for the first time."""
    return ThrottleState(0, now, None).after_failure(policy, now)


def longest_wait(states: Iterable[ThrottleState | None], now: datetime) -> int | None:
    """Seconds until every one of ``states`` (None: a key never counted) is unlocked; None when
    none is locked."""
    waits = [s.retry_after(now) for s in states if s is not None]
    return max((w for w in waits if w is not None), default=None)


def ensure_unlocked(states: Iterable[ThrottleState | None], now: datetime) -> None:
    """Refuse while any of ``states`` is locked."""
    wait = longest_wait(states, now)
    if wait is not None:
        raise TooManyAttempts(wait)


ACCOUNT_POLICY = ThrottlePolicy(allowed_failures=5, window=timedelta(minutes=15))
ADDRESS_POLICY = ThrottlePolicy(allowed_failures=20, window=timedelta(minutes=15))


def allowance(uses: int, window: timedelta) -> ThrottlePolicy:
    """``uses`` per ``window``: the last of them locks the key for a whole window (resends of a
    link, notices to an address: nobody needs more, and a script gets no further)."""
    return ThrottlePolicy(
        allowed_failures=uses - 1, window=window, first_lock=window, max_lock=window
    )


#: Notices to an account's owner that someone tried to register with their address.
ATTEMPT_NOTICE_POLICY = allowance(2, timedelta(hours=1))

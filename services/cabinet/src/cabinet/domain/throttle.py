"""Login throttling: how long a key (an account or a source address) must wait.

Failures count within a window; past the allowance each further failure locks the key for an
exponentially growing time, capped. A success clears the account's counter (not the address's:
an address trying many accounts stays slowed down).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


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

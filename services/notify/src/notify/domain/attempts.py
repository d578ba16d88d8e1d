"""What happens to a delivery after one attempt: sent, tried again later, or given up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Status = Literal["pending", "sent", "retrying", "failed", "skipped"]
FINAL_STATUSES: frozenset[str] = frozenset({"sent", "failed", "skipped"})


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_message_id: str | None


@dataclass(frozen=True)
class Transient:
    """Try again: after ``retry_after`` when the provider said so (Telegram 429), else backoff."""

    error: str
    retry_after: timedelta | None = None


@dataclass(frozen=True)
class Permanent:
    """Retrying cannot help (SMTP 5xx, Telegram 400). ``blocked``: the user blocked the bot."""

    error: str
    blocked: bool = False


Outcome = Sent | Transient | Permanent


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff from ``first`` doubling up to ``cap``; give up after ``max_attempts``."""

    max_attempts: int
    first: timedelta
    cap: timedelta

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1-based)."""
        factor = 2 ** max(0, min(attempts - 1, 20))
        wait: timedelta = min(self.cap, self.first * factor)
        return wait


@dataclass(frozen=True)
class Next:
    """The delivery's new status, and when to try again (for ``retrying``)."""

    status: Status
    retry_in: timedelta | None = None
    give_up: bool = False  # failed after a transient error: the retries ran out


def after_attempt(outcome: Outcome, attempts: int, policy: RetryPolicy) -> Next:
    """Decide the delivery's status after attempt number ``attempts`` ended with ``outcome``."""
    if isinstance(outcome, Sent):
        return Next("sent")
    if isinstance(outcome, Permanent):
        return Next("failed")
    if attempts >= policy.max_attempts:
        return Next("failed", give_up=True)
    wait = outcome.retry_after if outcome.retry_after is not None else policy.delay(attempts)
    return Next("retrying", retry_in=wait)

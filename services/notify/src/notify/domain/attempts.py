"""What happens to a delivery after one attempt: sent, tried again later, or given up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Status = Literal["pending", "sending", "sent", "retrying", "failed", "skipped", "unconfirmed"]
FINAL_STATUSES: frozenset[str] = frozenset({"sent", "failed", "skipped", "unconfirmed"})
# ``sending``: committed before the provider is called (the attempt is on record first).
# ``unconfirmed``: the provider was called, its answer was never recorded (the sender died), and
# the message is of a category that is not sent again (at most once, :func:`resend_after_crash`).


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


def resend_after_crash(category: str, *, is_edit: bool) -> bool:
    """A delivery found ``sending`` after a crash: the provider may or may not have accepted it.

    An alert (a crisis answer, a refund an admin must act on) is sent again: a duplicate is a
    lesser harm than a specialist never learning of a crisis (at least once). An edit is sent
    again too: the same text on the same message changes nothing the second time. Anything else
    (a confirmation, a reminder, a bot reply, marketing) is not: a person receiving the same
    message twice notices; the delivery is left ``unconfirmed`` in the log (at most once).
    """
    return category == "alert" or is_edit

"""The practice-wide rules the use cases run by.

HTTP routes get settings through dependencies; consumers and timers have no request, so the
composition root configures this one object at start-up. (The clock is the unit of work's:
``uow.now()``; ``clock`` here stays for the use cases that have no unit of work at hand.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from servicekit.clock import Clock, utcnow


@dataclass
class Practice:
    """Rules that are the practice's rather than a service's."""

    clock: Clock = utcnow
    hold_for: timedelta = timedelta(minutes=10)
    offer_for: timedelta = timedelta(minutes=30)
    parallel_offers: int = 3


practice = Practice()


def configure(
    *, clock: Clock, hold_for: timedelta, offer_for: timedelta, parallel_offers: int
) -> None:
    """Set the rules (once per process, from the settings)."""
    practice.clock = clock
    practice.hold_for = hold_for
    practice.offer_for = offer_for
    practice.parallel_offers = parallel_offers

"""The practice-wide rules the use cases run by.

One :class:`Practice` per runtime, built from the settings in the composition root
(``booking.bootstrap``) and passed to every use case that needs it: HTTP routes take it as a
dependency, consumers and timers are closures over it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Practice:
    """Rules that are the practice's rather than a service's. The defaults are the settings'
    (``BookingSettings``): a runtime uses its own settings' values."""

    #: How long an unpaid hold keeps its slot.
    hold_for: timedelta = timedelta(minutes=10)
    #: How long a waitlist offer waits for its client.
    offer_for: timedelta = timedelta(minutes=30)
    #: How many waiting clients one freed slot is offered to at once.
    parallel_offers: int = 3

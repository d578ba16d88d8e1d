"""A payment's statuses, as booking keeps them beside YooKassa's.

``new`` (not sent to YooKassa yet) → ``pending`` (the client may pay) → ``waiting_for_capture``
(authorised; booking captures it while the hold is the client's) → ``succeeded``; or
``canceled`` (by YooKassa, the bank or booking itself) and ``not_created`` (never reached
YooKassa). A hold has one payment alive at a time; paying again after a declined payment makes a
new one.
"""

from __future__ import annotations

from datetime import datetime

#: Payments that may still take money.
OPEN_PAYMENT: tuple[str, ...] = ("new", "pending", "waiting_for_capture")

#: Payments nothing more happens to at YooKassa.
FINAL_PAYMENT: tuple[str, ...] = ("succeeded", "canceled", "not_created")

# Of two payments of one appointment made in the same instant, the one shown is the one
# further along: a payment made again after a declined one, a success over anything.
_LIFE = {
    "not_created": 0,
    "canceled": 1,
    "new": 2,
    "pending": 2,
    "waiting_for_capture": 2,
    "succeeded": 3,
}


def shown_order(created_at: datetime, status: str) -> tuple[datetime, int]:
    """Sort key of an appointment's payments: the last one is the one its client sees."""
    return created_at, _LIFE.get(status, 0)

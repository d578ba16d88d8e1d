"""Who gets a message on which channel, and when: channel order, quiet hours, consent."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

from notify.domain.formatting import zone_of

Channel = Literal["telegram", "email"]
CHANNELS: tuple[Channel, ...] = ("telegram", "email")
DEFAULT_CHANNELS: tuple[Channel, ...] = ("telegram", "email")
MARKETING_CONSENT = "marketing_messages"  # cabinet's consent purpose for non-essential messages

Category = Literal["transactional", "marketing", "alert"]
"""transactional: essential (about the user's own bookings and account); marketing:
non-essential (needs consent, carries List-Unsubscribe); alert: urgent, on every channel."""


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in the recipient's zone, when non-urgent messages wait.

    ``start > end`` spans midnight (22:00–08:00).
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError("quiet hours must not start and end at the same time")

    def contains(self, local: time) -> bool:
        """Whether the local clock time ``local`` is inside the window."""
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


def quiet_hours_between(start: time | None, end: time | None) -> QuietHours | None:
    """Stored quiet hours (both ends, or none)."""
    if start is None or end is None:
        return None
    return QuietHours(start, end)


def channel_order(stored: Sequence[str] | None) -> list[Channel]:
    """A user's channel order as stored (unknown names dropped); the default when they set none."""
    if stored is None:
        return list(DEFAULT_CHANNELS)
    return [channel for name in stored for channel in CHANNELS if channel == name]


def send_after_quiet_hours(now: datetime, quiet: QuietHours | None, zone: str) -> datetime:
    """When a non-urgent message planned at ``now`` may go: now, or the end of quiet hours.

    The end is found on the recipient's local calendar, so a DST change in the night still ends
    the window at the local clock time the user chose.
    """
    if quiet is None:
        return now
    tz = zone_of(zone)
    local = now.astimezone(tz)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return now
    end_day = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None) >= quiet.start:
        end_day += timedelta(days=1)
    end = datetime.combine(end_day, quiet.end, tzinfo=tz)
    return max(now, end.astimezone(now.tzinfo))


def choose_channels(
    *,
    category: Category,
    allowed: Sequence[Channel] | None,
    preferred: Sequence[Channel],
    available: Iterable[Channel],
) -> list[Channel]:
    """The channels one message goes out on.

    ``allowed`` restricts a template to some channels (a password reset is email only);
    ``preferred`` is the user's order; ``available`` what we can reach (a linked, reachable chat;
    an email address). An alert goes to every available channel; anything else to the first
    preferred available one, or to any available one if the preferred are not.
    """
    usable = [c for c in CHANNELS if c in set(available) and (allowed is None or c in allowed)]
    if not usable:
        return []
    if category == "alert":
        return usable
    for channel in preferred:
        if channel in usable:
            return [channel]
    return usable[:1]


def may_send_marketing(*, consent_granted: bool, unsubscribed: bool) -> bool:
    """Non-essential messages need the marketing consent and no one-click unsubscribe since."""
    return consent_granted and not unsubscribed

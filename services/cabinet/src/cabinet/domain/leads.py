"""CRM leads: who showed interest before their first completed session, where they came from,
and the practice's pipeline. Pure rules (no I/O): touches and attribution, status changes,
merging duplicates, the funnel's arithmetic.

- A **touch** is one moment of interest: a bot ``/start`` from a campaign link, a registration,
  a page the front end reported with UTM parameters, a booking started. A lead keeps its
  **first touch** for ever and its **last touch** is the latest touch that names a source
  (last non-direct touch: a touch without UTM, such as a booking started from a bookmark, is
  recorded but does not take the credit away from the campaign that brought the person).
- **Status** ``new → contacted → converted → lost``: the practice sets ``new``, ``contacted``
  and ``lost``; ``converted`` is set only by the system, at the lead's first completed session,
  and is final.
- Duplicates (the same email, the same Telegram chat, the same account) are **merged** into the
  lead first touched earliest.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from servicekit.errors import DomainError

Channel = Literal["telegram", "registration", "web", "booking", "questionnaire", "manual"]
Status = Literal["new", "contacted", "converted", "lost"]
STATUSES: tuple[Status, ...] = ("new", "contacted", "converted", "lost")
SET_BY_PRACTICE: frozenset[str] = frozenset({"new", "contacted", "lost"})
REVENUE_WINDOW = timedelta(days=90)
DIRECT = "(direct)"


class LeadNotFound(DomainError):
    """No such lead (or it was merged into another one)."""

    code = "not_found"


class CampaignNotFound(DomainError):
    """No such campaign."""

    code = "not_found"


class StatusNotAllowed(DomainError):
    """``converted`` is the system's to set (at the first completed session), and final."""

    code = "lead_status_not_allowed"


class CampaignNameTaken(DomainError):
    """Another campaign already has this ``utm_campaign`` value."""

    code = "campaign_name_taken"


@dataclass(frozen=True)
class Touch:
    """One moment of interest and where it came from (UTM values, the campaign link)."""

    channel: Channel
    at: datetime
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    campaign_id: uuid.UUID | None = None

    @property
    def attributed(self) -> bool:
        """Whether it names a source (a direct touch never takes the last-touch credit)."""
        return self.source is not None or self.campaign_id is not None


def last_touch_after(current: Touch, new: Touch) -> Touch:
    """The last touch once ``new`` happened: ``new`` if it names a source and is not older."""
    if new.attributed and (new.at >= current.at or not current.attributed):
        return new
    return current


def merged_touches(first: Sequence[Touch], last: Sequence[Touch]) -> tuple[Touch, Touch]:
    """First and last touch of leads merged together: the earliest first touch, and the latest
    attributed last touch (the earliest first touch when none is)."""
    earliest = min(first, key=lambda t: t.at)
    latest = earliest
    for touch in sorted(last, key=lambda t: t.at):
        latest = last_touch_after(latest, touch)
    return earliest, latest


def status_change_allowed(current: str, new: str) -> None:
    """Refuse a change the practice may not make."""
    if new not in SET_BY_PRACTICE or current == "converted":
        raise StatusNotAllowed


# -- the funnel -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelLead:
    """What the funnel needs of one lead (first touch, milestones, its money)."""

    source: str | None
    campaign: str | None
    created_at: datetime
    first_booked_at: datetime | None
    converted_at: datetime | None
    payments: tuple[tuple[datetime, int], ...] = ()
    """(when, kopecks) of the lead's payments (refunds negative)."""


@dataclass
class FunnelRow:
    """One line of the funnel: leads of one first-touch source and campaign."""

    source: str
    campaign: str
    leads: int = 0
    booked: int = 0
    converted: int = 0
    revenue_90d: int = 0
    _hours: list[float] = field(default_factory=list, repr=False)

    @property
    def booking_rate(self) -> float:
        return round(self.booked / self.leads, 4) if self.leads else 0.0

    @property
    def conversion_rate(self) -> float:
        return round(self.converted / self.leads, 4) if self.leads else 0.0

    @property
    def median_hours_to_convert(self) -> float | None:
        return round(statistics.median(self._hours), 2) if self._hours else None


def revenue_in_first_90_days(lead: FunnelLead) -> int:
    """A converted lead's money (net of refunds) in the 90 days from its first booking."""
    if lead.converted_at is None or lead.first_booked_at is None:
        return 0
    start = lead.first_booked_at
    return sum(amount for at, amount in lead.payments if start <= at < start + REVENUE_WINDOW)


def funnel(leads: Iterable[FunnelLead]) -> tuple[list[FunnelRow], FunnelRow]:
    """The funnel by first-touch source and campaign (sorted), and the total line.

    Each lead counts once, under its first touch; ``booked`` and ``converted`` count leads that
    reached their first booking and their first completed session (whenever that happened)."""
    rows: dict[tuple[str, str], FunnelRow] = {}
    total = FunnelRow(source="(all)", campaign="(all)")
    for lead in leads:
        key = (lead.source or DIRECT, lead.campaign or DIRECT)
        row = rows.setdefault(key, FunnelRow(source=key[0], campaign=key[1]))
        for line in (row, total):
            line.leads += 1
            if lead.first_booked_at is not None:
                line.booked += 1
            if lead.converted_at is not None:
                line.converted += 1
                line._hours.append((lead.converted_at - lead.created_at).total_seconds() / 3600)
                line.revenue_90d += revenue_in_first_90_days(lead)
    return [rows[k] for k in sorted(rows)], total

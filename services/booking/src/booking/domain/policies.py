"""Cancellation and reschedule policies of a service offering.

Cancellation tiers map notice to a refund share: a tier applies when the notice is *at least* its
``min_notice`` (so with the default tiers exactly 48 h still refunds in full, exactly 24 h half);
below every tier nothing is refunded, a "late cancellation". A specialist's or an admin's
cancellation always refunds in full.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from servicekit.errors import DomainError


@dataclass(frozen=True)
class CancellationTier:
    """Cancelling with at least ``min_notice`` before the start refunds ``refund_percent``."""

    min_notice: timedelta
    refund_percent: int


DEFAULT_TIERS: tuple[CancellationTier, ...] = (
    CancellationTier(timedelta(hours=48), 100),
    CancellationTier(timedelta(hours=24), 50),
)


def check_tiers(tiers: Sequence[CancellationTier]) -> None:
    """``ValueError`` unless notices are distinct and more notice never refunds less."""
    if len({t.min_notice for t in tiers}) != len(tiers):
        raise ValueError("two cancellation tiers have the same notice")
    ordered = sorted(tiers, key=lambda t: t.min_notice)
    for tier in ordered:
        if not 0 <= tier.refund_percent <= 100 or tier.min_notice < timedelta(0):
            raise ValueError("a tier needs a notice >= 0 and a refund between 0 and 100 %")
    for shorter, longer in itertools.pairwise(ordered):
        if longer.refund_percent < shorter.refund_percent:
            raise ValueError("a longer notice must not refund less than a shorter one")


def refund_percent_for(notice: timedelta, tiers: Sequence[CancellationTier]) -> int:
    """The share refunded when a client cancels ``notice`` before the start."""
    best = 0
    for tier in tiers:
        if notice >= tier.min_notice:
            best = max(best, tier.refund_percent)
    return best


def refund_amount(paid: int, percent: int) -> int:
    """Kopecks refunded of ``paid`` at ``percent`` (rounded down: never more than the share)."""
    return paid * percent // 100


class RescheduleRefused(StrEnum):
    """Why a reschedule is refused (the API's problem ``code``)."""

    TOO_MANY = "reschedule_limit_reached"
    TOO_LATE = "reschedule_too_late"


def check_reschedule(
    *, notice: timedelta, count: int, min_notice: timedelta, max_count: int, by_client: bool
) -> RescheduleRefused | None:
    """Whether a confirmed appointment may move. The limits bind clients, not the specialist."""
    if not by_client:
        return None
    if count >= max_count:
        return RescheduleRefused.TOO_MANY
    if notice < min_notice:
        return RescheduleRefused.TOO_LATE
    return None


class RescheduleLimitReached(DomainError):
    """A client may not move this appointment: moved as often as the service allows."""

    code = "reschedule_limit_reached"


class RescheduleTooLate(DomainError):
    """A client may not move this appointment: less notice left than the service asks."""

    code = "reschedule_too_late"


def ensure_reschedulable(
    *, notice: timedelta, count: int, min_notice: timedelta, max_count: int, by_client: bool
) -> None:
    """:func:`check_reschedule`, raising :class:`RescheduleLimitReached` or
    :class:`RescheduleTooLate` when the move is refused."""
    refused = check_reschedule(
        notice=notice, count=count, min_notice=min_notice, max_count=max_count, by_client=by_client
    )
    if refused is RescheduleRefused.TOO_MANY:
        raise RescheduleLimitReached()
    if refused is RescheduleRefused.TOO_LATE:
        raise RescheduleTooLate()

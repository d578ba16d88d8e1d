"""The catalog's rules: how long a session of a service lasts, and what a free service may ask.

A service offers one or more session lengths; a booking, a search or a waitlist entry that names
none takes the first. A service that costs nothing cannot require prepayment (there would be
nothing to pay).
"""

from __future__ import annotations

from collections.abc import Sequence

from servicekit.errors import DomainError


class DurationNotOffered(DomainError):
    """A booking asked for a session length the service does not offer."""

    code = "validation_failed"

    def __init__(self, durations: Sequence[int]) -> None:
        super().__init__(f"the service lasts one of {list(durations)} minutes")
        self.durations = list(durations)


class PrepaymentOfFreeService(DomainError):
    """A free service was set to require prepayment."""

    code = "validation_failed"


def session_length(durations: Sequence[int], asked: int | None) -> int | None:
    """The length of a session of a service lasting one of ``durations`` (minutes), when
    ``asked`` for (``None``: the service's first); ``None`` when the service does not last
    that long."""
    length = asked or durations[0]
    return length if length in durations else None


def check_prepayment(*, price_amount: int, prepayment_required: bool) -> None:
    """:class:`PrepaymentOfFreeService` for a free service that requires prepayment."""
    if prepayment_required and price_amount == 0:
        raise PrepaymentOfFreeService("a free service cannot require prepayment")

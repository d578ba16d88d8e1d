"""Measurement-based care: how a client's score moved since their first run.

A change is *reliable* when it is at least the questionnaire's published reliable-change
threshold (the definition's ``reliable_change``): PHQ-9 ≥ 6 points (Kroenke et al.; the
reliable change index of the PHQ-9 at its published reliability), GAD-7 ≥ 4 points (the threshold
commonly used in practice, e.g. by the NHS Talking Therapies programme). A smaller change may
be noise of the measure, not a change in the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["down", "up", "none"]


@dataclass(frozen=True)
class Change:
    """From the first score to the latest."""

    first: int
    latest: int
    delta: int
    direction: Direction
    reliable: bool | None
    """``None`` when the definition states no threshold."""


def change_since_first(scores: list[int], threshold: int | None) -> Change | None:
    """The change over ``scores`` (oldest first); ``None`` with fewer than two."""
    if len(scores) < 2:
        return None
    first, latest = scores[0], scores[-1]
    delta = latest - first
    direction: Direction = "down" if delta < 0 else "up" if delta > 0 else "none"
    return Change(
        first=first,
        latest=latest,
        delta=delta,
        direction=direction,
        reliable=None if threshold is None else abs(delta) >= threshold,
    )

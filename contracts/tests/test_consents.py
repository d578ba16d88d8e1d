"""The shared consent rule: which grant versions still count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contracts.consents import minimum_valid_version

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Doc:
    version: int
    effective_from: datetime
    requires_reconsent: bool


def test_no_version_in_effect_sets_no_floor() -> None:
    assert minimum_valid_version([], NOW) is None
    assert minimum_valid_version([Doc(1, datetime(2027, 1, 1, tzinfo=UTC), False)], NOW) is None


def test_only_a_reconsent_version_in_effect_raises_the_floor() -> None:
    past, future = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    docs = [Doc(1, past, False), Doc(2, past, False)]
    assert minimum_valid_version(docs, NOW) == 1  # an editorial update: old grants still count
    docs.append(Doc(3, past, True))
    assert minimum_valid_version(docs, NOW) == 3  # users must consent again
    docs.append(Doc(4, future, True))
    assert minimum_valid_version(docs, NOW) == 3  # not in effect yet
    assert minimum_valid_version(docs, NOW.replace(year=2027, month=2)) == 4

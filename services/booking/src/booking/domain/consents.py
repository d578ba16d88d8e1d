"""Whether a user's consent counts (152-FZ: one document per purpose, granted separately).

A grant counts while it is the user's latest word for the purpose and its document version is
still acceptable: once a newer version published with ``requires_reconsent`` is in effect, older
grants stop counting until the user consents again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.consents import minimum_valid_version
from servicekit.errors import DomainError

HEALTH_DATA = "health_data_processing"


class ConsentRequired(DomainError):
    """Health data (intake forms, outcome records) is written and read only while the client's
    health-data consent counts."""

    code = "consent_required"


@dataclass(frozen=True)
class DocumentVersion:
    """What the rule needs of a published document version."""

    version: int
    effective_from: datetime
    requires_reconsent: bool


def oldest_acceptable_version(documents: Sequence[DocumentVersion], now: datetime) -> int:
    """The oldest document version a grant may be of and still count (the shared rule)."""
    return minimum_valid_version(documents, now) or 1


def consent_counts(
    granted_version: int | None, documents: Sequence[DocumentVersion], now: datetime
) -> bool:
    """``granted_version`` is the version of the user's standing grant (None: none)."""
    if granted_version is None:
        return False
    return granted_version >= oldest_acceptable_version(documents, now)

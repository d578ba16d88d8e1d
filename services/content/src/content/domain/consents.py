"""Whether a user's consent counts (152-FZ: one document per purpose, granted separately).

content keeps its own copy of cabinet's consents. Answers to a questionnaire are health data:
they are stored only while the client's ``health_data_processing`` consent counts, and a
specialist reads a client's results only while ``transfer_to_specialist`` counts as well. A
grant counts while it is the user's latest word for the purpose and its document version is
still acceptable (:func:`contracts.consents.minimum_valid_version`, the rule cabinet and booking
read too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from contracts.consents import minimum_valid_version

HEALTH_DATA = "health_data_processing"
TRANSFER_TO_SPECIALIST = "transfer_to_specialist"


@dataclass(frozen=True)
class DocumentVersion:
    """What the rule needs of a published document version."""

    version: int
    effective_from: datetime
    requires_reconsent: bool


def consent_counts(
    granted_version: int | None, documents: Sequence[DocumentVersion], now: datetime
) -> bool:
    """``granted_version`` is the version of the user's standing grant (None: none)."""
    if granted_version is None:
        return False
    return granted_version >= (minimum_valid_version(documents, now) or 1)

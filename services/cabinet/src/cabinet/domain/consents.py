"""Consent rules (152-FZ): one document per purpose, granted and withdrawn separately.

A user's consent for a purpose is *valid* when their latest record for it is a grant, and that
grant's document version is still acceptable: a newer version published with
``requires_reconsent`` and already in effect makes older grants stop counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from contracts.consents import minimum_valid_version
from contracts.types import ConsentPurpose

__all__ = ["minimum_valid_version"]  # the shared rule, re-exported for cabinet's callers

PURPOSES: tuple[str, ...] = get_args(ConsentPurpose)
Action = Literal["granted", "withdrawn"]


@dataclass(frozen=True)
class DocumentVersion:
    """What the rules need of a published document."""

    purpose: str
    version: int
    effective_from: datetime
    requires_reconsent: bool


@dataclass(frozen=True)
class Record:
    """What the rules need of an audit row."""

    purpose: str
    document_version: int
    action: Action
    at: datetime


def current_document(documents: Sequence[DocumentVersion], now: datetime) -> DocumentVersion | None:
    """The newest version in effect."""
    in_effect = [d for d in documents if d.effective_from <= now]
    return max(in_effect, key=lambda d: d.version) if in_effect else None


def status(
    records: Sequence[Record], documents: Sequence[DocumentVersion], now: datetime
) -> Literal["granted", "withdrawn", "outdated", "none"]:
    """A user's standing for one purpose, from their audit rows and the published versions."""
    if not records:
        return "none"
    latest = max(records, key=lambda r: r.at)
    if latest.action == "withdrawn":
        return "withdrawn"
    floor = minimum_valid_version(documents, now)
    if floor is not None and latest.document_version < floor:
        return "outdated"
    return "granted"

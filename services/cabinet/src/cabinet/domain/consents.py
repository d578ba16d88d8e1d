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

from contracts.types import ConsentPurpose

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


def minimum_valid_version(documents: Sequence[DocumentVersion], now: datetime) -> int | None:
    """The oldest version a grant may be of and still count (None: no document in effect)."""
    in_effect = [d for d in documents if d.effective_from <= now]
    if not in_effect:
        return None
    floor = 1
    for d in sorted(in_effect, key=lambda d: d.version):
        if d.requires_reconsent:
            floor = d.version
    return floor


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

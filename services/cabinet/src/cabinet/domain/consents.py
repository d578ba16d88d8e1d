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
from servicekit.errors import DomainError

__all__ = ["minimum_valid_version"]  # the shared rule, re-exported for cabinet's callers

PURPOSES: tuple[str, ...] = get_args(ConsentPurpose)
Action = Literal["granted", "withdrawn"]
Status = Literal["granted", "withdrawn", "outdated", "none"]


class NoSuchDocument(DomainError):
    """No published document has this id."""

    code = "not_found"


class DocumentOutdated(DomainError):
    """A grant of a document that is not its purpose's version in effect."""

    code = "document_outdated"


class NotGranted(DomainError):
    """A withdrawal of a purpose the user has no standing grant of."""

    code = "not_granted"


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
) -> Status:
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


@dataclass(frozen=True)
class Standing:
    """Where a user stands for one purpose."""

    status: Status
    granted_version: int | None
    current: DocumentVersion | None


def standing(
    records: Sequence[Record], documents: Sequence[DocumentVersion], now: datetime
) -> Standing:
    """A user's standing for one purpose from their audit rows (oldest first) and the
    purpose's published versions."""
    latest = records[-1] if records else None
    return Standing(
        status=status(records, documents, now),
        granted_version=latest.document_version
        if latest is not None and latest.action == "granted"
        else None,
        current=current_document(documents, now),
    )


def check_grant(
    document: DocumentVersion, documents: Sequence[DocumentVersion], now: datetime
) -> None:
    """Refuse a grant of anything but the purpose's version in effect (``documents``: every
    version of ``document``'s purpose)."""
    current = current_document(documents, now)
    if current is None or current.version != document.version:
        raise DocumentOutdated()


def check_withdrawal(records: Sequence[Record]) -> None:
    """Refuse a withdrawal unless the user's latest record of the purpose (``records``, oldest
    first) is a grant."""
    if not records or records[-1].action != "granted":
        raise NotGranted()

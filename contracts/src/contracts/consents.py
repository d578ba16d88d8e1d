"""How a consent grant is read, shared by the service that records consents (cabinet) and the
services that act on copies of them (booking): one rule, so they never disagree.

152-FZ: one document per purpose, granted separately. A grant counts while its document version
is still acceptable: once a newer version published with ``requires_reconsent`` is in effect,
older grants stop counting until the user consents again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol


class PublishedVersion(Protocol):
    """What the rule needs of a published consent document version."""

    @property
    def version(self) -> int: ...
    @property
    def effective_from(self) -> datetime: ...
    @property
    def requires_reconsent(self) -> bool: ...


def minimum_valid_version(documents: Iterable[PublishedVersion], now: datetime) -> int | None:
    """The oldest version a grant may be of and still count (``None``: no version in effect)."""
    in_effect = [d for d in documents if d.effective_from <= now]
    if not in_effect:
        return None
    floor = 1
    for document in sorted(in_effect, key=lambda d: d.version):
        if document.requires_reconsent:
            floor = document.version
    return floor

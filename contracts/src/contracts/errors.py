"""Errors raised by the contracts package.

Every error is a ``ValueError`` so a consumer can treat any of them as "this message is not a
valid event" and dead-letter it with ``str(error)`` as the logged reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ContractError(ValueError):
    """Base class: something does not satisfy the event contract."""


class UnknownEvent(ContractError):
    """No payload model is registered for an ``(event_type, version)`` pair."""

    def __init__(self, event_type: str, version: int, known_versions: Sequence[int] = ()) -> None:
        self.event_type = event_type
        self.version = version
        self.known_versions = tuple(sorted(known_versions))
        if self.known_versions:
            known = ", ".join(f"v{v}" for v in self.known_versions)
            reason = f"unknown version v{version} of event {event_type!r} (known: {known})"
        else:
            reason = f"unknown event type {event_type!r} (version {version})"
        super().__init__(reason)


class InvalidEvent(ContractError):
    """A message is not a valid event: bad JSON, a bad envelope or a payload that fails its model.

    ``errors`` holds pydantic's structured errors when there are any, for logs and the DLQ.
    """

    def __init__(
        self,
        reason: str,
        *,
        event_type: str | None = None,
        version: int | None = None,
        errors: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.reason = reason
        self.event_type = event_type
        self.version = version
        self.errors = list(errors)
        where = f"{event_type} v{version}: " if event_type is not None else ""
        super().__init__(f"invalid event: {where}{reason}")


class DuplicateRegistration(ContractError):
    """An ``(event_type, version)`` pair or a model class was registered twice."""

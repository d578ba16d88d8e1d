"""The client diary: what an entry holds and the rules of sharing it.

An entry is the client's own: private by default, shared with their specialists per entry or
all at once, unshared at once. Mood is 0–10, sleep 0–24 hours; emotions come from a fixed list
(so a trend can count them), tags are the client's own words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

from servicekit.errors import DomainError

#: Emotions a client picks from (their own words go in ``tags``).
EMOTIONS: Final = (
    "joy",
    "calm",
    "gratitude",
    "interest",
    "hope",
    "pride",
    "sadness",
    "anxiety",
    "fear",
    "anger",
    "irritation",
    "shame",
    "guilt",
    "loneliness",
    "tiredness",
    "confusion",
)


class DiaryEntryNotFound(DomainError):
    """No diary entry of this user has this id."""

    code = "not_found"


class ClientNotFound(DomainError):
    """The caller is not this client's specialist (or there is no such client)."""

    code = "not_found"


class UnknownAppointment(DomainError):
    """An entry may point only at one of its author's own appointments."""

    code = "unknown_appointment"


class DiaryConsentRequired(DomainError):
    """The client's consent for ``purpose`` does not count."""

    code = "consent_required"

    def __init__(self, purpose: str) -> None:
        super().__init__(f"consent for {purpose} required")
        self.purpose = purpose


@dataclass(frozen=True)
class EntryBody:
    """What the client wrote: the encrypted part of an entry."""

    mood: int
    emotions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sleep_hours: float | None = None
    text: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As stored (inside the ciphertext)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntryBody:
        """From what was stored."""
        return cls(
            mood=int(data["mood"]),
            emotions=list(data.get("emotions") or []),
            tags=list(data.get("tags") or []),
            sleep_hours=data.get("sleep_hours"),
            text=data.get("text"),
        )

"""Field types shared by every payload: the payload base, time, money, zones, personal data.

Personal data is marked in the JSON Schema with ``"x-personal-data": true`` (and health data
additionally with ``"x-special-category": "health"``), so logs, tooling and reviewers can tell
which fields must never be logged in clear. Use :data:`PersonalData` for every contact or
identifying field, ``PersonalData | None`` when it is optional.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

PERSONAL_DATA: Final[dict[str, Any]] = {"x-personal-data": True}
HEALTH_DATA: Final[dict[str, Any]] = {"x-personal-data": True, "x-special-category": "health"}
SECRET: Final[dict[str, Any]] = {"x-personal-data": True, "x-secret": True}


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""An aware datetime, normalised to UTC. Naive datetimes are refused."""

PersonalData = Annotated[str, Field(json_schema_extra=PERSONAL_DATA)]
"""A string that is personal data: a name, an email, a phone, a free-text note about a person."""

PersonalId = Annotated[int, Field(json_schema_extra=PERSONAL_DATA)]
"""An integer that identifies a person outside Praktika (a Telegram chat or user id)."""

SecretUrl = Annotated[str, Field(min_length=1, json_schema_extra=SECRET)]
"""A capability URL (verification, reset or download link): whoever holds it can use it."""

TimeZoneName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$",
        max_length=64,
        examples=["Europe/Moscow"],
        description="IANA time zone name",
    ),
]
"""An IANA zone name. Its existence is checked by services with zoneinfo, not here, so a reader
with older tz data does not dead-letter an event."""

Language = Literal["ru", "en"]
"""Language of the texts a user receives."""

SessionFormat = Literal["online", "in_person"]
"""How a session is held."""

ActorRole = Literal["client", "specialist", "admin", "system"]
"""Who caused a change: a person in one of these roles, or the system itself (a timer)."""

ConsentPurpose = Literal[
    "personal_data_processing",
    "health_data_processing",
    "marketing_messages",
    "transfer_to_specialist",
]
"""The purposes a user consents to separately (152-FZ: one document per purpose)."""


class Payload(BaseModel):
    """Base of every event payload: immutable, and tolerant of fields it does not know.

    Unknown fields are ignored (never ``extra="forbid"``) so a producer can add an optional
    field without breaking readers on the older model.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")


class Money(BaseModel):
    """An amount of money in minor units (kopecks) and its currency."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    amount: int = Field(ge=0, description="Amount in kopecks (1500.00 RUB is 150000)")
    currency: Literal["RUB"] = "RUB"


def personal_data_fields(model: type[BaseModel]) -> frozenset[str]:
    """Return the dotted paths of a model's fields marked as personal data.

    Nested models and lists are followed (``"items[].email"``); use it to redact logs.
    """
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    found: set[str] = set()

    def walk(node: Any, path: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 20:
            return
        if node.get("x-personal-data") and path:
            found.add(path)
        ref = node.get("$ref")
        if isinstance(ref, str):
            walk(defs.get(ref.rsplit("/", 1)[-1]), path, depth + 1)
        for variant in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
            walk(variant, path, depth + 1)
        if "items" in node:
            walk(node["items"], f"{path}[]", depth + 1)
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}" if path else name, depth + 1)

    walk(schema, "", 0)
    return frozenset(found)

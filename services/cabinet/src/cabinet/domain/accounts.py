"""Accounts: what an owner may change of their contacts, and the refusals they meet.

Nothing here tells a caller whether an address is registered: the refusals below are met by
someone who holds a token, a link or a session already.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from servicekit.errors import DomainError


class NoAccount(DomainError):
    """A valid token names a user cabinet has no account for (any more)."""

    code = "not_found"


class WrongPassword(DomainError):
    """The current password given to change it is not the account's."""

    code = "wrong_password"


class InvalidLink(DomainError):
    """A one-time link that is unknown, used, expired, or closed by the use of another."""

    code = "invalid_token"


ContactField = Literal["email", "phone", "name", "time_zone", "language"]


@dataclass(frozen=True)
class Contacts:
    """What an owner may change of their account (the email has its own way)."""

    name: str
    phone: str | None
    time_zone: str
    language: str


def contact_changes(
    current: Contacts, sent: Mapping[str, str | None]
) -> dict[ContactField, str | None]:
    """The fields of ``sent`` (only those the owner sent) that change ``current``, in a stable
    order. A name, zone or language is never removed (``None`` leaves it as it is); a phone is
    (``None`` removes the number)."""
    changes: dict[ContactField, str | None] = {}
    for field in ("name", "time_zone", "language"):
        value = sent.get(field)
        if value is not None and value != getattr(current, field):
            changes[field] = value
    if "phone" in sent and sent["phone"] != current.phone:
        changes["phone"] = sent["phone"]
    return changes

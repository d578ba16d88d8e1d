"""Who may do what in booking, from booking's copy of cabinet's users.

* A specialist record belongs to a user who holds the ``specialist`` role; granting the role
  creates it (or makes it active again), removing the role makes it inactive.
* Only a user whose email is verified books (and so pays) or submits an intake form.
* Nobody books their own time: a specialist is never their own client.
* A specialist gives only services they own or shared ones (owned by nobody: an admin's),
  never another specialist's.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SPECIALIST = "specialist"


class NotSpecialist(enum.StrEnum):
    """Why a user cannot have a specialist record (the problem ``code`` says it too)."""

    UNKNOWN_USER = "unknown_user"
    NOT_A_SPECIALIST = "not_a_specialist"


@dataclass(frozen=True)
class KnownUser:
    """What booking knows of a cabinet user."""

    user_id: uuid.UUID
    roles: Sequence[str]
    email_verified: bool

    @property
    def is_specialist(self) -> bool:
        """Holds the specialist role."""
        return SPECIALIST in self.roles


def specialist_refusal(user: KnownUser | None) -> NotSpecialist | None:
    """Why ``user`` (None: booking has not heard of them) cannot be a specialist, if so."""
    if user is None:
        return NotSpecialist.UNKNOWN_USER
    if not user.is_specialist:
        return NotSpecialist.NOT_A_SPECIALIST
    return None


@dataclass(frozen=True)
class RoleChange:
    """What a change of roles means for the user's specialist record."""

    activates: bool
    deactivates: bool


def role_change(before: Iterable[str], after: Iterable[str]) -> RoleChange:
    """Gaining the specialist role makes them bookable; losing it hides them."""
    had, has = SPECIALIST in set(before), SPECIALIST in set(after)
    return RoleChange(activates=has and not had, deactivates=had and not has)


def foreign_services(
    specialist_id: uuid.UUID,
    wanted: Iterable[uuid.UUID],
    owners: Mapping[uuid.UUID, uuid.UUID | None],
) -> list[uuid.UUID]:
    """The services of ``wanted`` the specialist may not give: owned by another specialist.

    ``owners`` maps each known service to its owning specialist (None: shared).
    """
    return [
        s for s in wanted if s in owners and owners[s] is not None and owners[s] != specialist_id
    ]

"""Who may do what in booking, from booking's copy of cabinet's users.

* A specialist record belongs to a user who holds the ``specialist`` role; granting the role
  creates it (or makes it active again), removing the role makes it inactive.
* Only a user whose email is verified books (and so pays) or submits an intake form.
* Nobody books their own time: a specialist is never their own client.
* A specialist gives only services they own or shared ones (owned by nobody: an admin's),
  never another specialist's.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from servicekit.errors import DomainError

SPECIALIST = "specialist"


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


class EmailNotVerified(DomainError):
    """Only a user whose email cabinet says is verified books or submits an intake form."""

    code = "email_not_verified"


class OwnSlot(DomainError):
    """A specialist tried to book their own time."""

    code = "own_slot"


class UnknownUser(DomainError):
    """A user may not have a specialist record: cabinet has not told booking of them (yet)."""

    code = "unknown_user"


class NotASpecialist(DomainError):
    """A user may not have a specialist record: they do not hold the specialist role."""

    code = "not_a_specialist"


class UnknownServices(DomainError):
    """A specialist was given services that do not exist."""

    code = "validation_failed"

    def __init__(self, missing: Sequence[uuid.UUID]) -> None:
        super().__init__(f"unknown services: {', '.join(map(str, missing))}")
        self.missing = list(missing)


class ForeignService(DomainError):
    """A specialist was given another specialist's services."""

    code = "foreign_service"

    def __init__(self, foreign: Sequence[uuid.UUID]) -> None:
        super().__init__(f"services of another specialist: {', '.join(map(str, foreign))}")
        self.foreign = list(foreign)


def ensure_specialist(user: KnownUser | None) -> KnownUser:
    """``user``, who may have a specialist record; :class:`UnknownUser` or
    :class:`NotASpecialist` otherwise."""
    if user is None:
        raise UnknownUser()
    if not user.is_specialist:
        raise NotASpecialist()
    return user


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


def check_services_given(
    specialist_id: uuid.UUID,
    wanted: Sequence[uuid.UUID],
    owners: Mapping[uuid.UUID, uuid.UUID | None],
) -> None:
    """Every service of ``wanted`` exists (is in ``owners``) and the specialist may give it."""
    missing = [s for s in wanted if s not in owners]
    if missing:
        raise UnknownServices(missing)
    foreign = foreign_services(specialist_id, wanted, owners)
    if foreign:
        raise ForeignService(foreign)

"""Roles: what an admin may grant and remove, and who may have a public profile.

Every account has ``client``; an admin grants ``specialist``, ``moderator`` or ``admin`` and
removes them, except their own admin role (a practice must not lose its last admin by a slip).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

from servicekit.errors import DomainError

GrantableRole = Literal["specialist", "moderator", "admin"]


class NoSuchUser(DomainError):
    """No account has this id."""

    code = "not_found"


class NoSuchSpecialist(DomainError):
    """No account with this id has the specialist role."""

    code = "not_found"


class OwnAdminRole(DomainError):
    """An admin tried to remove their own admin role."""

    code = "last_admin_guard"


def roles_after(
    roles: Sequence[str], *, grant: str | None = None, revoke: str | None = None
) -> list[str]:
    """``roles`` with ``grant`` added (once) and ``revoke`` removed, in their order."""
    after = list(roles)
    if grant is not None and grant not in after:
        after.append(grant)
    if revoke is not None and revoke in after:
        after.remove(revoke)
    return after


def check_removal(role: str, user_id: uuid.UUID, admin_id: uuid.UUID) -> None:
    """Refuse an admin removing their own admin role."""
    if role == "admin" and user_id == admin_id:
        raise OwnAdminRole()


def is_specialist(roles: Sequence[str]) -> bool:
    """Whether an account with ``roles`` may have a public profile."""
    return "specialist" in roles

"""Role rules (cabinet.domain.roles), without I/O."""

from __future__ import annotations

import uuid

import pytest
from cabinet.domain.roles import OwnAdminRole, check_removal, is_specialist, roles_after


def test_a_role_is_granted_once_and_removed_if_held() -> None:
    assert roles_after(["client"], grant="specialist") == ["client", "specialist"]
    assert roles_after(["client", "specialist"], grant="specialist") == ["client", "specialist"]
    assert roles_after(["client", "specialist"], revoke="specialist") == ["client"]
    assert roles_after(["client"], revoke="admin") == ["client"]
    held = ["client", "admin"]
    roles_after(held, revoke="admin")
    assert held == ["client", "admin"]  # the account's list is left as it was


def test_an_admin_cannot_remove_their_own_admin_role() -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(OwnAdminRole):
        check_removal("admin", me, me)
    check_removal("admin", other, me)
    check_removal("specialist", me, me)


def test_only_a_specialist_has_a_profile() -> None:
    assert is_specialist(["client", "specialist"])
    assert not is_specialist(["client", "admin"])

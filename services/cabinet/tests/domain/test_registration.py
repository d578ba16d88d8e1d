"""Registration rules (cabinet.domain.registration), without I/O."""

from __future__ import annotations

import pytest
from cabinet.domain.registration import DEFAULT_ROLES, MAX_PASSWORD, MIN_PASSWORD, is_time_zone


@pytest.mark.parametrize("zone", ["Europe/Moscow", "Asia/Yekaterinburg", "UTC", "America/New_York"])
def test_iana_zones_are_known(zone: str) -> None:
    assert is_time_zone(zone)


@pytest.mark.parametrize("zone", ["Mars/Base", "", "europe/moscow", "+03:00", "../etc/passwd"])
def test_anything_else_is_not_a_zone(zone: str) -> None:
    assert not is_time_zone(zone)


def test_a_new_account_is_a_client_with_a_long_enough_password() -> None:
    assert DEFAULT_ROLES == ("client",)
    assert 10 <= MIN_PASSWORD < MAX_PASSWORD <= 256

"""Registration rules: what a valid new account is."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

MIN_PASSWORD = 10
MAX_PASSWORD = 128
DEFAULT_ROLES = ("client",)
_ZONES = frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone this system knows."""
    if name not in _ZONES:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True

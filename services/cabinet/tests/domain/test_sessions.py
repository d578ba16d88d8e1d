"""Session rules (cabinet.domain.sessions), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cabinet.domain.sessions import RefreshState, lifetime_seconds, refresh_expiry, verdict

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def token(**changes: object) -> RefreshState:
    values: dict[str, object] = {
        "expires_at": NOW + 14 * DAY,
        "family_expires_at": NOW + 30 * DAY,
        "used_at": None,
        "revoked_at": None,
    }
    values.update(changes)
    return RefreshState(**values)  # type: ignore[arg-type]


def test_a_fresh_token_is_usable_once() -> None:
    assert verdict(token(), NOW) == "usable"
    assert verdict(token(used_at=NOW - DAY), NOW) == "reused"


def test_an_unknown_revoked_or_expired_token_ends_the_session() -> None:
    assert verdict(None, NOW) == "ended"
    assert verdict(token(revoked_at=NOW - DAY), NOW) == "ended"
    assert verdict(token(expires_at=NOW), NOW) == "ended"
    assert verdict(token(family_expires_at=NOW - timedelta(seconds=1)), NOW) == "ended"
    # a used token of an ended family is just ended, not a theft to react to
    assert verdict(token(used_at=NOW - DAY, revoked_at=NOW - DAY), NOW) == "ended"


def test_a_token_never_outlives_its_family() -> None:
    assert refresh_expiry(NOW, 14 * DAY, NOW + 30 * DAY) == NOW + 14 * DAY
    assert refresh_expiry(NOW, 14 * DAY, NOW + 3 * DAY) == NOW + 3 * DAY


def test_a_lifetime_is_whole_seconds_and_never_negative() -> None:
    assert lifetime_seconds(NOW, NOW + timedelta(seconds=90, milliseconds=900)) == 90
    assert lifetime_seconds(NOW, NOW - DAY) == 0

"""notify.domain.preferences: which channel a message goes on, when quiet hours let it go, and
whether non-essential mail may go at all. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from notify.domain.preferences import (
    DEFAULT_CHANNELS,
    QuietHours,
    channel_order,
    choose_channels,
    may_send_marketing,
    quiet_hours_between,
    send_after_quiet_hours,
)

NIGHT = QuietHours(time(22, 0), time(8, 0))  # spans midnight
LUNCH = QuietHours(time(13, 0), time(14, 0))


def test_quiet_hours_contain_their_start_but_not_their_end() -> None:
    assert LUNCH.contains(time(13, 0)) and LUNCH.contains(time(13, 59))
    assert not LUNCH.contains(time(14, 0)) and not LUNCH.contains(time(12, 59))
    assert NIGHT.contains(time(22, 0)) and NIGHT.contains(time(3, 0))
    assert not NIGHT.contains(time(8, 0)) and not NIGHT.contains(time(12, 0))


def test_empty_quiet_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="same time"):
        QuietHours(time(9, 0), time(9, 0))


def test_stored_quiet_hours_need_both_ends() -> None:
    assert quiet_hours_between(time(22, 0), time(8, 0)) == NIGHT
    assert quiet_hours_between(None, time(8, 0)) is None
    assert quiet_hours_between(time(22, 0), None) is None


def test_outside_quiet_hours_a_message_goes_now() -> None:
    noon = datetime(2030, 3, 15, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
    assert send_after_quiet_hours(noon, NIGHT, "Europe/Moscow") == noon
    assert send_after_quiet_hours(noon, None, "Europe/Moscow") == noon


def test_in_the_evening_a_message_waits_for_the_next_morning_in_the_users_zone() -> None:
    evening = datetime(2030, 3, 15, 20, 0, tzinfo=UTC)  # 23:00 in Moscow
    assert send_after_quiet_hours(evening, NIGHT, "Europe/Moscow") == datetime(
        2030, 3, 16, 5, 0, tzinfo=UTC
    )


def test_after_midnight_a_message_waits_for_the_same_morning() -> None:
    night = datetime(2030, 3, 15, 23, 30, tzinfo=UTC)  # 02:30 on the 16th in Moscow
    assert send_after_quiet_hours(night, NIGHT, "Europe/Moscow") == datetime(
        2030, 3, 16, 5, 0, tzinfo=UTC
    )


def test_a_dst_change_in_the_night_still_ends_at_the_local_time_chosen() -> None:
    # Berlin moves its clocks forward at 02:00 on 31 March 2030: 08:00 is then UTC+2.
    before = datetime(2030, 3, 30, 22, 0, tzinfo=UTC)  # 23:00 in Berlin (UTC+1)
    assert send_after_quiet_hours(before, NIGHT, "Europe/Berlin") == datetime(
        2030, 3, 31, 6, 0, tzinfo=UTC
    )


def test_the_users_order_picks_the_first_reachable_channel() -> None:
    both = ("telegram", "email")
    assert choose_channels(
        category="transactional", allowed=None, preferred=["email", "telegram"], available=both
    ) == ["email"]
    assert choose_channels(
        category="transactional", allowed=None, preferred=["telegram"], available=["email"]
    ) == ["email"]  # Telegram is not reachable: any reachable channel rather than none


def test_a_template_may_allow_only_some_channels() -> None:
    assert choose_channels(
        category="transactional",
        allowed=("email",),
        preferred=["telegram", "email"],
        available=("telegram", "email"),
    ) == ["email"]
    assert (
        choose_channels(
            category="transactional", allowed=("telegram",), preferred=[], available=["email"]
        )
        == []
    )


def test_an_alert_goes_on_every_reachable_channel() -> None:
    assert choose_channels(
        category="alert", allowed=None, preferred=["email"], available=["email", "telegram"]
    ) == ["telegram", "email"]


def test_marketing_needs_consent_and_no_unsubscribe() -> None:
    assert may_send_marketing(consent_granted=True, unsubscribed=False)
    assert not may_send_marketing(consent_granted=True, unsubscribed=True)
    assert not may_send_marketing(consent_granted=False, unsubscribed=False)


def test_a_stored_channel_order_keeps_its_order_and_drops_unknown_names() -> None:
    assert channel_order(None) == list(DEFAULT_CHANNELS)
    assert channel_order(["email", "sms", "telegram"]) == ["email", "telegram"]
    assert channel_order([]) == []

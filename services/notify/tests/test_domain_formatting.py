"""notify.domain.formatting: times and money as a recipient reads them, in their zone and
language. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from notify.domain.formatting import (
    format_deadline,
    format_money,
    format_time,
    format_when,
    language_for,
    utc_offset,
    zone_of,
)

AT = datetime(2026, 1, 14, 11, 0, tzinfo=UTC)  # a Wednesday; 14:00 in Moscow


def test_a_moment_reads_in_the_recipients_zone_and_language() -> None:
    assert format_when(AT, "Europe/Moscow", "ru") == (
        "среда, 14 января 2026, 14:00 (Europe/Moscow, UTC+03:00)"
    )
    assert format_when(AT, "America/New_York", "en") == (
        "Wednesday, 14 January 2026, 06:00 (America/New_York, UTC-05:00)"
    )
    assert format_when(AT, "Asia/Kolkata", "en", with_zone=False) == (
        "Wednesday, 14 January 2026, 16:30"
    )


def test_the_offset_follows_daylight_saving_time() -> None:
    summer = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert format_when(summer, "Europe/Berlin", "en").endswith("12:00 (Europe/Berlin, UTC+02:00)")
    assert format_when(AT, "Europe/Berlin", "en").endswith("12:00 (Europe/Berlin, UTC+01:00)")


def test_an_unknown_zone_reads_as_moscow() -> None:
    assert zone_of("Mars/Olympus_Mons").key == "Europe/Moscow"
    assert zone_of(None).key == "Europe/Moscow"
    assert format_time(AT, "not a zone") == "14:00"


def test_deadlines_and_clock_times() -> None:
    assert format_deadline(AT, "Europe/Moscow", "ru") == (
        "14 января 2026, 14:00 (Europe/Moscow, UTC+03:00)"
    )
    assert format_deadline(AT, "Europe/London", "en") == (
        "14 January 2026, 11:00 (Europe/London, UTC+00:00)"
    )
    assert format_time(AT, "Asia/Tokyo") == "20:00"


def test_offsets_with_minutes_and_behind_utc() -> None:
    assert utc_offset(AT.astimezone(zone_of("Asia/Kathmandu"))) == "UTC+05:45"
    assert utc_offset(AT.astimezone(zone_of("America/St_Johns"))) == "UTC-03:30"


@pytest.mark.parametrize(
    ("kopecks", "currency", "language", "reads"),
    [
        (150000, "RUB", "ru", "1\u00a0500,00\u00a0₽"),
        (150000, "RUB", "en", "RUB 1,500.00"),
        (5, "RUB", "ru", "0,05\u00a0₽"),
        (123456789, "EUR", "ru", "1\u00a0234\u00a0567,89\u00a0EUR"),
        (0, "RUB", "en", "RUB 0.00"),
    ],
)
def test_money_reads_in_the_recipients_language(
    kopecks: int, currency: str, language: str, reads: str
) -> None:
    assert format_money(kopecks, currency, language) == reads


@pytest.mark.parametrize(
    ("account", "telegram", "language"),
    [
        ("en", "ru", "en"),  # the account's language first
        ("ru", "en-GB", "ru"),
        (None, "en-US", "en"),  # else the Telegram client's
        (None, "de", "ru"),  # else Russian
        (None, None, "ru"),
    ],
)
def test_the_language_to_talk_in(account: str | None, telegram: str | None, language: str) -> None:
    assert language_for(account, telegram) == language

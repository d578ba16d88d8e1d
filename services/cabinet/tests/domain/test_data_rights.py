"""The legal deadline of a data-subject request (10 working days, Russian calendar) and the
archive's summary."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cabinet.domain.data_rights import (
    MISSING,
    PartSummary,
    Withheld,
    incomplete_reason,
    is_overdue,
    legal_deadline,
    summary_text,
    working_days_after,
)


def test_ten_working_days_skip_weekends() -> None:
    assert working_days_after(date(2026, 12, 7), 10) == date(2026, 12, 21)


def test_ten_working_days_skip_russian_public_holidays() -> None:
    # 1 May (Fri) and 11 May (Mon, for 9 May on a Saturday) are public holidays in 2026.
    assert working_days_after(date(2026, 4, 30), 10) == date(2026, 5, 18)
    assert legal_deadline(datetime(2026, 4, 30, 15, tzinfo=UTC)) == date(2026, 5, 18)


def test_overdue_only_after_the_deadline_day() -> None:
    assert not is_overdue(date(2026, 5, 18), date(2026, 5, 18))
    assert is_overdue(date(2026, 5, 18), date(2026, 5, 19))


def test_the_summary_speaks_the_users_language_and_names_what_is_missing_and_withheld() -> None:
    parts = [
        PartSummary("cabinet", "fetched", {"diary": 3}),
        PartSummary("content", MISSING, {}),
    ]
    withheld = [Withheld("booking", "outcome_notes", 2, "заметки специалиста", "notes")]
    at = datetime(2026, 12, 5, 12, tzinfo=UTC)
    reason = incomplete_reason(["content"], at, "ru")
    ru = summary_text(
        language="ru",
        user_id="u",
        requested_at=at,
        completed_at=at,
        parts=parts,
        withheld=withheld,
        incomplete_reason=reason,
    )
    assert "архив неполный" in ru and "content" in reason
    assert "diary: 3" in ru and "outcome_notes (2): заметки специалиста" in ru
    en = summary_text(
        language="en",
        user_id="u",
        requested_at=at,
        completed_at=at,
        parts=parts[:1],
        withheld=[],
        incomplete_reason=None,
    )
    assert "Nothing is withheld." in en and "incomplete" not in en

"""The signed add-to-calendar link: short, opaque, bound to one appointment, expiring."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from notify.domain.calendar_links import (
    CalendarLinkExpired,
    UnknownCalendarLink,
    calendar_link_token,
    link_expiry,
    read_calendar_link,
)

KEY = "k" * 32
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_a_token_names_its_appointment_until_it_expires() -> None:
    appointment_id = uuid.uuid4()
    expires = link_expiry(NOW + timedelta(days=3, microseconds=5), 30)
    token = calendar_link_token(appointment_id, expires, KEY)
    assert len(token) == 40 and str(appointment_id) not in token
    link = read_calendar_link(token, KEY, now=NOW)
    assert link.appointment_id == appointment_id and link.expires_at == expires
    with pytest.raises(CalendarLinkExpired):
        read_calendar_link(token, KEY, now=expires)


@pytest.mark.parametrize("change", range(0, 40, 3))
def test_any_change_or_another_key_is_not_ours(change: int) -> None:
    token = calendar_link_token(uuid.uuid4(), NOW + timedelta(days=1), KEY)
    other = "A" if token[change] != "A" else "B"
    with pytest.raises(UnknownCalendarLink):
        read_calendar_link(token[:change] + other + token[change + 1 :], KEY, now=NOW)
    with pytest.raises(UnknownCalendarLink):
        read_calendar_link(token, "z" * 32, now=NOW)


@pytest.mark.parametrize("token", ["", "!!!", "a" * 39, "a" * 41, "é" * 40])
def test_garbage_is_not_ours(token: str) -> None:
    with pytest.raises(UnknownCalendarLink):
        read_calendar_link(token, KEY, now=NOW)

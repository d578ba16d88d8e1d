"""The cursor of the one keyset pagination: aware times and calendar dates round-trip; a time
without its offset, or anything this API did not give out, is a 422 ``invalid_cursor``."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from servicekit.http.pagination import decode_cursor, encode_cursor
from servicekit.http.problems import Problem

ID = uuid.UUID(int=7)


@pytest.mark.parametrize("at", [datetime(2026, 5, 1, 9, 30, tzinfo=UTC), date(2026, 5, 1)])
def test_a_cursor_round_trips(at: datetime | date) -> None:
    assert decode_cursor(encode_cursor(at, ID)) == (at, ID)


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(["2026-05-01T09:30:00", str(ID)]),  # naive: compared as local time otherwise
        json.dumps(["not a time", str(ID)]),
        json.dumps(["2026-05-01T09:30:00+00:00"]),
        "{}",
        "[[[[[[[[",
    ],
)
def test_a_cursor_not_given_out_is_refused(raw: str) -> None:
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    with pytest.raises(Problem) as refused:
        decode_cursor(cursor)
    assert (refused.value.status, refused.value.code) == (422, "invalid_cursor")

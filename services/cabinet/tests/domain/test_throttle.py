"""Throttling rules (cabinet.domain.throttle), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cabinet.domain.throttle import (
    ACCOUNT_POLICY,
    ADDRESS_POLICY,
    ATTEMPT_NOTICE_POLICY,
    ThrottlePolicy,
    ThrottleState,
    TooManyAttempts,
    allowance,
    ensure_unlocked,
    first_use,
    longest_wait,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def failures(
    policy: ThrottlePolicy, n: int, *, every: timedelta = timedelta(seconds=1)
) -> ThrottleState:
    state = first_use(policy, T0)
    for i in range(1, n):
        state = state.after_failure(policy, T0 + i * every)
    return state


def test_an_account_locks_after_its_sixth_failure_and_the_lock_doubles() -> None:
    assert failures(ACCOUNT_POLICY, 5).locked_until is None
    sixth = failures(ACCOUNT_POLICY, 6)
    assert sixth.locked_until == T0 + timedelta(seconds=5) + timedelta(seconds=30)
    seventh = sixth.after_failure(ACCOUNT_POLICY, T0 + timedelta(seconds=6))
    assert seventh.locked_until == T0 + timedelta(seconds=6) + timedelta(seconds=60)


def test_a_lock_never_exceeds_its_cap() -> None:
    assert ACCOUNT_POLICY.lock_after(100) == ACCOUNT_POLICY.max_lock
    assert ACCOUNT_POLICY.lock_after(10_000) == timedelta(minutes=15)


def test_an_address_is_allowed_twenty_failures() -> None:
    assert failures(ADDRESS_POLICY, 20).locked_until is None
    assert failures(ADDRESS_POLICY, 21).locked_until is not None


def test_a_new_window_starts_the_count_again() -> None:
    state = failures(ACCOUNT_POLICY, 5)
    later = T0 + ACCOUNT_POLICY.window + timedelta(minutes=1)
    again = state.after_failure(ACCOUNT_POLICY, later)
    assert (again.failures, again.window_started_at, again.locked_until) == (1, later, None)


def test_an_allowance_locks_for_a_whole_window_at_its_last_use() -> None:
    hourly = allowance(3, timedelta(hours=1))
    assert failures(hourly, 2).locked_until is None
    third = failures(hourly, 3)
    assert third.locked_until == T0 + timedelta(seconds=2) + timedelta(hours=1)
    assert failures(ATTEMPT_NOTICE_POLICY, 2).locked_until is not None


def test_retry_after_rounds_up_and_ends_with_the_lock() -> None:
    state = ThrottleState(6, T0, T0 + timedelta(seconds=30))
    assert state.retry_after(T0) == 30
    assert state.retry_after(T0 + timedelta(seconds=29, milliseconds=500)) == 1
    assert state.retry_after(T0 + timedelta(seconds=30)) is None
    assert ThrottleState(1, T0, None).retry_after(T0) is None


def test_the_longest_lock_of_a_request_decides() -> None:
    short = ThrottleState(6, T0, T0 + timedelta(seconds=30))
    long = ThrottleState(21, T0, T0 + timedelta(minutes=2))
    assert longest_wait([None, short, long, ThrottleState(1, T0, None)], T0) == 120
    assert longest_wait([None, ThrottleState(1, T0, None)], T0) is None
    with pytest.raises(TooManyAttempts) as refused:
        ensure_unlocked([short, long], T0)
    assert (refused.value.retry_after, refused.value.code) == (120, "too_many_attempts")
    ensure_unlocked([short], T0 + timedelta(minutes=1))  # over: no refusal

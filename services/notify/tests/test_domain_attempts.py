"""notify.domain.attempts: after one attempt, a delivery is sent, tried again later, or given up;
after a crash, only alerts and edits are sent again. Pure: no I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest
from notify.domain.attempts import (
    FINAL_STATUSES,
    Next,
    Permanent,
    RetryPolicy,
    Sent,
    Transient,
    after_attempt,
    resend_after_crash,
)

POLICY = RetryPolicy(max_attempts=4, first=timedelta(seconds=30), cap=timedelta(minutes=3))


def test_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    waits = [POLICY.delay(n) for n in range(1, 6)]
    assert waits == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(minutes=3),
        timedelta(minutes=3),
    ]
    assert POLICY.delay(10_000) == timedelta(minutes=3)  # no overflow however many attempts


def test_a_sent_message_is_sent_whatever_the_attempt() -> None:
    assert after_attempt(Sent("m-1"), 4, POLICY) == Next("sent")


def test_a_permanent_failure_fails_at_once_and_is_not_a_give_up() -> None:
    decided = after_attempt(Permanent("smtp 550"), 1, POLICY)
    assert decided == Next("failed") and not decided.give_up


def test_a_transient_failure_is_retried_with_backoff_until_the_attempts_run_out() -> None:
    assert after_attempt(Transient("smtp 451"), 1, POLICY) == Next(
        "retrying", retry_in=timedelta(seconds=30)
    )
    assert after_attempt(Transient("smtp 451"), 3, POLICY) == Next(
        "retrying", retry_in=timedelta(seconds=120)
    )
    assert after_attempt(Transient("smtp 451"), 4, POLICY) == Next("failed", give_up=True)


def test_the_providers_retry_after_wins_over_backoff() -> None:
    told = Transient("telegram 429", retry_after=timedelta(seconds=7))
    assert after_attempt(told, 2, POLICY).retry_in == timedelta(seconds=7)


@pytest.mark.parametrize(
    ("category", "is_edit", "again"),
    [
        ("alert", False, True),  # at least once: a missed crisis is the greater harm
        ("transactional", True, True),  # the same text on the same message changes nothing
        ("transactional", False, False),  # at most once: a person notices a repeat
        ("marketing", False, False),
        ("marketing", True, True),
    ],
)
def test_after_a_crash_only_alerts_and_edits_are_sent_again(
    category: str, is_edit: bool, again: bool
) -> None:
    assert resend_after_crash(category, is_edit=is_edit) is again


def test_final_statuses_are_the_ones_nothing_moves_on_from() -> None:
    assert {"sent", "failed", "skipped", "unconfirmed"} == FINAL_STATUSES
    assert not {"pending", "sending", "retrying"} & FINAL_STATUSES

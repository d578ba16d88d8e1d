"""Every refusal booking's use cases can raise is mapped once: to problem+json for HTTP
(``booking.api.errors.PROBLEMS``) and, for those a Telegram tap can meet, to the rejection
reason notify shows (``booking.entrypoints.consumers.REJECTIONS``). No I/O."""

from __future__ import annotations

import typing
import uuid
from typing import Any

import pytest
from booking.api.errors import PROBLEMS
from booking.application import actions
from booking.domain.appointments import Action, InvalidTransition, Status
from booking.domain.catalog import DurationNotOffered
from booking.domain.people import ForeignService, UnknownServices
from booking.domain.slots import DayFull, NoticeTooShort
from booking.entrypoints.consumers import REJECTIONS, Rejection
from servicekit.errors import DomainError, domain_errors_of
from servicekit.http.i18n import Msg
from servicekit.http.problem_audit import RaiseFinder

ERRORS = domain_errors_of("booking")

#: Errors whose text needs what they carry: one example each.
EXAMPLES: dict[type[DomainError], DomainError] = {
    InvalidTransition: InvalidTransition(Action.CANCEL, Status.CANCELLED),
    UnknownServices: UnknownServices([uuid.uuid4()]),
    ForeignService: ForeignService([uuid.uuid4()]),
}


def example(error: type[DomainError]) -> DomainError:
    if issubclass(error, DurationNotOffered):
        return error([50, 80])
    return EXAMPLES.get(error) or error()


def test_booking_defines_domain_errors_in_its_domain_and_application_only() -> None:
    assert len(ERRORS) > 30
    for error in ERRORS:
        assert error.__module__.startswith(("booking.domain.", "booking.application.")), error


def test_every_domain_error_reads_as_a_problem() -> None:
    assert PROBLEMS.missing(ERRORS) == []


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: e.__qualname__)
def test_each_problem_keeps_the_errors_code_and_speaks_both_languages(
    error: type[DomainError],
) -> None:
    problem = PROBLEMS.problem(example(error))
    assert problem is not None
    assert problem.code == error.code
    assert isinstance(problem.detail, Msg) and isinstance(problem.title, Msg)
    for language in ("ru", "en"):
        body = problem.body(language)
        assert body["detail"] and body["title"]
        for entry in body.get("errors", []):
            assert isinstance(entry["msg"], str) and entry["loc"][0] in ("body", "query", "header")


def test_a_refused_tap_meets_only_refusals_with_a_reason_notify_knows() -> None:
    """What :func:`booking.application.actions.perform` (the Telegram use case) can raise, read
    from its code as the OpenAPI audit reads a route's, is in the consumer's table."""
    met = {
        r.problem
        for r in RaiseFinder({"booking"}, PROBLEMS).raises(actions.perform)
        if r.problem is not None and issubclass(r.problem, DomainError)
    }
    # The reading works: refusals from the tap itself, the booking and the slot rules.
    assert {actions.AlreadyDone, InvalidTransition, NoticeTooShort, DayFull} <= met
    assert REJECTIONS.missing(sorted(met, key=lambda e: e.__qualname__)) == []
    reasons: set[Any] = {REJECTIONS.get(e) for e in met}
    assert reasons <= set(typing.get_args(Rejection))

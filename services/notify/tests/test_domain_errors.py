"""Every refusal notify's rules and use cases raise is mapped once: to problem+json for HTTP
(``notify.api.errors.PROBLEMS``), and, for what a consumer could meet, to what the consumer does
with it. Today no consumer's use case refuses an event, so there is no consumer table: the last
test says so by reading their code, and fails (naming the line) when one starts to."""

from __future__ import annotations

from notify.api.errors import PROBLEMS
from notify.entrypoints.consumers import QUEUES
from servicekit.errors import DomainError, domain_errors_of
from servicekit.http.problem_audit import RaiseFinder


def test_every_domain_error_of_notify_is_mapped_to_a_problem() -> None:
    errors = domain_errors_of("notify")
    assert len(errors) >= 9, errors  # the deep-link, linking, look-up and unsubscribe refusals
    assert PROBLEMS.missing(errors) == []


def test_no_consumer_use_case_refuses_an_event() -> None:
    finder = RaiseFinder(["notify"], PROBLEMS)
    refusals = [
        f"{use_case.__module__}.{use_case.__qualname__}: {found.where}"
        for _, handled in QUEUES
        for _, use_case in handled
        for found in finder.raises(use_case)
        if isinstance(found.problem, type) and issubclass(found.problem, DomainError)
    ]
    assert refusals == [], "map them in an ErrorTable beside the consumers: " + "; ".join(refusals)

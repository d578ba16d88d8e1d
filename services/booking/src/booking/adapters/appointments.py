"""Queries over appointments that the domain's slot rules need."""

from __future__ import annotations

#: SQLSTATE of an exclusion-constraint violation.
EXCLUSION_VIOLATION = "23P01"


def _has_sqlstate(exc: BaseException, *states: str) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "sqlstate", None) in states:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def is_exclusion_violation(exc: BaseException) -> bool:
    """True when a database error is the no-overlap constraint refusing a row."""
    return _has_sqlstate(exc, EXCLUSION_VIOLATION)


def is_contention_abort(exc: BaseException) -> bool:
    """True when PostgreSQL aborted the insert because concurrent inserts of overlapping
    ranges waited on each other (deadlock, 40P01): the slot is contested, one of them wins."""
    return _has_sqlstate(exc, "40P01")

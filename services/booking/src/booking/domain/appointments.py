"""The appointment lifecycle.

``held → confirmed → completed | no_show``, ``held → expired``, ``held | confirmed → cancelled``;
a reschedule moves a confirmed appointment (it stays confirmed, its count rises). Statuses that
occupy the specialist's time are the ones the database's exclusion constraint covers.
"""

from __future__ import annotations

from enum import StrEnum

from servicekit.errors import DomainError


class Status(StrEnum):
    """Where an appointment is in its life."""

    HELD = "held"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


#: Statuses whose time nobody else may book (kept in step with the exclusion constraint).
OCCUPYING: frozenset[Status] = frozenset(
    {Status.HELD, Status.CONFIRMED, Status.COMPLETED, Status.NO_SHOW}
)


class Action(StrEnum):
    """What can happen to an appointment."""

    CONFIRM = "confirm"
    EXPIRE = "expire"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"
    COMPLETE = "complete"
    MARK_NO_SHOW = "no_show"
    CONFIRM_ATTENDANCE = "confirm_attendance"


_ALLOWED: dict[Action, frozenset[Status]] = {
    Action.CONFIRM: frozenset({Status.HELD}),
    Action.EXPIRE: frozenset({Status.HELD}),
    Action.CANCEL: frozenset({Status.HELD, Status.CONFIRMED}),
    Action.RESCHEDULE: frozenset({Status.CONFIRMED}),
    Action.COMPLETE: frozenset({Status.CONFIRMED}),
    Action.MARK_NO_SHOW: frozenset({Status.CONFIRMED}),
    Action.CONFIRM_ATTENDANCE: frozenset({Status.CONFIRMED}),
}


class InvalidTransition(DomainError):
    """The appointment's status does not allow the action."""

    code = "invalid_transition"

    def __init__(self, action: Action, status: Status) -> None:
        super().__init__(f"cannot {action.value} an appointment that is {status.value}")
        self.action = action
        self.status = status


def ensure_allowed(action: Action, status: Status | str) -> None:
    """Raise :class:`InvalidTransition` unless ``action`` may happen in ``status``."""
    current = Status(status)
    if current not in _ALLOWED[action]:
        raise InvalidTransition(action, current)


#: Statuses of an appointment that make it a session the client has (or had) with the
#: specialist: a client owes an intake form before their first session with a specialist, that
#: is while no other appointment of theirs with the specialist is in one of these (and they
#: have given the specialist no form yet). The one rule behind ``intake_required`` in
#: ``booking.adapters.intake``.
SESSIONS: frozenset[Status] = frozenset({Status.CONFIRMED, Status.COMPLETED, Status.NO_SHOW})

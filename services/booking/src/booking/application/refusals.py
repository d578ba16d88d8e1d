"""What a client reads when an appointment's status does not allow an action (409).

The domain's :class:`~booking.domain.appointments.InvalidTransition` names the action and the
status; here are their Russian words (the English is the domain's own message).
"""

from __future__ import annotations

from servicekit.http.problems import Msg

from booking.domain.appointments import Action, InvalidTransition, Status

#: "Запись <status>: <action> нельзя."
ACTION_RU: dict[Action, str] = {
    Action.CONFIRM: "подтвердить её",
    Action.EXPIRE: "снять бронь",
    Action.CANCEL: "отменить её",
    Action.RESCHEDULE: "перенести её",
    Action.COMPLETE: "отметить сессию как состоявшуюся",
    Action.MARK_NO_SHOW: "отметить неявку",
    Action.CONFIRM_ATTENDANCE: "подтвердить участие",
}

STATUS_RU: dict[Status, str] = {
    Status.HELD: "ожидает оплаты",
    Status.CONFIRMED: "подтверждена",
    Status.COMPLETED: "завершена",
    Status.NO_SHOW: "отмечена как неявка",
    Status.EXPIRED: "не была оплачена вовремя",
    Status.CANCELLED: "отменена",
}


def transition_refused_text(exc: InvalidTransition) -> Msg:
    """Why the action cannot happen now, in both languages."""
    return Msg(
        ru=f"Запись {STATUS_RU[exc.status]}: {ACTION_RU[exc.action]} нельзя.",
        en=str(exc),
    )

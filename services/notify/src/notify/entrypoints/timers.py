"""notify's timer handlers: ``deliver`` (send one message), ``reminder`` (plan it, with every
other reminder due now) and ``crisis_deadline`` (a crisis alert still unsent escalates)."""

from __future__ import annotations

import uuid

from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, TimerHandler

from notify.adapters.crisis import DEADLINE
from notify.adapters.deliveries import DELIVER
from notify.application import crisis
from notify.application.appointments import REMINDER, remind_due
from notify.application.ports import NotifyPorts
from notify.application.sending import KeptOutcomes, send_due_delivery


def build_timers(notify: NotifyPorts, kept: KeptOutcomes) -> dict[str, TimerHandler]:
    """Timer handlers bound to ``notify`` (and the runtime's kept provider answers)."""

    async def deliver(uow: UnitOfWork, timer: Timer) -> None:
        delivery_id = uuid.UUID(str(timer.payload["delivery_id"]))
        await send_due_delivery(uow, notify, kept, delivery_id=delivery_id, timer_id=timer.id)

    async def reminder(uow: UnitOfWork, timer: Timer) -> None:
        # with every other reminder due now: a busy minute is planned in bulk
        await remind_due(uow, notify, timer_id=timer.id, payload=timer.payload)

    async def crisis_deadline(uow: UnitOfWork, timer: Timer) -> None:
        await crisis.deadline_passed(uow, notify, uuid.UUID(str(timer.payload["run_id"])))

    return {DELIVER: deliver, REMINDER: reminder, DEADLINE: crisis_deadline}

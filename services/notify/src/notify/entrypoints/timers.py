"""notify's timer handlers: ``deliver`` (send one message) and ``reminder`` (plan one)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Timer, TimerHandler

from notify.adapters.deliveries import DELIVER, plan_notice
from notify.adapters.tables import AppointmentCopy
from notify.context import NotifyContext
from notify.domain import rules
from notify.entrypoints.consumers import REMINDER
from notify.entrypoints.sending import DeliverySender


def build_timers(ctx: NotifyContext) -> dict[str, TimerHandler]:
    """Timer handlers bound to ``ctx``."""

    async def remind(uow: UnitOfWork, timer: Timer) -> None:
        """A reminder is due: plan it, unless the appointment is no longer confirmed, is over, or
        a closer reminder is due as well (after an outage, one reminder rather than two)."""
        appointment_id = uuid.UUID(str(timer.payload["appointment_id"]))
        minutes = int(timer.payload["minutes_before"])
        copy = await uow.session.get(AppointmentCopy, appointment_id)
        now = ctx.clock()
        if copy is None or copy.status != "confirmed" or copy.starts_at <= now:
            return
        closer = [m for m in ctx.settings.reminder_offsets_minutes if m < minutes]
        if any(copy.starts_at - timedelta(minutes=m) <= now for m in closer):
            return
        notice = rules.reminder(json.loads(copy.facts), minutes_before=minutes)
        await plan_notice(uow, ctx, notice)

    return {DELIVER: DeliverySender(ctx), REMINDER: remind}

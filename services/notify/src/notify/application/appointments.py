"""What booking tells notify of appointments: the client's messages, the reminders before a
confirmed appointment, the edits of earlier Telegram messages, the specialist's intake notice.

notify keeps its own copy of each appointment (``appointments``), enough for reminders and for
what later messages say (what was paid).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Final

from contracts.booking.v1 import (
    AppointmentAttendanceConfirmedV1,
    AppointmentCancelledV1,
    AppointmentCompletedV1,
    AppointmentConfirmedV1,
    AppointmentExpiredV1,
    AppointmentFacts,
    AppointmentHeldV1,
    AppointmentNoShowV1,
    AppointmentRescheduledV1,
    CalendarEventChangedV1,
    CalendarSyncFailedV1,
    IntakeSubmittedV1,
)
from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import Due

from notify.adapters.deliveries import claim_due, mark_timers_fired
from notify.adapters.people import appointment_clients
from notify.adapters.tables import AppointmentCopy, Recipient
from notify.application.batch import (
    appointment_copy,
    cancel_timers,
    copy_added,
    planning_together,
    schedule_timer,
)
from notify.application.calendar import reschedule_count_of, with_invitation
from notify.application.planning import plan_edits, plan_notice, skip_pending
from notify.application.ports import NotifyPorts
from notify.domain import rules
from notify.domain.reminders import (
    REMINDER_TEMPLATE,
    reminder_key,
    reminder_still_due,
    reminder_times,
)

REMINDER = "reminder"  # the timer kind

_STATUS: Final[Mapping[type[AppointmentFacts], str]] = {
    AppointmentHeldV1: "held",
    AppointmentConfirmedV1: "confirmed",
    AppointmentRescheduledV1: "confirmed",
    AppointmentAttendanceConfirmedV1: "confirmed",
    AppointmentCancelledV1: "cancelled",
    AppointmentExpiredV1: "expired",
    AppointmentCompletedV1: "completed",
    AppointmentNoShowV1: "no_show",
}


def _facts(p: AppointmentFacts) -> dict[str, Any]:
    return AppointmentFacts.model_validate(p.model_dump()).model_dump(mode="json")


def paid_of(copy: AppointmentCopy | None) -> dict[str, Any] | None:
    """What the client paid for an appointment, as far as notify saw (its confirmation)."""
    if copy is None:
        return None
    paid: dict[str, Any] | None = json.loads(copy.facts).get("amount_paid")
    return paid


async def _keep_appointment(uow: UnitOfWork, event: EventEnvelope[Any]) -> bool:
    """Update the appointments copy; ``False`` when a newer state is already known."""
    p = event.payload
    copy = await appointment_copy(uow.session, p.appointment_id)
    if copy is not None and copy.updated_at > event.occurred_at:
        return False
    if copy is None:
        copy = AppointmentCopy(
            appointment_id=p.appointment_id,
            client_id=p.client_id,
            specialist_id=p.specialist_id,
            status="",
            starts_at=p.starts_at,
            facts="{}",
            updated_at=event.occurred_at,
        )
        copy_added(copy)
    facts = _facts(p)
    # What was paid is told once, by the confirmation; later states keep it (a no-show names it).
    paid = getattr(p, "amount_paid", None)
    facts["amount_paid"] = paid.model_dump(mode="json") if paid is not None else paid_of(copy)
    # The calendar's SEQUENCE: booking's count, kept by the events that carry none (never lower).
    told = getattr(p, "reschedule_count", None)
    facts["reschedule_count"] = max(told or 0, reschedule_count_of(copy))
    copy.status = _STATUS[type(p)]
    copy.starts_at = p.starts_at
    copy.specialist_id = p.specialist_id
    copy.facts = json.dumps(facts, ensure_ascii=False)
    copy.updated_at = event.occurred_at
    uow.session.add(copy)
    return True


async def _schedule_reminders(uow: UnitOfWork, notify: NotifyPorts, p: AppointmentFacts) -> None:
    """Reminders before a confirmed appointment (moved when it moves; past ones dropped)."""
    offsets = notify.settings.reminder_offsets_minutes
    past = []
    for minutes, due in reminder_times(p.starts_at, offsets, notify.clock()):
        key = reminder_key(p.appointment_id, minutes)
        if due is not None:
            payload = {"appointment_id": str(p.appointment_id), "minutes_before": minutes}
            await schedule_timer(uow.session, Due(REMINDER, key, due, payload))
        else:
            past.append(key)
    if past:
        await cancel_timers(uow.session, REMINDER, past)


async def _drop_reminders(uow: UnitOfWork, notify: NotifyPorts, appointment_id: uuid.UUID) -> None:
    """No reminder of this appointment will fire, and none still queued will go out."""
    offsets = notify.settings.reminder_offsets_minutes
    await cancel_timers(uow.session, REMINDER, [reminder_key(appointment_id, m) for m in offsets])
    await skip_pending(
        uow,
        notify,
        ref=rules.appointment_ref(appointment_id),
        templates=[REMINDER_TEMPLATE],
        reason="appointment_not_confirmed",
    )


async def held(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AppointmentHeldV1]
) -> None:
    """Payment link to the client; an accepted waitlist offer's message says so."""
    await _keep_appointment(uow, event)
    notice, edits = rules.appointment_held(event.payload)
    await plan_notice(uow, notify, notice, source=event)
    for edit in edits:
        await plan_edits(uow, notify, edit, source=event)


async def confirmed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AppointmentConfirmedV1]
) -> None:
    """Confirmation (with the calendar invitation), and the reminders."""
    p = event.payload
    if await _keep_appointment(uow, event):
        await _schedule_reminders(uow, notify, p)
    notice = with_invitation(
        notify,
        rules.appointment_confirmed(p),
        method="REQUEST",
        reschedule_count=p.reschedule_count,
        recipient=await uow.session.get(Recipient, p.client_id),
    )
    await plan_notice(uow, notify, notice, source=event)


async def rescheduled(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AppointmentRescheduledV1]
) -> None:
    """Old and new time; the reminders move with it."""
    if await _keep_appointment(uow, event):
        await skip_pending(
            uow,
            notify,
            ref=rules.appointment_ref(event.payload.appointment_id),
            templates=[REMINDER_TEMPLATE],
            reason="appointment_rescheduled",
        )
        await _schedule_reminders(uow, notify, event.payload)
    p = event.payload
    notice = with_invitation(
        notify,
        rules.appointment_rescheduled(p),
        method="REQUEST",
        reschedule_count=p.reschedule_count,
        recipient=await uow.session.get(Recipient, p.client_id),
    )
    await plan_notice(uow, notify, notice, source=event)


async def cancelled(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AppointmentCancelledV1]
) -> None:
    """Cancellation with the refund (and ``METHOD:CANCEL`` for an invitation sent before);
    reminders dropped; buttons on earlier messages retired."""
    p = event.payload
    await _keep_appointment(uow, event)
    await _drop_reminders(uow, notify, p.appointment_id)
    notice, edit = rules.appointment_cancelled(p)
    if p.previous_status == "confirmed":  # a hold never had an invitation to withdraw
        copy = await uow.session.get(AppointmentCopy, p.appointment_id)
        notice = with_invitation(
            notify,
            notice,
            method="CANCEL",
            reschedule_count=reschedule_count_of(copy),
            recipient=None,
        )
    await plan_edits(uow, notify, edit, source=event)
    await plan_notice(uow, notify, notice, source=event)


async def expired(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AppointmentExpiredV1]
) -> None:
    """The unpaid hold ran out."""
    await _keep_appointment(uow, event)
    await _drop_reminders(uow, notify, event.payload.appointment_id)
    notice, edit = rules.appointment_expired(event.payload)
    await plan_edits(uow, notify, edit, source=event)
    await plan_notice(uow, notify, notice, source=event)


async def attendance_confirmed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AppointmentAttendanceConfirmedV1]
) -> None:
    """The reminder the client answered now says "confirmed"."""
    await _keep_appointment(uow, event)
    await plan_edits(uow, notify, rules.attendance_confirmed(event.payload), source=event)


async def completed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AppointmentCompletedV1]
) -> None:
    """Held: nothing more to remind of; the client gets a short follow-up."""
    fresh = await _keep_appointment(uow, event)
    await _drop_reminders(uow, notify, event.payload.appointment_id)
    if fresh:
        await plan_notice(uow, notify, rules.appointment_completed(event.payload), source=event)


async def no_show(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AppointmentNoShowV1]
) -> None:
    """Marked as a no-show: nothing more to remind of; the client is told the policy."""
    p = event.payload
    fresh = await _keep_appointment(uow, event)
    await _drop_reminders(uow, notify, p.appointment_id)
    if fresh:
        copy = await uow.session.get(AppointmentCopy, p.appointment_id)
        notice = rules.appointment_no_show(p, amount_paid=paid_of(copy))
        await plan_notice(uow, notify, notice, source=event)


async def intake_submitted(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[IntakeSubmittedV1]
) -> None:
    """The specialist learns a client's intake form is waiting (and before which session)."""
    p = event.payload
    client = await uow.session.get(Recipient, p.client_id)
    copy = None
    if p.appointment_id is not None:
        copy = await uow.session.get(AppointmentCopy, p.appointment_id)
    notice = rules.intake_submitted(
        p,
        client_name=client.name if client else None,
        starts_at=copy.starts_at.isoformat() if copy else None,
    )
    await plan_notice(uow, notify, notice, source=event)


async def _plan_reminder(
    uow: UnitOfWork, notify: NotifyPorts, copy: AppointmentCopy | None, minutes_before: int
) -> None:
    """Plan one due reminder, unless the appointment is no longer confirmed, is over, or a
    closer reminder is due as well (after an outage, one reminder rather than two)."""
    if copy is None or not reminder_still_due(
        status=copy.status,
        starts_at=copy.starts_at,
        minutes_before=minutes_before,
        offsets=notify.settings.reminder_offsets_minutes,
        now=notify.clock(),
    ):
        return
    notice = rules.reminder(json.loads(copy.facts), minutes_before=minutes_before)
    await plan_notice(uow, notify, notice)


REMINDERS_TOGETHER = 100  # due reminders planned in one transaction at most


async def remind_due(
    uow: UnitOfWork, notify: NotifyPorts, *, timer_id: int, payload: Mapping[str, Any]
) -> None:
    """The reminder timer ``timer_id`` fires: plan it and every other reminder due now that no
    other worker holds (up to :data:`REMINDERS_TOGETHER`), in this one transaction: a minute
    with hundreds of reminders due is planned in a few statements per hundred, not a few per
    reminder (the timer worker marks ``timer_id`` fired, this marks the others).

    The copies are read under a share lock: a cancellation being written (it locks the copy for
    update first) is waited for and seen; one that comes after finds the reminder's delivery
    committed and skips it (:func:`_drop_reminders`), and the send re-reads the copy too
    (:mod:`notify.application.sending`)."""
    session = uow.session
    now = notify.clock()
    others = await claim_due(
        session, kind=REMINDER, now=now, limit=REMINDERS_TOGETHER - 1, besides=timer_id
    )
    due = [(payload, None), *((p, i) for i, p in others)]
    wanted = [uuid.UUID(str(p["appointment_id"])) for p, _ in due]
    clients = await appointment_clients(session, wanted)
    async with planning_together(session, people=clients, appointments=wanted, share=True) as batch:
        for (p, _), appointment_id in zip(due, wanted, strict=True):
            copy = batch.copies.get(appointment_id)
            await _plan_reminder(uow, notify, copy, int(p["minutes_before"]))
    await mark_timers_fired(session, [i for _, i in due if i is not None], now)


async def calendar_event_changed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[CalendarEventChangedV1]
) -> None:
    """The specialist changed an appointment's event in Google Calendar: ask them what to do."""
    await plan_notice(uow, notify, rules.calendar_event_changed(event.payload), source=event)


async def calendar_sync_failed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[CalendarSyncFailedV1]
) -> None:
    """booking can no longer reach the specialist's Google Calendar: tell them."""
    await plan_notice(uow, notify, rules.calendar_sync_failed(event.payload), source=event)

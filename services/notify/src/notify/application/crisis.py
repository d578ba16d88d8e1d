"""The crisis path (docs/notify.md, "Crisis alerts").

A questionnaire run completed with a crisis flag alerts, at once and on every channel (Telegram
**and** email), whoever :func:`notify.domain.crisis.crisis_recipients` names. Each alert is
recorded per recipient and channel in ``crisis_alerts`` (the audit admins read), and its row
follows the delivery: ``sent``, or ``failed`` with the provider's error. An alert that cannot be
delivered escalates to the admins (and the configured admin address): at once when it fails for
good or cannot go at all (a chat that blocked the bot, no channel), and when it is still unsent
``crisis_escalate_after_seconds`` after it was planned (its retries go on). A run is alerted
about once, whatever redelivers it (``crisis_runs``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from contracts.content.v1 import InteractiveRunCompletedV1
from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import schedule

from notify.adapters import crisis as audit
from notify.adapters.crisis import DEADLINE, AlertFilter
from notify.adapters.deliveries import dump_context
from notify.adapters.people import admin_ids, appointments_of_client, reach_of
from notify.adapters.tables import CrisisAlert, CrisisRun, Delivery, Recipient
from notify.application.planning import add_delivery, plan_notice
from notify.application.ports import NotifyPorts
from notify.domain import rules
from notify.domain.crisis import (
    TELEGRAM_NOT_LINKED,
    TELEGRAM_UNREACHABLE,
    CrisisRecipients,
    OnDutyContact,
    crisis_recipients,
    escalates,
    escalation_recipients,
    needs_admins,
)
from notify.domain.rules import Notice

logger = logging.getLogger("notify.crisis")

ALERT_TEMPLATE = "crisis_alert"
ESCALATION_TEMPLATE = "crisis_escalation"
AUDITED_TEMPLATES = frozenset({ALERT_TEMPLATE, ESCALATION_TEMPLATE})


def run_url(notify: NotifyPorts, run_id: uuid.UUID) -> str:
    """Where the run is read (content's API on the public origin; the specialist reads it with
    the client's consent)."""
    return notify.settings.public_url(f"/api/content/runs/{run_id}")


def audit_url(notify: NotifyPorts, run_id: uuid.UUID) -> str:
    """The crisis audit of one run (admins)."""
    return notify.settings.public_url(f"/api/notify/crisis-alerts?run_id={run_id}")


def on_duty_contact(notify: NotifyPorts) -> OnDutyContact:
    """The practice's on-duty contact, from the settings."""
    settings = notify.settings
    return OnDutyContact(
        email=settings.crisis_on_duty_email or None,
        telegram_chat_id=settings.crisis_on_duty_telegram_chat_id,
    )


async def alert(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[InteractiveRunCompletedV1]
) -> None:
    """A crisis answer: plan the alerts (every channel, at once), record them for audit,
    escalate what cannot go; nothing when this run was alerted about already."""
    p = event.payload
    session = uow.session
    now = notify.clock()
    appointments = await appointments_of_client(session, p.user_id)
    on_duty = on_duty_contact(notify)
    assigned_by = p.assigned_by_specialist_id
    admins = (
        await admin_ids(session)
        if needs_admins(
            assigned_by=assigned_by, appointments=appointments, now=now, on_duty=on_duty
        )
        else []
    )
    told = crisis_recipients(
        assigned_by=assigned_by,
        appointments=appointments,
        now=now,
        on_duty=on_duty,
        admins=admins,
        admin_address=notify.settings.admin_alert_email,
    )
    run = CrisisRun(
        run_id=p.run_id,
        client_id=p.user_id,
        questionnaire_code=p.questionnaire_code,
        completed_at=p.completed_at,
        received_at=now,
        route=told.route,
        source_event_id=event.event_id,
    )
    if not await audit.claim_run(session, run):
        logger.info("crisis run alerted about already", extra={"run_id": str(p.run_id)})
        return
    client = await session.get(Recipient, p.user_id)
    rows = await _tell(
        uow,
        notify,
        told,
        run=run,
        kind="alert",
        notice_for=lambda user_id: _alert_notice(notify, p, user_id, client),
        source=event,
    )
    logger.warning(
        "crisis alert planned",
        extra={"run_id": str(p.run_id), "route": told.route, "rows": len(rows)},
    )
    for row in rows:
        if row.status != "pending" and escalates("alert", told.route, row.status, row.error):
            await _escalate(uow, notify, row, reason=row.error or "failed")
    if any(row.status == "pending" for row in rows):
        await schedule(
            session,
            kind=DEADLINE,
            key=str(p.run_id),
            due_at=now + timedelta(seconds=notify.settings.crisis_escalate_after_seconds),
            payload={"run_id": str(p.run_id)},
        )


def _alert_notice(
    notify: NotifyPorts,
    p: InteractiveRunCompletedV1,
    user_id: uuid.UUID | None,
    client: Recipient | None,
) -> Notice:
    notice = rules.crisis_alert(
        p,
        recipient_id=user_id,
        client_name=client.name if client else None,
        run_url=run_url(notify, p.run_id),
    )
    assert notice is not None  # only a crisis gets here
    return notice


@dataclass(frozen=True)
class _Audit:
    """Writes the audit rows of one alert (or escalation) of one run."""

    notify: NotifyPorts
    run: CrisisRun
    kind: str
    route: str
    escalation_of: uuid.UUID | None

    def _row(self, **fields: Any) -> CrisisAlert:
        now = self.notify.clock()
        return CrisisAlert(
            run_id=self.run.run_id,
            client_id=self.run.client_id,
            created_at=now,
            updated_at=now,
            kind=self.kind,
            route=self.route,
            escalation_of=self.escalation_of,
            **fields,
        )

    def planned(self, delivery: Delivery, user_id: uuid.UUID | None) -> CrisisAlert:
        """The row of a planned delivery: ``pending``, or ``skipped`` with why."""
        pending = delivery.status == "pending"
        return self._row(
            recipient_user_id=user_id,
            channel=delivery.channel,
            recipient=delivery.recipient,
            delivery_id=delivery.id,
            status="pending" if pending else "skipped",
            error=None if pending else delivery.last_error,
            failed_at=None if pending else self.notify.clock(),
        )

    def unsent(
        self, channel: str, why: str, user_id: uuid.UUID | None, *, failed: bool = False
    ) -> CrisisAlert:
        """The row of a channel nothing was planned on, and why."""
        return self._row(
            recipient_user_id=user_id,
            channel=channel,
            recipient="",
            status="failed" if failed else "skipped",
            error=why,
            failed_at=self.notify.clock(),
        )


async def _tell(
    uow: UnitOfWork,
    notify: NotifyPorts,
    told: CrisisRecipients,
    *,
    run: CrisisRun,
    kind: str,
    notice_for: Callable[[uuid.UUID | None], Notice],
    source: EventEnvelope[Any] | None,
    escalation_of: uuid.UUID | None = None,
) -> list[CrisisAlert]:
    """Plan ``notice_for(user)`` to everyone ``told`` names and record each recipient and
    channel in the audit; the rows (``pending``, or ``skipped`` / ``failed`` with why)."""
    audit_rows = _Audit(notify, run, kind, told.route, escalation_of)
    rows: list[CrisisAlert] = []
    for user_id in told.users:
        planned = await plan_notice(uow, notify, notice_for(user_id), source=source)
        rows += [audit_rows.planned(d, user_id) for d in planned]
        if not any(d.channel == "telegram" for d in planned) and planned[0].status == "pending":
            _, _, chat = await reach_of(uow.session, user_id)
            why = TELEGRAM_NOT_LINKED if chat is None else TELEGRAM_UNREACHABLE
            rows.append(audit_rows.unsent("telegram", why, user_id))
    raw: list[tuple[str, str]] = []
    if told.on_duty is not None:
        if told.on_duty.email:
            raw.append(("email", told.on_duty.email))
        if told.on_duty.telegram_chat_id is not None:
            raw.append(("telegram", str(told.on_duty.telegram_chat_id)))
    if told.address:
        raw.append(("email", told.address))
    for channel, address in raw:
        notice = notice_for(None)
        delivery = await add_delivery(
            uow,
            notify,
            due_at=notify.clock(),
            user_id=None,
            channel=channel,
            template=notice.template,
            category=notice.category,
            language=notify.settings.crisis_on_duty_language,
            time_zone=notify.settings.crisis_on_duty_time_zone,
            recipient=address,
            context=dump_context(notice.context),
            source_event_id=source.event_id if source else None,
            source_event_type=source.event_type if source else None,
        )
        rows.append(audit_rows.planned(delivery, None))
    if not told.anyone:
        logger.error(
            "crisis: nobody to tell (no specialist, no on-duty contact, no admin)",
            extra={"run_id": str(run.run_id), "kind": kind},
        )
        rows.append(audit_rows.unsent("email", "no_recipient", None, failed=True))
    for row in rows:
        uow.session.add(row)
    return rows


async def _escalate(uow: UnitOfWork, notify: NotifyPorts, row: CrisisAlert, *, reason: str) -> None:
    """Tell the admins (and the admin address) that ``row``'s alert was not delivered."""
    session = uow.session
    now = notify.clock()
    row.escalated_at = now
    row.updated_at = now
    session.add(row)
    run = await session.get(CrisisRun, row.run_id)
    if run is None:  # the row exists only with its run
        return
    client = await session.get(Recipient, run.client_id)
    told_person = (
        await session.get(Recipient, row.recipient_user_id) if row.recipient_user_id else None
    )
    context = {
        "client_id": str(run.client_id),
        "client_name": client.name if client else None,
        "questionnaire_code": run.questionnaire_code,
        "run_id": str(run.run_id),
        "run_url": run_url(notify, run.run_id),
        "audit_url": audit_url(notify, run.run_id),
        "completed_at": run.completed_at.isoformat(),
    }

    def notice_for(admin_id: uuid.UUID | None) -> Notice:
        return rules.crisis_escalation(
            context,
            admin_id=admin_id,
            told_name=told_person.name if told_person else None,
            channel=row.channel,
            reason=reason,
        )

    targets = escalation_recipients(
        admins=await admin_ids(session), admin_address=notify.settings.admin_alert_email
    )
    logger.error(
        "crisis alert not delivered; escalated to the admins",
        extra={
            "run_id": str(run.run_id),
            "alert_id": str(row.id),
            "channel": row.channel,
            "reason": reason,
        },
    )
    await _tell(
        uow,
        notify,
        targets,
        run=run,
        kind="escalation",
        notice_for=notice_for,
        source=None,
        escalation_of=row.id,
    )


async def delivery_settled(
    uow: UnitOfWork, notify: NotifyPorts, delivery: Delivery, *, blocked: bool
) -> None:
    """A crisis alert's (or escalation's) delivery has an outcome: its audit row follows, and
    an alert that failed for good escalates (``blocked``: the chat blocked the bot)."""
    row = await audit.alert_of_delivery(uow.session, delivery.id)
    if row is None:
        return
    now = notify.clock()
    row.updated_at = now
    if delivery.status == "sent":
        row.status, row.sent_at = "sent", now
    elif delivery.status == "failed":
        row.status, row.failed_at, row.error = "failed", now, (delivery.last_error or "")[:2000]
        if row.kind == "escalation":
            logger.error(
                "crisis escalation not delivered",
                extra={"run_id": str(row.run_id), "alert_id": str(row.id)},
            )
    else:  # retrying: the last error so far
        row.error = delivery.last_error
    uow.session.add(row)
    if (
        row.status == "failed"
        and row.escalated_at is None
        and escalates(row.kind, row.route, row.status)
    ):
        await _escalate(uow, notify, row, reason=TELEGRAM_UNREACHABLE if blocked else "failed")


async def deadline_passed(uow: UnitOfWork, notify: NotifyPorts, run_id: uuid.UUID) -> None:
    """A run's alerts have had their time: each one still unsent (its retries go on)
    escalates now."""
    for row in await audit.unsent_alerts_of(uow.session, run_id):
        if escalates(row.kind, row.route, "late"):
            await _escalate(uow, notify, row, reason="not_sent_in_time")


async def crisis_log(
    uow: UnitOfWork, where: AlertFilter, *, limit: int, cursor: str | None
) -> tuple[list[CrisisAlert], str | None]:
    """A page of the crisis audit, newest first, and the next page's cursor."""
    return await audit.crisis_log(uow.session, where, limit=limit, cursor=cursor)

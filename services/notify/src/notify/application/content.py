"""What content tells notify: a questionnaire answered with a crisis flag (an alert), a newly
published article (news for those who agreed to it)."""

from __future__ import annotations

import uuid

from contracts.content.v1 import InteractiveRunCompletedV1, ItemPublishedV1
from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.people import admin_ids, latest_specialist_of, readers_of
from notify.adapters.tables import Recipient
from notify.application.planning import plan_notice
from notify.application.ports import NotifyPorts
from notify.domain import rules
from notify.domain.preferences import MARKETING_CONSENT


async def run_completed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[InteractiveRunCompletedV1]
) -> None:
    """A crisis flag alerts the client's specialist at once (admins when there is none)."""
    p = event.payload
    if not p.crisis:
        return
    client = await uow.session.get(Recipient, p.user_id)
    specialists = rules.crisis_recipients(
        assigned_by=p.assigned_by_specialist_id,
        latest_specialist=await latest_specialist_of(uow.session, p.user_id),
        admins=await admin_ids(uow.session),
    )
    for specialist_id in specialists:
        notice = rules.crisis_alert(
            p, specialist_id=specialist_id, client_name=client.name if client else None
        )
        if notice is not None:
            await plan_notice(uow, notify, notice, source=event)


async def item_published(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[ItemPublishedV1]
) -> None:
    """A new article, to users of its language who agreed to marketing messages."""
    p = event.payload
    if rules.new_article(p, uuid.UUID(int=0)) is None:
        return
    for user_id in await readers_of(uow.session, p.language, MARKETING_CONSENT):
        notice = rules.new_article(p, user_id)
        if notice is not None:
            await plan_notice(uow, notify, notice, source=event)

"""What content tells notify: a questionnaire completed (a crisis alert, an intake suggestion),
a questionnaire assigned or overdue (the client is told, the specialist too when overdue), a
newly published article (news for those who agreed to it), a moderator's decision on a user's
post (its author is told)."""

from __future__ import annotations

import uuid

from contracts.content.v1 import (
    AssignmentCreatedV1,
    AssignmentOverdueV1,
    InteractiveRunCompletedV1,
    ItemPublishedV1,
    ModerationDecidedV1,
)
from contracts.envelope import EventEnvelope
from servicekit.messaging.outbox import UnitOfWork

from notify.adapters.people import appointments_of_client, readers_of
from notify.adapters.tables import Recipient
from notify.application import crisis
from notify.application.planning import plan_notice
from notify.application.ports import NotifyPorts
from notify.domain import rules
from notify.domain.crisis import suggests_intake
from notify.domain.preferences import MARKETING_CONSENT


async def run_completed(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[InteractiveRunCompletedV1]
) -> None:
    """A crisis flag alerts at once whoever can act (:mod:`notify.application.crisis`); a score
    that suggests an intake gets the client a booking link, unless they are booked already."""
    p = event.payload
    if p.crisis:
        await crisis.alert(uow, notify, event)
    if p.suggest_intake and suggests_intake(
        suggest_intake=p.suggest_intake,
        appointments=await appointments_of_client(uow.session, p.user_id),
        now=notify.clock(),
    ):
        notice = rules.intake_suggested(p, booking_url=notify.app_url("/booking"))
        await plan_notice(uow, notify, notice, source=event)


def _take_url(notify: NotifyPorts, questionnaire_id: uuid.UUID, assignment_id: uuid.UUID) -> str:
    """The front end's page that takes an assigned questionnaire."""
    return notify.app_url(f"/questionnaires/{questionnaire_id}?assignment_id={assignment_id}")


async def _name_of(uow: UnitOfWork, user_id: uuid.UUID) -> str | None:
    person = await uow.session.get(Recipient, user_id)
    return person.name if person else None


async def assignment_created(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AssignmentCreatedV1]
) -> None:
    """A specialist assigned a questionnaire: the client learns what, by when, and the link."""
    p = event.payload
    notice = rules.assignment_created(
        p,
        specialist_name=await _name_of(uow, p.specialist_id),
        take_url=_take_url(notify, p.questionnaire_id, p.assignment_id),
    )
    await plan_notice(uow, notify, notice, source=event)


async def assignment_overdue(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[AssignmentOverdueV1]
) -> None:
    """An assigned questionnaire is overdue: the client is reminded, the specialist told."""
    p = event.payload
    to_client, to_specialist = rules.assignment_overdue(
        p,
        specialist_name=await _name_of(uow, p.specialist_id),
        client_name=await _name_of(uow, p.client_id),
        take_url=_take_url(notify, p.questionnaire_id, p.assignment_id),
        client_url=notify.app_url(f"/specialist/clients/{p.client_id}"),
    )
    await plan_notice(uow, notify, to_client, source=event)
    await plan_notice(uow, notify, to_specialist, source=event)


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


async def moderation_decided(
    uow: UnitOfWork, notify: NotifyPorts, event: EventEnvelope[ModerationDecidedV1]
) -> None:
    """A moderator decided on a user's question, comment or review: the author is told."""
    notice = rules.moderation_decided(event.payload, posts_url=notify.app_url("/me/posts"))
    await plan_notice(uow, notify, notice, source=event)

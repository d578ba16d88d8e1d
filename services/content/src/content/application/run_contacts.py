"""Leaving a contact on an anonymous run (docs/content.md, "Leaving a contact"): the taker of an
anonymous run, who has no account, asks to be contacted by the practice.

content keeps only the fact (``runs.contact_left_at``) and a keyed hash of the address it came
from (for the rate limit); the contact goes to cabinet in ``content.run_contact.left``, sealed,
where it becomes a lead (docs/leads.md). Once per run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.content.v1 import RunContactLeftV1
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Questionnaire, Run
from content.application.refusals import (
    ContactAlreadyLeft,
    ContactsRateLimited,
    RunAlreadyClaimed,
    RunNotFound,
)
from content.application.runs import Taker
from content.domain.prechecks import source_index

WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class LeftContact:
    """What the taker left: at least an email or a phone (checked by the API), and where the
    page they came from says they came from."""

    email: str | None
    phone: str | None
    name: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None


@dataclass(frozen=True)
class Limit:
    """How many contacts one address may leave per hour, and the key its hash is made with."""

    key: bytes
    per_address_hour: int


async def _wait(session: AsyncSession, source: str, limit: Limit, now: datetime) -> int | None:
    """Seconds until this address may leave one more contact (None: now)."""
    count, oldest = (
        await session.exec(
            select(func.count(), func.min(col(Run.contact_left_at))).where(
                col(Run.contact_source_index) == source, col(Run.contact_left_at) > now - WINDOW
            )
        )
    ).one()
    if count < limit.per_address_hour or oldest is None:
        return None
    return max(1, int((oldest + WINDOW - now).total_seconds()) + 1)


async def leave(
    uow: UnitOfWork,
    run_id: uuid.UUID,
    taker: Taker,
    contact: LeftContact,
    *,
    address: str,
    limit: Limit,
    now: datetime,
) -> Run:
    """Record that the run's anonymous taker left a contact, and hand it to cabinet sealed."""
    session = uow.session
    run = await session.get(Run, run_id, with_for_update=True)
    if run is None or not taker.has_token_of(run):
        raise RunNotFound()
    if run.user_id is not None:
        raise RunAlreadyClaimed()  # its taker has an account: they are known already
    if run.contact_left_at is not None:
        raise ContactAlreadyLeft()
    source = source_index(address, limit.key)
    wait = await _wait(session, source, limit, now)
    if wait is not None:
        raise ContactsRateLimited(wait)
    questionnaire = await session.get(Questionnaire, run.questionnaire_id)
    assert questionnaire is not None  # a foreign key
    run.contact_left_at, run.contact_source_index = now, source
    session.add(run)
    uow.emit(
        RunContactLeftV1(
            run_id=run.id,
            questionnaire_id=run.questionnaire_id,
            questionnaire_code=questionnaire.code,
            completed_at=run.completed_at,
            email=contact.email,
            phone=contact.phone,
            name=contact.name,
            utm_source=contact.utm_source,
            utm_medium=contact.utm_medium,
            utm_campaign=contact.utm_campaign,
            consented_at=now,
        )
    )
    return run

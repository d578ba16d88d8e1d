"""booking's copy of cabinet's consents and consent documents, and whether health data may be
touched: intake forms and outcome records are written and read only while the client's
``health_data_processing`` consent counts (:mod:`booking.domain.consents`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.cabinet.v1 import ConsentGrantedV1, ConsentWithdrawnV1
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from booking.adapters.tables import Consent, ConsentDocument
from booking.domain.consents import HEALTH_DATA, ConsentRequired, DocumentVersion, consent_counts


async def has_health_consent(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> bool:
    """Whether the user's health-data consent counts now."""
    consent = await session.get(Consent, (user_id, HEALTH_DATA))
    if consent is None or not consent.granted:
        return False
    documents = (
        await session.exec(select(ConsentDocument).where(ConsentDocument.purpose == HEALTH_DATA))
    ).all()
    return consent_counts(
        consent.document_version,
        [DocumentVersion(d.version, d.effective_from, d.requires_reconsent) for d in documents],
        now,
    )


async def require_health_consent(
    session: AsyncSession, client_id: uuid.UUID, now: datetime
) -> None:
    """:class:`~booking.domain.consents.ConsentRequired` unless the client's health-data
    consent counts."""
    if not await has_health_consent(session, client_id, now):
        raise ConsentRequired()


async def record_consent(
    uow: UnitOfWork,
    word: ConsentGrantedV1 | ConsentWithdrawnV1,
    *,
    granted: bool,
    at: datetime,
) -> None:
    """cabinet says a user granted or withdrew a consent at ``at``; an older word arriving late
    does not override a newer one."""
    consent = await uow.session.get(Consent, (word.user_id, word.purpose), with_for_update=True)
    if consent is not None and consent.changed_at > at:
        return
    if consent is None:
        uow.session.add(
            Consent(
                user_id=word.user_id,
                purpose=word.purpose,
                granted=granted,
                document_id=word.document_id,
                document_version=word.document_version,
                changed_at=at,
                consent_id=word.consent_id,
            )
        )
        return
    consent.granted = granted
    consent.document_id = word.document_id
    consent.document_version = word.document_version
    consent.changed_at = at
    consent.consent_id = word.consent_id


async def remember_document(
    uow: UnitOfWork,
    *,
    document_id: uuid.UUID,
    purpose: str,
    version: int,
    effective_from: datetime,
    requires_reconsent: bool,
) -> None:
    """A consent document version was published (it may make older grants stop counting)."""
    document = await uow.session.get(ConsentDocument, document_id)
    if document is None:
        uow.session.add(
            ConsentDocument(
                document_id=document_id,
                purpose=purpose,
                version=version,
                effective_from=effective_from,
                requires_reconsent=requires_reconsent,
            )
        )
        return
    document.purpose, document.version = purpose, version
    document.effective_from, document.requires_reconsent = effective_from, requires_reconsent

"""content's copy of cabinet's consents, and the checks that read it.

Answers are stored only while the client's health-data consent counts; a specialist reads a
client's runs and trend only while both the health-data and the transfer-to-the-specialist
consents count. A withdrawal takes effect as soon as its event is in.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from contracts.cabinet.v1 import ConsentDocumentPublishedV1, ConsentGrantedV1, ConsentWithdrawnV1
from servicekit.messaging.outbox import UnitOfWork
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from content.adapters.tables import Consent, ConsentDocument
from content.application.refusals import ConsentRequired
from content.domain.consents import (
    HEALTH_DATA,
    TRANSFER_TO_SPECIALIST,
    DocumentVersion,
    consent_counts,
)


async def counts(session: AsyncSession, user_id: uuid.UUID, purpose: str, now: datetime) -> bool:
    """Whether the user's consent for ``purpose`` counts now."""
    consent = await session.get(Consent, (user_id, purpose))
    if consent is None or not consent.granted:
        return False
    documents = (
        await session.exec(select(ConsentDocument).where(ConsentDocument.purpose == purpose))
    ).all()
    return consent_counts(
        consent.document_version,
        [DocumentVersion(d.version, d.effective_from, d.requires_reconsent) for d in documents],
        now,
    )


async def require_health_consent(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    """:class:`ConsentRequired` unless the user's health-data consent counts."""
    if not await counts(session, user_id, HEALTH_DATA, now):
        raise ConsentRequired(HEALTH_DATA)


async def require_sharing_with_specialist(
    session: AsyncSession, client_id: uuid.UUID, now: datetime
) -> None:
    """:class:`ConsentRequired` unless the client lets their specialist read their health data
    (both consents count)."""
    await require_health_consent(session, client_id, now)
    if not await counts(session, client_id, TRANSFER_TO_SPECIALIST, now):
        raise ConsentRequired(TRANSFER_TO_SPECIALIST)


async def record(
    uow: UnitOfWork,
    payload: ConsentGrantedV1 | ConsentWithdrawnV1,
    *,
    granted: bool,
    at: datetime,
) -> None:
    """Keep the user's latest word for a purpose (an older one arriving late changes nothing)."""
    consent = await uow.session.get(
        Consent, (payload.user_id, payload.purpose), with_for_update=True
    )
    if consent is not None and consent.changed_at > at:
        return
    if consent is None:
        uow.session.add(
            Consent(
                user_id=payload.user_id,
                purpose=payload.purpose,
                granted=granted,
                document_id=payload.document_id,
                document_version=payload.document_version,
                changed_at=at,
                consent_id=payload.consent_id,
            )
        )
        return
    consent.granted = granted
    consent.document_id = payload.document_id
    consent.document_version = payload.document_version
    consent.changed_at = at
    consent.consent_id = payload.consent_id


async def record_document(uow: UnitOfWork, p: ConsentDocumentPublishedV1) -> None:
    """A published consent document version (it may make older grants stop counting)."""
    document = await uow.session.get(ConsentDocument, p.document_id)
    if document is None:
        uow.session.add(
            ConsentDocument(
                document_id=p.document_id,
                purpose=p.purpose,
                version=p.version,
                effective_from=p.effective_from,
                requires_reconsent=p.requires_reconsent,
            )
        )
        return
    document.purpose, document.version = p.purpose, p.version
    document.effective_from, document.requires_reconsent = p.effective_from, p.requires_reconsent

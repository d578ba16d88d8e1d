"""Consents (152-FZ): versioned documents per purpose; separate, audited grants and withdrawals.

Every grant and withdrawal is an immutable row (who, which version, when, from where; the
database refuses updates and deletes) and an event booking and notify keep their copies from.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from contracts.cabinet.v1 import (
    ConsentDocumentPublishedV1,
    ConsentGrantedV1,
    ConsentWithdrawnV1,
)
from contracts.types import ConsentPurpose
from servicekit.db.faults import is_unique_violation
from servicekit.errors import DomainError
from servicekit.http.pagination import keyset_page
from servicekit.messaging.outbox import UnitOfWork
from sqlalchemy import func
from sqlmodel import col, select

from cabinet.adapters.tables import ConsentDocument, ConsentRecord, User
from cabinet.domain import consents as rules
from cabinet.domain.consents import NoSuchDocument

#: The unique constraint on (purpose, version) of consent documents (migration 0002).
DOCUMENT_VERSION = "consent_documents_version"
_USER_AGENT_LENGTH = 500  # consent_records.user_agent


class VersionConflict(DomainError):
    """Another version of the purpose's document was published at the same moment."""

    code = "version_conflict"


@dataclass(frozen=True)
class DocumentDraft:
    """A new version of a purpose's consent document, as an admin writes it."""

    purpose: ConsentPurpose
    title: str
    text: str
    effective_from: datetime | None
    requires_reconsent: bool


@dataclass(frozen=True)
class PurposeStanding:
    """Where a user stands for one purpose, with the document in effect."""

    purpose: str
    status: rules.Status
    granted_version: int | None
    current_version: int | None
    current_document_id: uuid.UUID | None


@dataclass(frozen=True)
class Source:
    """Where a grant or a withdrawal came from (kept in the audit row)."""

    address: str
    user_agent: str | None


async def publish_document(
    uow: UnitOfWork, draft: DocumentDraft, *, admin_id: uuid.UUID, now: datetime
) -> ConsentDocument:
    """Publish the next version of the purpose's document (in effect from
    ``draft.effective_from``, now by default)."""
    latest = (
        await uow.session.exec(
            select(func.max(ConsentDocument.version)).where(
                ConsentDocument.purpose == draft.purpose
            )
        )
    ).one()
    doc = ConsentDocument(
        purpose=draft.purpose,
        version=(latest or 0) + 1,
        title=draft.title,
        text=draft.text,
        effective_from=draft.effective_from or now,
        requires_reconsent=draft.requires_reconsent,
        published_at=now,
        published_by=admin_id,
    )
    uow.session.add(doc)
    uow.emit(
        ConsentDocumentPublishedV1(
            document_id=doc.id,
            purpose=draft.purpose,
            version=doc.version,
            effective_from=doc.effective_from,
            requires_reconsent=doc.requires_reconsent,
        )
    )
    try:
        await uow.commit()
    except Exception as exc:  # two admins publishing the same purpose at once
        if is_unique_violation(exc, DOCUMENT_VERSION):
            raise VersionConflict() from exc
        raise
    return doc


async def documents_in_effect(uow: UnitOfWork, now: datetime) -> list[ConsentDocument]:
    """The document in effect of each purpose that has one, in the purposes' order."""
    by_purpose = await _documents(uow)
    found = []
    for purpose in rules.PURPOSES:
        docs = by_purpose.get(purpose, [])
        current = rules.current_document(_versions(docs), now)
        if current is not None:
            found.append(next(d for d in docs if d.version == current.version))
    return found


async def document(uow: UnitOfWork, document_id: uuid.UUID) -> ConsentDocument:
    """One published version (:class:`NoSuchDocument` when there is none)."""
    doc = await uow.session.get(ConsentDocument, document_id)
    if doc is None:
        raise NoSuchDocument()
    return doc


async def standings(uow: UnitOfWork, user_id: uuid.UUID, now: datetime) -> list[PurposeStanding]:
    """Where the user stands for every purpose."""
    records = await _records(uow, user_id)
    by_purpose = await _documents(uow)
    return [
        _standing(purpose, by_purpose.get(purpose, []), records, now) for purpose in rules.PURPOSES
    ]


async def history(
    uow: UnitOfWork, user_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[ConsentRecord], str | None]:
    """A page of the user's grants and withdrawals, oldest first, and the next page's cursor."""
    rows, next_cursor = await keyset_page(
        uow.session,
        select(ConsentRecord).where(ConsentRecord.user_id == user_id),
        order=col(ConsentRecord.at),
        tiebreak=col(ConsentRecord.id),
        limit=limit,
        cursor=cursor,
    )
    return rows, next_cursor


async def grant(
    uow: UnitOfWork, user_id: uuid.UUID, document_id: uuid.UUID, *, source: Source, now: datetime
) -> PurposeStanding:
    """Consent to one document, which must be its purpose's version in effect (never bundled
    with another purpose)."""
    doc = await document(uow, document_id)
    rules.check_grant(_version(doc), _versions(await _documents_of(uow, doc.purpose)), now)
    await uow.session.get(User, user_id, with_for_update=True)  # one change per user at a time
    record = _record(user_id, doc, "granted", source, now)
    uow.session.add(record)
    uow.emit(
        ConsentGrantedV1(
            consent_id=record.id,
            user_id=user_id,
            purpose=doc.purpose,
            document_id=doc.id,
            document_version=doc.version,
            granted_at=now,
        )
    )
    await uow.commit()
    return await _standing_of(uow, user_id, doc.purpose, now)


async def withdraw(
    uow: UnitOfWork, user_id: uuid.UUID, purpose: ConsentPurpose, *, source: Source, now: datetime
) -> PurposeStanding:
    """Withdraw the consent of one purpose (:class:`~cabinet.domain.consents.NotGranted` when
    there is none standing)."""
    await uow.session.get(User, user_id, with_for_update=True)
    records = [r for r in await _records(uow, user_id) if r.purpose == purpose]
    rules.check_withdrawal([_rule_record(r) for r in records])
    doc = await uow.session.get(ConsentDocument, records[-1].document_id)
    assert doc is not None  # a record's document is never deleted (a foreign key)
    record = _record(user_id, doc, "withdrawn", source, now)
    uow.session.add(record)
    uow.emit(
        ConsentWithdrawnV1(
            consent_id=record.id,
            user_id=user_id,
            purpose=purpose,
            document_id=doc.id,
            document_version=doc.version,
            withdrawn_at=now,
        )
    )
    await uow.commit()
    return await _standing_of(uow, user_id, purpose, now)


# -- reading --------------------------------------------------------------------------------


async def _documents(uow: UnitOfWork) -> dict[str, list[ConsentDocument]]:
    by_purpose: dict[str, list[ConsentDocument]] = {}
    for doc in (await uow.session.exec(select(ConsentDocument))).all():
        by_purpose.setdefault(doc.purpose, []).append(doc)
    return by_purpose


async def _documents_of(uow: UnitOfWork, purpose: str) -> list[ConsentDocument]:
    return list(
        (
            await uow.session.exec(
                select(ConsentDocument).where(ConsentDocument.purpose == purpose)
            )
        ).all()
    )


async def _records(uow: UnitOfWork, user_id: uuid.UUID) -> list[ConsentRecord]:
    return list(
        (
            await uow.session.exec(
                select(ConsentRecord)
                .where(ConsentRecord.user_id == user_id)
                .order_by(col(ConsentRecord.at), col(ConsentRecord.id))
            )
        ).all()
    )


async def _standing_of(
    uow: UnitOfWork, user_id: uuid.UUID, purpose: str, now: datetime
) -> PurposeStanding:
    records = await _records(uow, user_id)
    return _standing(purpose, await _documents_of(uow, purpose), records, now)


def _standing(
    purpose: str, docs: Sequence[ConsentDocument], records: Sequence[ConsentRecord], now: datetime
) -> PurposeStanding:
    mine = [_rule_record(r) for r in records if r.purpose == purpose]
    found = rules.standing(mine, _versions(docs), now)
    current = found.current
    return PurposeStanding(
        purpose=purpose,
        status=found.status,
        granted_version=found.granted_version,
        current_version=None if current is None else current.version,
        current_document_id=None
        if current is None
        else next(d.id for d in docs if d.version == current.version),
    )


def _version(d: ConsentDocument) -> rules.DocumentVersion:
    return rules.DocumentVersion(d.purpose, d.version, d.effective_from, d.requires_reconsent)


def _versions(docs: Sequence[ConsentDocument]) -> list[rules.DocumentVersion]:
    return [_version(d) for d in docs]


def _rule_record(r: ConsentRecord) -> rules.Record:
    action: Literal["granted", "withdrawn"] = "granted" if r.action == "granted" else "withdrawn"
    return rules.Record(r.purpose, r.document_version, action, r.at)


def _record(
    user_id: uuid.UUID,
    doc: ConsentDocument,
    action: Literal["granted", "withdrawn"],
    source: Source,
    now: datetime,
) -> ConsentRecord:
    return ConsentRecord(
        user_id=user_id,
        purpose=doc.purpose,
        document_id=doc.id,
        document_version=doc.version,
        action=action,
        at=now,
        source_ip=source.address,
        user_agent=(source.user_agent or "")[:_USER_AGENT_LENGTH] or None,
    )


async def consented(uow: UnitOfWork, user_id: uuid.UUID, purpose: str, now: datetime) -> bool:
    """Whether the user's consent for ``purpose`` counts now (granted, not outdated)."""
    return (await _standing_of(uow, user_id, purpose, now)).status == "granted"

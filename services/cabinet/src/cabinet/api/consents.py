"""Consents (152-FZ): versioned documents per purpose; separate, audited grants and withdrawals.

Every grant and withdrawal is an immutable row (who, which version, when, from where; the
database refuses updates and deletes) and an event booking and notify keep their copies from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from contracts.cabinet.v1 import (
    ConsentDocumentPublishedV1,
    ConsentGrantedV1,
    ConsentWithdrawnV1,
)
from contracts.types import ConsentPurpose
from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import Instant, SafeText
from servicekit.http.problems import Conflict, Msg, get_or_404
from servicekit.http.responses import problem_responses
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.deps import require_roles
from servicekit.security.jwt import Principal
from sqlalchemy import func
from sqlmodel import col, select

from cabinet.adapters.tables import ConsentDocument, ConsentRecord, User
from cabinet.api.common import CurrentAccount, SourceAddress
from cabinet.domain import consents as rules

router = APIRouter(tags=["consents"])

_NO_DOCUMENT = Msg(ru="Такого документа нет.", en="No such document.")


class DocumentCreate(BaseModel):
    """A new version of a purpose's consent document."""

    purpose: ConsentPurpose
    title: SafeText = Field(min_length=1, max_length=300)
    text: SafeText = Field(min_length=1, max_length=100_000)
    effective_from: Instant | None = Field(default=None, description="default: now")
    requires_reconsent: bool = Field(
        default=False, description="grants of older versions stop counting once in effect"
    )


class DocumentPublic(BaseModel):
    """A published consent document."""

    id: uuid.UUID
    purpose: str
    version: int
    title: str
    text: str
    effective_from: datetime
    requires_reconsent: bool
    published_at: datetime


class DocumentList(BaseModel):
    """The documents in effect, one per purpose."""

    items: list[DocumentPublic]
    next_cursor: str | None = None


class GrantRequest(BaseModel):
    """Consent to the document the user was shown (must be its purpose's current version)."""

    document_id: uuid.UUID


class PurposeStatus(BaseModel):
    """Where a user stands for one purpose."""

    purpose: str
    status: Literal["granted", "withdrawn", "outdated", "none"]
    granted_version: int | None
    current_version: int | None
    current_document_id: uuid.UUID | None


class ConsentState(BaseModel):
    """Where a user stands for every purpose."""

    items: list[PurposeStatus]
    next_cursor: str | None = None


class RecordPublic(BaseModel):
    """One audit row."""

    id: uuid.UUID
    purpose: str
    document_id: uuid.UUID
    document_version: int
    action: str
    at: datetime
    source_ip: str


class RecordList(BaseModel):
    """A user's consent history, oldest first."""

    items: list[RecordPublic]
    next_cursor: str | None = None


def _doc(d: ConsentDocument) -> DocumentPublic:
    return DocumentPublic.model_validate(d, from_attributes=True)


async def _documents(uow: UnitOfWork, purpose: str) -> list[ConsentDocument]:
    return list(
        (
            await uow.session.exec(
                select(ConsentDocument).where(ConsentDocument.purpose == purpose)
            )
        ).all()
    )


def _versions(docs: list[ConsentDocument]) -> list[rules.DocumentVersion]:
    return [
        rules.DocumentVersion(d.purpose, d.version, d.effective_from, d.requires_reconsent)
        for d in docs
    ]


@router.post(
    "/consent-documents",
    response_model=DocumentPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Publish a new version (admin)",
    responses=problem_responses(409),
)
async def publish_document(
    body: DocumentCreate,
    uow: UowDep,
    now: NowDep,
    admin: Principal = Depends(require_roles("admin")),
) -> DocumentPublic:
    latest = (
        await uow.session.exec(
            select(func.max(ConsentDocument.version)).where(ConsentDocument.purpose == body.purpose)
        )
    ).one()
    doc = ConsentDocument(
        purpose=body.purpose,
        version=(latest or 0) + 1,
        title=body.title,
        text=body.text,
        effective_from=body.effective_from or now,
        requires_reconsent=body.requires_reconsent,
        published_at=now,
        published_by=admin.user_id,
    )
    uow.session.add(doc)
    uow.emit(
        ConsentDocumentPublishedV1(
            document_id=doc.id,
            purpose=body.purpose,
            version=doc.version,
            effective_from=doc.effective_from,
            requires_reconsent=doc.requires_reconsent,
        )
    )
    try:
        await uow.commit()
    except Exception as exc:  # two admins publishing the same purpose at once
        if "consent_documents_version" in str(exc):
            raise Conflict(
                Msg(
                    ru="Только что опубликована другая версия; попробуйте ещё раз.",
                    en="Another version was published just now; try again.",
                ),
                code="version_conflict",
            ) from exc
        raise
    return _doc(doc)


@router.get(
    "/consent-documents",
    response_model=DocumentList,
    summary="The documents in effect, one per purpose (public)",
)
async def current_documents(uow: UowDep, now: NowDep) -> DocumentList:
    items = []
    for purpose in rules.PURPOSES:
        docs = await _documents(uow, purpose)
        current = rules.current_document(_versions(docs), now)
        if current is not None:
            items.append(_doc(next(d for d in docs if d.version == current.version)))
    return DocumentList(items=items)


@router.get(
    "/consent-documents/{document_id}",
    response_model=DocumentPublic,
    summary="One document version (public)",
    responses=problem_responses(404),
)
async def get_document(document_id: uuid.UUID, uow: UowDep) -> DocumentPublic:
    doc = await get_or_404(uow.session, ConsentDocument, document_id, _NO_DOCUMENT)
    return _doc(doc)


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


async def _status(
    uow: UnitOfWork, user_id: uuid.UUID, purpose: str, now: datetime, records: list[ConsentRecord]
) -> PurposeStatus:
    docs = await _documents(uow, purpose)
    mine = [r for r in records if r.purpose == purpose]
    current = rules.current_document(_versions(docs), now)
    latest = mine[-1] if mine else None
    return PurposeStatus(
        purpose=purpose,
        status=rules.status(
            [
                rules.Record(r.purpose, r.document_version, r.action, r.at)  # type: ignore[arg-type]
                for r in mine
            ],
            _versions(docs),
            now,
        ),
        granted_version=latest.document_version if latest and latest.action == "granted" else None,
        current_version=None if current is None else current.version,
        current_document_id=None
        if current is None
        else next(d.id for d in docs if d.version == current.version),
    )


@router.get("/me/consents", response_model=ConsentState, summary="Where I stand, per purpose")
async def my_consents(user: CurrentAccount, uow: UowDep, now: NowDep) -> ConsentState:
    records = await _records(uow, user.id)
    return ConsentState(
        items=[await _status(uow, user.id, p, now, records) for p in rules.PURPOSES]
    )


@router.get(
    "/me/consents/history", response_model=RecordList, summary="Every grant and withdrawal I made"
)
async def my_history(user: CurrentAccount, uow: UowDep) -> RecordList:
    return RecordList(
        items=[
            RecordPublic.model_validate(r, from_attributes=True)
            for r in await _records(uow, user.id)
        ]
    )


def _record(
    user: User, doc: ConsentDocument, action: str, now: datetime, address: str, request: Request
) -> ConsentRecord:
    return ConsentRecord(
        user_id=user.id,
        purpose=doc.purpose,
        document_id=doc.id,
        document_version=doc.version,
        action=action,
        at=now,
        source_ip=address,
        user_agent=(request.headers.get("user-agent") or "")[:500] or None,
    )


@router.post(
    "/me/consents",
    response_model=PurposeStatus,
    status_code=status.HTTP_201_CREATED,
    summary="Grant consent to one document (one purpose; never bundled)",
    responses=problem_responses(409),
)
async def grant(
    body: GrantRequest,
    user: CurrentAccount,
    uow: UowDep,
    now: NowDep,
    address: SourceAddress,
    request: Request,
) -> PurposeStatus:
    doc = await get_or_404(uow.session, ConsentDocument, body.document_id, _NO_DOCUMENT)
    current = rules.current_document(_versions(await _documents(uow, doc.purpose)), now)
    if current is None or current.version != doc.version:
        raise Conflict(
            Msg(
                ru="Это не действующая версия документа; прочитайте текущую и дайте согласие "
                "на неё.",
                en="This is not the version in effect; read the current one and consent to it.",
            ),
            code="document_outdated",
        )
    await uow.session.get(User, user.id, with_for_update=True)  # one change per user at a time
    record = _record(user, doc, "granted", now, address, request)
    uow.session.add(record)
    uow.emit(
        ConsentGrantedV1(
            consent_id=record.id,
            user_id=user.id,
            purpose=doc.purpose,
            document_id=doc.id,
            document_version=doc.version,
            granted_at=now,
        )
    )
    await uow.commit()
    return await _status(uow, user.id, doc.purpose, now, await _records(uow, user.id))


@router.post(
    "/me/consents/{purpose}/withdraw",
    response_model=PurposeStatus,
    summary="Withdraw the consent of one purpose",
    responses=problem_responses(409),
)
async def withdraw(
    purpose: ConsentPurpose,
    user: CurrentAccount,
    uow: UowDep,
    now: NowDep,
    address: SourceAddress,
    request: Request,
) -> PurposeStatus:
    await uow.session.get(User, user.id, with_for_update=True)
    records = [r for r in await _records(uow, user.id) if r.purpose == purpose]
    if not records or records[-1].action != "granted":
        raise Conflict(
            Msg(
                ru="Согласия с такой целью нет, отзывать нечего.",
                en="There is no consent of this purpose to withdraw.",
            ),
            code="not_granted",
        )
    doc = await uow.session.get(ConsentDocument, records[-1].document_id)
    assert doc is not None
    record = _record(user, doc, "withdrawn", now, address, request)
    uow.session.add(record)
    uow.emit(
        ConsentWithdrawnV1(
            consent_id=record.id,
            user_id=user.id,
            purpose=purpose,
            document_id=doc.id,
            document_version=doc.version,
            withdrawn_at=now,
        )
    )
    await uow.commit()
    return await _status(uow, user.id, purpose, now, await _records(uow, user.id))

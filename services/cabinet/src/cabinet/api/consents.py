"""Consents (152-FZ): versioned documents per purpose; separate, audited grants and withdrawals
(cabinet.application.consents)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from contracts.types import ConsentPurpose
from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, UowDep
from servicekit.http.inputs import Instant, SafeText
from servicekit.http.pagination import CursorQuery, LimitQuery
from servicekit.http.responses import problem_responses
from servicekit.security.deps import require_roles
from servicekit.security.jwt import Principal

from cabinet.adapters.tables import ConsentDocument
from cabinet.api.common import CurrentAccount, SourceAddress
from cabinet.application import consents
from cabinet.application.consents import PurposeStanding

router = APIRouter(tags=["consents"])


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
    """The documents in effect, one per purpose (never more than one page)."""

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
    """Where a user stands for every purpose (one per purpose: never more than one page)."""

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
    """A page of a user's consent history, oldest first."""

    items: list[RecordPublic]
    next_cursor: str | None = None


def _doc(d: ConsentDocument) -> DocumentPublic:
    return DocumentPublic.model_validate(d, from_attributes=True)


def _status(s: PurposeStanding) -> PurposeStatus:
    return PurposeStatus.model_validate(s, from_attributes=True)


def _source(address: str, request: Request) -> consents.Source:
    return consents.Source(address=address, user_agent=request.headers.get("user-agent"))


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
    draft = consents.DocumentDraft(
        purpose=body.purpose,
        title=body.title,
        text=body.text,
        effective_from=body.effective_from,
        requires_reconsent=body.requires_reconsent,
    )
    return _doc(await consents.publish_document(uow, draft, admin_id=admin.user_id, now=now))


@router.get(
    "/consent-documents",
    response_model=DocumentList,
    summary="The documents in effect, one per purpose (public)",
)
async def current_documents(uow: UowDep, now: NowDep) -> DocumentList:
    return DocumentList(items=[_doc(d) for d in await consents.documents_in_effect(uow, now)])


@router.get(
    "/consent-documents/{document_id}",
    response_model=DocumentPublic,
    summary="One document version (public)",
    responses=problem_responses(404),
)
async def get_document(document_id: uuid.UUID, uow: UowDep) -> DocumentPublic:
    return _doc(await consents.document(uow, document_id))


@router.get("/me/consents", response_model=ConsentState, summary="Where I stand, per purpose")
async def my_consents(user: CurrentAccount, uow: UowDep, now: NowDep) -> ConsentState:
    return ConsentState(items=[_status(s) for s in await consents.standings(uow, user.id, now)])


@router.get(
    "/me/consents/history",
    response_model=RecordList,
    summary="Every grant and withdrawal I made, oldest first",
)
async def my_history(
    user: CurrentAccount, uow: UowDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> RecordList:
    rows, next_cursor = await consents.history(uow, user.id, limit=limit, cursor=cursor)
    return RecordList(
        items=[RecordPublic.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=next_cursor,
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
    standing = await consents.grant(
        uow, user.id, body.document_id, source=_source(address, request), now=now
    )
    return _status(standing)


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
    standing = await consents.withdraw(
        uow, user.id, purpose, source=_source(address, request), now=now
    )
    return _status(standing)

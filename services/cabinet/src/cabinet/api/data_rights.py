"""Data-subject requests: exports (``/me/data-exports``) and erasure (``/me/erasure-requests``)
for the user; the open requests against their legal deadline, and erasure on a written request,
for an admin (cabinet.application.data_exports, cabinet.application.erasure)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field
from servicekit.http.deps import NowDep, RuntimeDep, UowDep
from servicekit.http.inputs import SafeText
from servicekit.http.responses import problem_responses
from servicekit.security.deps import require_roles
from servicekit.security.jwt import Principal

from cabinet.adapters.tables import ErasureRequest
from cabinet.api.common import CurrentAccount
from cabinet.application import data_exports, erasure
from cabinet.config import CabinetSettings

router = APIRouter(tags=["data rights"])
Admin = Depends(require_roles("admin"))


def _settings(runtime: Any) -> CabinetSettings:
    settings = runtime.settings
    assert isinstance(settings, CabinetSettings)
    return settings


class PartPublic(BaseModel):
    """One service's part of an export."""

    service: str
    status: str = Field(description="requested, ready, fetched or missing")
    asked: int = Field(description="How many times it was asked for")
    record_counts: dict[str, int]


class ExportPublic(BaseModel):
    """An export request and the state of each part."""

    id: uuid.UUID
    user_id: uuid.UUID
    status: str = Field(description="collecting, completed or incomplete")
    requested_at: datetime
    legal_deadline: date = Field(description="10 working days (Russian calendar)")
    final_deadline_at: datetime
    completed_at: datetime | None
    incomplete_reason: str | None
    downloaded_at: datetime | None
    download_expires_at: datetime | None
    parts: list[PartPublic]


class OpenExportPublic(BaseModel):
    """An open export against its legal deadline."""

    id: uuid.UUID
    user_id: uuid.UUID
    requested_at: datetime
    legal_deadline: date
    overdue: bool
    parts_missing: list[str]


class OpenExportList(BaseModel):
    """Open exports, overdue first (one page: open requests are few)."""

    items: list[OpenExportPublic]
    next_cursor: str | None = None


class DownloadRequest(BaseModel):
    """The token from the mailed link (``/data-export#export=…&token=…``)."""

    token: SafeText = Field(min_length=1, max_length=200)


class ErasureCreate(BaseModel):
    """An admin's erasure request, on a written request from the data subject."""

    basis: SafeText = Field(
        min_length=3, max_length=2000, description="The written request: reference, date, how"
    )


class ErasurePublic(BaseModel):
    """An erasure request."""

    id: uuid.UUID
    user_id: uuid.UUID
    reason: str
    status: str = Field(description="cooling_off, cancelled, erasing or completed")
    requested_at: datetime
    execute_at: datetime
    executed_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    confirmations: dict[str, Any] = Field(
        description="Per service: null until it confirms; then when, and what it kept and why"
    )


class ErasureList(BaseModel):
    """Open erasure requests, oldest first (one page)."""

    items: list[ErasurePublic]
    next_cursor: str | None = None


def _export(v: data_exports.ExportView) -> ExportPublic:
    e = v.export
    return ExportPublic(
        id=e.id,
        user_id=e.user_id,
        status=e.status,
        requested_at=e.requested_at,
        legal_deadline=e.legal_deadline,
        final_deadline_at=e.final_deadline_at,
        completed_at=e.completed_at,
        incomplete_reason=e.incomplete_reason,
        downloaded_at=e.downloaded_at,
        download_expires_at=e.download_expires_at,
        parts=[
            PartPublic(
                service=p.service, status=p.status, asked=p.asked, record_counts=p.record_counts
            )
            for p in v.parts
        ],
    )


def _erasure(r: ErasureRequest) -> ErasurePublic:
    return ErasurePublic.model_validate(r, from_attributes=True)


@router.post(
    "/me/data-exports",
    response_model=ExportPublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask for a copy of all my data (a link is mailed when it is ready)",
    responses=problem_responses(409),
)
async def request_export(
    user: CurrentAccount, uow: UowDep, now: NowDep, runtime: RuntimeDep
) -> ExportPublic:
    found = await data_exports.request(uow, user, settings=_settings(runtime), now=now)
    await uow.commit()
    return _export(found)


@router.get(
    "/me/data-exports/{export_id}",
    response_model=ExportPublic,
    summary="My export's state, part by part",
    responses=problem_responses(404),
)
async def my_export(export_id: uuid.UUID, user: CurrentAccount, uow: UowDep) -> ExportPublic:
    return _export(await data_exports.view(uow, user.id, export_id))


@router.post(
    "/me/data-exports/{export_id}/download",
    response_class=Response,
    summary="Download the archive (a zip) with the mailed link's token: once, before it expires",
    responses={
        200: {"description": "The archive, as `application/zip`"},
        **problem_responses(404, 409, 410),
    },
)
async def download(
    export_id: uuid.UUID, body: DownloadRequest, user: CurrentAccount, uow: UowDep, now: NowDep
) -> Response:
    blob = await data_exports.download(uow, user.id, export_id, body.token, now)
    await uow.commit()
    return Response(
        blob,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="praktika-data-{export_id}.zip"',
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    "/data-exports",
    response_model=OpenExportList,
    summary="Open export requests against the legal deadline, overdue first (admin)",
)
async def open_exports(uow: UowDep, now: NowDep, _: Principal = Admin) -> OpenExportList:
    found = await data_exports.open_requests(uow, now.date())
    items = []
    for o in found:
        parts = await data_exports.parts_of(uow, o.export.id)
        items.append(
            OpenExportPublic(
                id=o.export.id,
                user_id=o.export.user_id,
                requested_at=o.export.requested_at,
                legal_deadline=o.export.legal_deadline,
                overdue=o.overdue,
                parts_missing=[p.service for p in parts if p.status != "fetched"],
            )
        )
    return OpenExportList(items=items)


@router.post(
    "/me/erasure-requests",
    response_model=ErasurePublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask to delete my account and data (after a cooling-off period I can cancel in)",
    responses=problem_responses(404, 409),
)
async def request_erasure(
    user: CurrentAccount, uow: UowDep, now: NowDep, runtime: RuntimeDep
) -> ErasurePublic:
    row = await erasure.request(
        uow,
        user.id,
        requested_by=user.id,
        reason="user_request",
        basis=None,
        settings=_settings(runtime),
        now=now,
    )
    await uow.commit()
    return _erasure(row)


@router.get(
    "/me/erasure-requests/{request_id}",
    response_model=ErasurePublic,
    summary="My erasure request",
    responses=problem_responses(404),
)
async def my_erasure(request_id: uuid.UUID, user: CurrentAccount, uow: UowDep) -> ErasurePublic:
    return _erasure(await erasure.view(uow, user.id, request_id))


@router.post(
    "/me/erasure-requests/{request_id}/cancel",
    response_model=ErasurePublic,
    summary="Cancel my erasure request (within the cooling-off period)",
    responses=problem_responses(404, 409),
)
async def cancel_erasure(
    request_id: uuid.UUID, user: CurrentAccount, uow: UowDep, now: NowDep
) -> ErasurePublic:
    row = await erasure.cancel(uow, user.id, request_id, now)
    await uow.commit()
    return _erasure(row)


@router.post(
    "/users/{user_id}/erasure-requests",
    response_model=ErasurePublic,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Erase a user on their written request, its basis recorded (admin)",
    responses=problem_responses(404, 409),
)
async def admin_erasure(
    user_id: uuid.UUID,
    body: ErasureCreate,
    uow: UowDep,
    now: NowDep,
    runtime: RuntimeDep,
    admin: Principal = Admin,
) -> ErasurePublic:
    row = await erasure.request(
        uow,
        user_id,
        requested_by=admin.user_id,
        reason="admin",
        basis=body.basis,
        settings=_settings(runtime),
        now=now,
    )
    await uow.commit()
    return _erasure(row)


@router.get(
    "/erasure-requests",
    response_model=ErasureList,
    summary="Open erasure requests, oldest first (admin)",
)
async def open_erasures(uow: UowDep, _: Principal = Admin) -> ErasureList:
    return ErasureList(items=[_erasure(r) for r in await erasure.open_requests(uow)])

"""Data export (GDPR art. 15/20, 152-FZ art. 14/20): a user asks; every service that holds
their data builds its part and announces a signed, expiring link to it; cabinet fetches each
part, adds its own (account, consents, diary, requests), assembles one zip with a summary in
the user's language, keeps it encrypted and publishes ``cabinet.data_export.completed``, on
which notify mails the single-use link.

A part not in by ``data_export_reask_minutes`` is asked for again (and again); at the final
deadline the export completes **marked incomplete**, the missing parts named with the reason.
What the export's timers need of the settings is kept with it (``ExportPolicy``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import uuid
import zipfile
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from contracts.cabinet.v1 import DataExportCompletedV1, DataExportRequestedV1
from contracts.data_rights import DataExportPart as PartPayload
from servicekit.messaging.outbox import UnitOfWork
from servicekit.timers import schedule
from sqlmodel import col, select

from cabinet.adapters.export_parts import fetch_part
from cabinet.adapters.tables import (
    ConsentRecord,
    DataExport,
    DataExportPart,
    DiaryEntry,
    ErasureRequest,
    User,
)
from cabinet.application import leads
from cabinet.application.diary import entry_of
from cabinet.config import CabinetSettings
from cabinet.domain import data_rights as rules
from cabinet.domain.data_rights import (
    COLLECTING,
    COMPLETED,
    FETCHED,
    INCOMPLETE,
    MISSING,
    READY,
    REQUESTED,
    DownloadLinkInvalid,
    ExportInProgress,
    ExportNotFound,
    ExportNotReady,
)

REASK = "data_export.reask"
FETCH = "data_export.fetch"
FINAL = "data_export.final"
EXPIRE = "data_export.expire"
SCHEMA = "praktika.cabinet.data_export/1"


@dataclass(frozen=True)
class ExportPolicy:
    """The settings an export's timers and consumers need (kept on the export's row)."""

    public_origin: str
    reask_minutes: int
    link_hours: int
    fetch_timeout_seconds: float

    @classmethod
    def of(cls, settings: CabinetSettings) -> ExportPolicy:
        """From cabinet's settings."""
        return cls(
            settings.public_origin,
            settings.data_export_reask_minutes,
            settings.data_export_link_hours,
            settings.data_export_fetch_timeout_seconds,
        )

    @classmethod
    def read(cls, payload: dict[str, Any]) -> ExportPolicy:
        """From what was kept."""
        return cls(
            str(payload["public_origin"]),
            int(payload["reask_minutes"]),
            int(payload["link_hours"]),
            float(payload["fetch_timeout_seconds"]),
        )


@dataclass(frozen=True)
class ExportView:
    """An export and its parts, as its owner (or an admin) sees it."""

    export: DataExport
    parts: list[DataExportPart]


async def request(
    uow: UnitOfWork, user: User, *, settings: CabinetSettings, now: datetime
) -> ExportView:
    """A new export of ``user``'s data; every expected service is asked for its part."""
    open_one = (
        await uow.session.exec(
            select(DataExport.id).where(
                DataExport.user_id == user.id, DataExport.status == COLLECTING
            )
        )
    ).first()
    if open_one is not None:
        raise ExportInProgress()
    final = now + timedelta(hours=settings.data_export_final_hours)
    export = DataExport(
        user_id=user.id,
        status=COLLECTING,
        language=user.language,
        requested_at=now,
        legal_deadline=rules.legal_deadline(now),
        final_deadline_at=final,
        policy=asdict(ExportPolicy.of(settings)),
    )
    uow.session.add(export)
    await uow.session.flush()
    services = list(dict.fromkeys(settings.data_export_parts))
    parts = [
        DataExportPart(export_id=export.id, service=s, status=REQUESTED, updated_at=now)
        for s in services
    ]
    uow.session.add_all(parts)
    uow.emit(
        DataExportRequestedV1(
            export_id=export.id,
            user_id=user.id,
            requested_at=now,
            deadline_at=final,
            expected_parts=services,
        )
    )
    key = str(export.id)
    await schedule(
        uow.session,
        kind=REASK,
        key=key,
        due_at=now + timedelta(minutes=settings.data_export_reask_minutes),
    )
    await schedule(uow.session, kind=FINAL, key=key, due_at=final)
    if not services:
        await _assemble(uow, export, ExportPolicy.of(settings), now)
    return ExportView(export, parts)


async def view(uow: UnitOfWork, user_id: uuid.UUID | None, export_id: uuid.UUID) -> ExportView:
    """An export with its parts (``user_id``: only if it is theirs; None: an admin)."""
    export = await uow.session.get(DataExport, export_id)
    if export is None or (user_id is not None and export.user_id != user_id):
        raise ExportNotFound()
    return ExportView(export, await parts_of(uow, export_id))


async def parts_of(uow: UnitOfWork, export_id: uuid.UUID) -> list[DataExportPart]:
    """An export's parts, by service."""
    return list(
        (
            await uow.session.exec(
                select(DataExportPart)
                .where(DataExportPart.export_id == export_id)
                .order_by(col(DataExportPart.service))
            )
        ).all()
    )


async def part_announced(
    uow: UnitOfWork, service: str, payload: PartPayload, *, now: datetime
) -> None:
    """A service's part is ready at its link: fetch it (from a timer, after this commits)."""
    part = await uow.session.get(DataExportPart, (payload.export_id, service), with_for_update=True)
    export = await uow.session.get(DataExport, payload.export_id)
    if part is None or export is None or export.status != COLLECTING:
        return
    if export.user_id != payload.user_id or part.status == FETCHED:
        return
    part.status, part.download_url, part.sha256 = READY, payload.download_url, payload.sha256
    part.record_counts, part.updated_at, part.last_error = dict(payload.record_counts), now, None
    uow.session.add(part)
    await schedule(
        uow.session,
        kind=FETCH,
        key=f"{export.id}:{service}",
        due_at=now,
        payload={"export_id": str(export.id), "service": service},
    )


async def fetch(uow: UnitOfWork, payload: dict[str, Any], now: datetime) -> None:
    """Download an announced part, check its SHA-256, keep it (encrypted) and assemble the
    archive once every part is in. A failure raises: the timer tries again with backoff, and
    the re-ask timer asks the service for a fresh link meanwhile."""
    export_id, service = uuid.UUID(str(payload["export_id"])), str(payload["service"])
    export = await uow.session.get(DataExport, export_id, with_for_update=True)
    part = await uow.session.get(DataExportPart, (export_id, service), with_for_update=True)
    if export is None or part is None or export.status != COLLECTING or part.status != READY:
        return
    policy = ExportPolicy.read(export.policy)
    assert part.download_url is not None
    response = await fetch_part(part.download_url, timeout=policy.fetch_timeout_seconds)
    if response.status != 200:
        part.last_error = f"HTTP {response.status}"
        part.status = REQUESTED  # the link is spent or gone: the re-ask gets a new one
        uow.session.add(part)
        return
    body = response.body
    if hashlib.sha256(body).hexdigest() != part.sha256:
        part.last_error, part.status = "sha256 mismatch", REQUESTED
        uow.session.add(part)
        return
    part.body, part.status, part.updated_at = body.decode(), FETCHED, now
    part.download_url = None
    uow.session.add(part)
    await uow.session.flush()
    parts = await parts_of(uow, export_id)
    if all(p.status == FETCHED for p in parts):
        await _assemble(uow, export, policy, now)


async def reask(uow: UnitOfWork, export_id: uuid.UUID, now: datetime) -> None:
    """Ask the services whose part is not in yet again (and come back later)."""
    export = await uow.session.get(DataExport, export_id, with_for_update=True)
    if export is None or export.status != COLLECTING:
        return
    policy = ExportPolicy.read(export.policy)
    missing = [p for p in await parts_of(uow, export_id) if p.status in (REQUESTED, READY)]
    if not missing:
        return
    for part in missing:
        part.asked += 1
        part.status, part.updated_at = REQUESTED, now
        uow.session.add(part)
    uow.emit(
        DataExportRequestedV1(
            export_id=export.id,
            user_id=export.user_id,
            requested_at=export.requested_at,
            deadline_at=export.final_deadline_at,
            expected_parts=[p.service for p in missing],
        )
    )
    next_time = now + timedelta(minutes=policy.reask_minutes)
    if next_time < export.final_deadline_at:
        await schedule(uow.session, kind=REASK, key=str(export.id), due_at=next_time)


async def final_deadline(uow: UnitOfWork, export_id: uuid.UUID, now: datetime) -> None:
    """The final deadline: complete with what is in, marked incomplete, the missing named."""
    export = await uow.session.get(DataExport, export_id, with_for_update=True)
    if export is None or export.status != COLLECTING:
        return
    await _assemble(uow, export, ExportPolicy.read(export.policy), now)


async def _own_part(uow: UnitOfWork, user_id: uuid.UUID) -> dict[str, Any]:
    """cabinet's part: the account, consents history, diary, requests."""
    user = await uow.session.get(User, user_id)
    assert user is not None
    records = (
        await uow.session.exec(
            select(ConsentRecord)
            .where(ConsentRecord.user_id == user_id)
            .order_by(col(ConsentRecord.at), col(ConsentRecord.id))
        )
    ).all()
    diary = (
        await uow.session.exec(
            select(DiaryEntry)
            .where(DiaryEntry.user_id == user_id)
            .order_by(col(DiaryEntry.entry_date), col(DiaryEntry.id))
        )
    ).all()
    erasures = (
        await uow.session.exec(select(ErasureRequest).where(ErasureRequest.user_id == user_id))
    ).all()
    exports = (
        await uow.session.exec(select(DataExport).where(DataExport.user_id == user_id))
    ).all()
    entries = []
    for row in diary:
        e = entry_of(row)
        entries.append(
            {
                "id": str(e.id),
                "date": e.entry_date.isoformat(),
                "appointment_id": None if e.appointment_id is None else str(e.appointment_id),
                **e.body.to_json(),
                "shared": e.shared,
                "created_at": e.created_at.isoformat(),
                "updated_at": e.updated_at.isoformat(),
            }
        )
    data = {
        "account": {
            "id": str(user.id),
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "phone": user.phone,
            "phone_verified": user.phone_verified,
            "time_zone": user.time_zone,
            "language": user.language,
            "roles": list(user.roles),
            "created_at": user.created_at.isoformat(),
        },
        "consents": [
            {
                "id": str(r.id),
                "purpose": r.purpose,
                "document_id": str(r.document_id),
                "document_version": r.document_version,
                "action": r.action,
                "at": r.at.isoformat(),
                "source_ip": r.source_ip,
                "user_agent": r.user_agent,
            }
            for r in records
        ],
        "diary": entries,
        "erasure_requests": [
            {
                "id": str(r.id),
                "status": r.status,
                "reason": r.reason,
                "requested_at": r.requested_at.isoformat(),
                "execute_at": r.execute_at.isoformat(),
            }
            for r in erasures
        ],
        "data_exports": [
            {"id": str(x.id), "status": x.status, "requested_at": x.requested_at.isoformat()}
            for x in exports
        ],
        "leads": await leads.export_of(uow, user_id, user.email_index),  # CRM leads
    }
    return {
        "schema": SCHEMA,
        "service": "cabinet",
        "user_id": str(user_id),
        "data": data,
        "record_counts": {k: (1 if k == "account" else len(v)) for k, v in data.items()},
        "withheld": [],
    }


async def _assemble(
    uow: UnitOfWork, export: DataExport, policy: ExportPolicy, now: datetime
) -> None:
    parts = await parts_of(uow, export.id)
    missing = [p.service for p in parts if p.status != FETCHED]
    own = await _own_part(uow, export.user_id)
    documents: dict[str, dict[str, Any]] = {"cabinet": own}
    summaries = [rules.PartSummary("cabinet", FETCHED, own["record_counts"])]
    withheld: list[rules.Withheld] = []
    for part in parts:
        if part.status == FETCHED and part.body is not None:
            document = json.loads(part.body)
            documents[part.service] = document
            withheld += rules.withheld_of(part.service, document)
            summaries.append(rules.PartSummary(part.service, FETCHED, part.record_counts))
        else:
            part.status = MISSING
            summaries.append(rules.PartSummary(part.service, MISSING, {}))
        part.body, part.download_url, part.updated_at = None, None, now
        uow.session.add(part)
    reason = (
        rules.incomplete_reason(missing, export.final_deadline_at, export.language)
        if missing
        else None
    )
    summary = rules.summary_text(
        language=export.language,
        user_id=str(export.user_id),
        requested_at=export.requested_at,
        completed_at=now,
        parts=summaries,
        withheld=withheld,
        incomplete_reason=reason,
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        name = "README.txt" if export.language == "en" else "ПРОЧТИТЕ.txt"
        archive.writestr(name, summary)
        for service, document in documents.items():
            archive.writestr(f"{service}.json", json.dumps(document, ensure_ascii=False, indent=1))
    blob = buffer.getvalue()
    token = secrets.token_urlsafe(32)
    export.archive = base64.b64encode(blob).decode()
    export.archive_sha256 = hashlib.sha256(blob).hexdigest()
    export.download_token_hash = hashlib.sha256(token.encode()).hexdigest()
    export.download_expires_at = now + timedelta(hours=policy.link_hours)
    export.status = INCOMPLETE if missing else COMPLETED
    export.incomplete_reason = reason
    export.completed_at = now
    uow.session.add(export)
    await schedule(uow.session, kind=EXPIRE, key=str(export.id), due_at=export.download_expires_at)
    origin = policy.public_origin.rstrip("/")
    uow.emit(
        DataExportCompletedV1(
            export_id=export.id,
            user_id=export.user_id,
            download_url=f"{origin}/data-export/{export.id}#token={token}",
            expires_at=export.download_expires_at,
            parts=["cabinet", *[p.service for p in parts if p.status == FETCHED]],
            incomplete=bool(missing),
            missing_parts=missing,
        )
    )


async def download(
    uow: UnitOfWork, user_id: uuid.UUID, export_id: uuid.UUID, token: str, now: datetime
) -> bytes:
    """The archive, once: its link's token must be this export's, unused and unexpired. The
    archive is dropped as it is handed out."""
    export = await uow.session.get(DataExport, export_id, with_for_update=True)
    if export is None or export.user_id != user_id:
        raise ExportNotFound()
    if export.status == COLLECTING:
        raise ExportNotReady()
    digest = hashlib.sha256(token.encode()).hexdigest()
    if (
        export.archive is None
        or export.download_token_hash is None
        or not secrets.compare_digest(digest, export.download_token_hash)
        or export.download_expires_at is None
        or export.download_expires_at <= now
    ):
        raise DownloadLinkInvalid()
    blob = base64.b64decode(export.archive)
    export.archive, export.downloaded_at = None, now
    uow.session.add(export)
    return blob


@dataclass(frozen=True)
class OpenRequest:
    """An export not answered yet, against its legal deadline."""

    export: DataExport
    overdue: bool


async def open_requests(uow: UnitOfWork, today: date) -> list[OpenRequest]:
    """Every export still being collected, overdue ones first, then by legal deadline."""
    rows = (
        await uow.session.exec(
            select(DataExport)
            .where(DataExport.status == COLLECTING)
            .order_by(col(DataExport.legal_deadline), col(DataExport.requested_at))
        )
    ).all()
    found = [OpenRequest(r, rules.is_overdue(r.legal_deadline, today)) for r in rows]
    return sorted(found, key=lambda o: (not o.overdue, o.export.legal_deadline))


async def expire(uow: UnitOfWork, export_id: uuid.UUID, now: datetime) -> None:
    """The archive's link expired unused: drop the archive (nothing decryptable is left)."""
    export = await uow.session.get(DataExport, export_id, with_for_update=True)
    if export is None or export.archive is None:
        return
    if export.download_expires_at is not None and export.download_expires_at <= now:
        export.archive = None
        uow.session.add(export)

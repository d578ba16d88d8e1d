"""What every service holding personal data does the same way for data-subject requests
(docs/data-rights.md): its part of an export, served through the gateway by a signed, expiring
link for that one user; and the tombstone of an erased user, which its consumers check so an
event still in flight never recreates what was erased.

Each service declares two tables of the same shape in its own metadata (the schema-drift test
compares them with its migrations): ``export_files`` (``export_id`` primary key, ``user_id``,
``token_hash`` unique, ``body`` an ``EncryptedString``, ``sha256``, ``size_bytes``,
``record_counts`` JSONB, ``created_at``, ``expires_at``, ``downloaded_at``) and
``erased_users`` (``user_id`` primary key, ``erasure_request_id``, ``erased_at``). The
functions here read and write them with plain SQL.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.cabinet.v1 import DataExportRequestedV1, UserErasureRequestedV1
from contracts.data_rights import DataExportPart, RetainedData, UserDataErased
from contracts.envelope import EventEnvelope
from fastapi import APIRouter, Response
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit.http.deps import NowDep, UowDep
from servicekit.http.problems import Msg, NotFound
from servicekit.http.responses import problem_responses
from servicekit.messaging.consumer import EventConsumer
from servicekit.messaging.outbox import UnitOfWork
from servicekit.security.fields import get_keyring
from servicekit.settings import ServiceSettings

__all__ = [
    "Category",
    "ExportFile",
    "answer_erasure",
    "answer_export",
    "data_rights_consumer",
    "erased",
    "erased_among",
    "export_file_for_download",
    "export_files_router",
    "iso",
    "skip_erased_users",
    "store_export_file",
    "tombstone",
    "write",
]

#: Payload fields that name the person an event is about.
SUBJECT_FIELDS = ("user_id", "client_id")

Handler = Callable[[UnitOfWork, EventEnvelope[Any]], Awaitable[None]]


def iso(value: Any) -> Any:
    """A time (or date) in an export as RFC 3339 text; None stays None."""
    return None if value is None else value.isoformat()


async def write(session: AsyncSession, statement: Any) -> Any:
    """Run an erasure's UPDATE or DELETE as a plain statement in the session's transaction: the
    ORM's synchronisation of loaded rows would compare encrypted columns, which they refuse
    (and none of the rows erased is needed loaded)."""
    return await (await session.connection()).execute(statement)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ExportFile:
    """A service's part of an export, stored encrypted until its link is used or expires."""

    token: str
    sha256: str
    size_bytes: int
    expires_at: datetime


def export_document(document: Any) -> bytes:
    """The part's bytes: compact, stable JSON (UTF-8), what the SHA-256 is taken of."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str).encode()


async def store_export_file(
    session: AsyncSession,
    *,
    export_id: uuid.UUID,
    user_id: uuid.UUID,
    body: bytes,
    record_counts: dict[str, int],
    now: datetime,
    ttl: timedelta,
) -> ExportFile:
    """Keep (or replace, when asked again) the part of ``export_id``; returns its new token."""
    token = secrets.token_urlsafe(32)
    sha = hashlib.sha256(body).hexdigest()
    await (await session.connection()).execute(
        text(
            "INSERT INTO export_files (export_id, user_id, token_hash, body, sha256, size_bytes,"
            " record_counts, created_at, expires_at, downloaded_at)"
            " VALUES (:e, :u, :t, :b, :s, :n, CAST(:c AS jsonb), :now, :exp, NULL)"
            " ON CONFLICT (export_id) DO UPDATE SET token_hash = EXCLUDED.token_hash,"
            " body = EXCLUDED.body, sha256 = EXCLUDED.sha256, size_bytes = EXCLUDED.size_bytes,"
            " record_counts = EXCLUDED.record_counts, created_at = EXCLUDED.created_at,"
            " expires_at = EXCLUDED.expires_at, downloaded_at = NULL"
        ),
        {
            "e": export_id,
            "u": user_id,
            "t": _digest(token),
            "b": get_keyring().encrypt(body.decode()),
            "s": sha,
            "n": len(body),
            "c": json.dumps(record_counts),
            "now": now,
            "exp": now + ttl,
        },
    )
    return ExportFile(token, sha, len(body), now + ttl)


async def export_file_for_download(
    session: AsyncSession, token: str, now: datetime
) -> bytes | None:
    """The part a link's token opens, if it has not expired (None otherwise); marks it
    downloaded. The body is dropped once downloaded: cabinet keeps the assembled archive."""
    row = (
        await (await session.connection()).execute(
            text(
                "UPDATE export_files AS f SET downloaded_at = :now, body = NULL"
                " FROM (SELECT export_id, body FROM export_files"
                " WHERE token_hash = :t AND expires_at > :now AND body IS NOT NULL"
                " FOR UPDATE) AS old"
                " WHERE f.export_id = old.export_id RETURNING old.body"
            ),
            {"t": _digest(token), "now": now},
        )
    ).first()
    if row is None:
        return None
    return get_keyring().decrypt(str(row[0])).encode()


async def erased(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Whether ``user_id`` was erased here."""
    return bool(await erased_among(session, [user_id]))


async def erased_among(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``user_ids`` erased here."""
    ids = list(set(user_ids))
    if not ids:
        return set()
    rows = await (await session.connection()).execute(
        text("SELECT user_id FROM erased_users WHERE user_id = ANY(:ids)"), {"ids": ids}
    )
    return {r[0] for r in rows}


async def tombstone(
    session: AsyncSession, user_id: uuid.UUID, erasure_request_id: uuid.UUID, now: datetime
) -> None:
    """Remember that ``user_id`` is erased (events about them arriving later are ignored)."""
    await (await session.connection()).execute(
        text(
            "INSERT INTO erased_users (user_id, erasure_request_id, erased_at)"
            " VALUES (:u, :r, :now) ON CONFLICT (user_id) DO NOTHING"
        ),
        {"u": user_id, "r": erasure_request_id, "now": now},
    )
    # The part of an export not yet downloaded holds their data too.
    await (await session.connection()).execute(
        text("DELETE FROM export_files WHERE user_id = :u"), {"u": user_id}
    )


def _subjects(payload: Any) -> list[uuid.UUID]:
    found = []
    for name in SUBJECT_FIELDS:
        value = getattr(payload, name, None)
        if isinstance(value, uuid.UUID):
            found.append(value)
    return found


def _guarded(handler: Handler) -> Handler:
    async def handle(uow: UnitOfWork, event: EventEnvelope[Any]) -> None:
        subjects = _subjects(event.payload)
        if subjects and await erased_among(uow.session, subjects):
            return  # about a person erased here: recreate nothing
        await handler(uow, event)

    handle.__doc__ = handler.__doc__
    handle.__name__ = getattr(handler, "__name__", "handle")
    return handle


def skip_erased_users(consumer: EventConsumer, *, except_types: Iterable[str] = ()) -> None:
    """Make every handler of ``consumer`` ignore an event whose ``user_id`` or ``client_id`` is
    an erased user (the inbox still records it). Call once, where the consumer is defined,
    after its handlers are registered; ``except_types`` are event types handled anyway."""
    kept = set(except_types)
    for key, handler in list(consumer.handlers.items()):
        if key[0] not in kept:
            consumer.handlers[key] = _guarded(handler)


def create_data_rights_tables(op: Any) -> None:
    """Create ``export_files`` and ``erased_users`` (from a service's Alembic revision)."""
    import sqlalchemy as sa
    from sqlalchemy.dialects.postgresql import JSONB
    from sqlalchemy.types import DateTime

    ts = DateTime(timezone=True)
    op.create_table(
        "export_files",
        sa.Column("export_id", sa.Uuid(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("record_counts", JSONB(), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=False),
        sa.Column("downloaded_at", ts, nullable=True),
    )
    op.create_table(
        "erased_users",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("erasure_request_id", sa.Uuid(), nullable=False),
        sa.Column("erased_at", ts, nullable=False),
    )


def drop_data_rights_tables(op: Any) -> None:
    """Drop what :func:`create_data_rights_tables` made."""
    op.drop_table("erased_users")
    op.drop_table("export_files")


# -- a service's answers, table by table ----------------------------------------------------

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Withheld:
    """Records a part names but does not give, and why (in both languages)."""

    category: str
    count: int
    reason_ru: str
    reason_en: str


@dataclass(frozen=True)
class Category:
    """One kind of a user's data in a service (usually one table): how it is exported and how
    it is erased. ``erase`` deletes or anonymises and returns what it kept and why (None:
    nothing kept); ``withheld`` counts what the export does not give (by law), if anything."""

    name: str
    export: Callable[[AsyncSession, uuid.UUID], Awaitable[Rows]]
    erase: Callable[[AsyncSession, uuid.UUID, datetime], Awaitable[RetainedData | None]]
    withheld: Callable[[AsyncSession, uuid.UUID], Awaitable[Withheld | None]] | None = None


async def answer_export(
    uow: UnitOfWork,
    *,
    service: str,
    categories: Iterable[Category],
    part_event: type[DataExportPart],
    export_id: uuid.UUID,
    user_id: uuid.UUID,
    link: Callable[[str], str],
    ttl: timedelta,
    now: datetime,
) -> None:
    """Build this service's part of an export (one JSON document, decrypted for the user),
    keep it encrypted behind a fresh signed link and announce it (``part_event``)."""
    if await erased(uow.session, user_id):
        return
    data: dict[str, Rows] = {}
    withheld: list[dict[str, Any]] = []
    for category in categories:
        data[category.name] = await category.export(uow.session, user_id)
        if category.withheld is not None:
            found = await category.withheld(uow.session, user_id)
            if found is not None and found.count:
                withheld.append(
                    {
                        "category": found.category,
                        "count": found.count,
                        "reason": {"ru": found.reason_ru, "en": found.reason_en},
                    }
                )
    counts = {name: len(rows) for name, rows in data.items()}
    document = {
        "schema": f"praktika.{service}.data_export/1",
        "service": service,
        "user_id": str(user_id),
        "export_id": str(export_id),
        "generated_at": now.isoformat(),
        "data": data,
        "record_counts": counts,
        "withheld": withheld,
    }
    body = export_document(document)
    stored = await store_export_file(
        uow.session,
        export_id=export_id,
        user_id=user_id,
        body=body,
        record_counts=counts,
        now=now,
        ttl=ttl,
    )
    uow.emit(
        part_event(
            export_id=export_id,
            user_id=user_id,
            download_url=link(stored.token),
            expires_at=stored.expires_at,
            size_bytes=stored.size_bytes,
            sha256=stored.sha256,
            record_counts=counts,
        )
    )


async def answer_erasure(
    uow: UnitOfWork,
    *,
    categories: Iterable[Category],
    erased_event: type[UserDataErased],
    erasure_request_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
) -> None:
    """Erase or anonymise every category, leave the tombstone, and confirm (what was kept and
    why). A second request for the same user confirms again without erasing anything more."""
    retained: list[RetainedData] = []
    for category in categories:
        kept = await category.erase(uow.session, user_id, now)
        if kept is not None:
            retained.append(kept)
    await tombstone(uow.session, user_id, erasure_request_id, now)
    uow.emit(
        erased_event(
            erasure_request_id=erasure_request_id,
            user_id=user_id,
            erased_at=now,
            retained=retained,
        )
    )


def export_files_router() -> APIRouter:
    """``GET /data-export-files/{token}``: a service's part of an export, through the gateway,
    for whoever holds the signed link (cabinet, which fetches it once); 404 once used or
    expired."""
    router = APIRouter(tags=["data rights"])

    @router.get(
        "/data-export-files/{token}",
        response_class=Response,
        summary="A part of a user's data export (the signed, expiring link cabinet was sent)",
        responses={
            200: {"description": "The part, as `application/json`"},
            **problem_responses(404),
        },
    )
    async def download_export_file(token: str, uow: UowDep, now: NowDep) -> Response:
        body = await export_file_for_download(uow.session, token, now)
        if body is None:
            raise NotFound(
                Msg(
                    ru="Ссылка недействительна, уже использована или устарела.",
                    en="This link is invalid, used or expired.",
                )
            )
        await uow.commit()
        return Response(
            body, media_type="application/json", headers={"Cache-Control": "private, no-store"}
        )

    return router


@dataclass(frozen=True)
class PartLinks:
    """Where a service's export parts are served (through the gateway) and for how long."""

    public_origin: str
    service: str
    ttl: timedelta

    @classmethod
    def of(cls, settings: ServiceSettings) -> PartLinks:
        """From a service's settings (``data_export_link_minutes``, default a day)."""
        minutes = int(getattr(settings, "data_export_link_minutes", 24 * 60))
        return cls(settings.public_origin, settings.service_name, timedelta(minutes=minutes))

    def link(self, token: str) -> str:
        """The signed link of a part."""
        return f"{self.public_origin.rstrip('/')}/api/{self.service}/data-export-files/{token}"


def data_rights_consumer(
    service: str,
    categories: Sequence[Category],
    *,
    part_event: type[DataExportPart],
    erased_event: type[UserDataErased],
    links: PartLinks,
) -> EventConsumer:
    """The ``<service>.data-rights`` consumer: cabinet's export and erasure requests, answered
    by :func:`answer_export` and :func:`answer_erasure` over ``categories`` (only when the
    request names this service among its expected parts)."""
    consumer = EventConsumer(service, "data-rights")

    @consumer.handles(DataExportRequestedV1)
    async def export_requested(
        uow: UnitOfWork, event: EventEnvelope[DataExportRequestedV1]
    ) -> None:
        """Build and announce this service's part."""
        p = event.payload
        if service not in p.expected_parts:
            return
        await answer_export(
            uow,
            service=service,
            categories=categories,
            part_event=part_event,
            export_id=p.export_id,
            user_id=p.user_id,
            link=links.link,
            ttl=links.ttl,
            now=uow.now(),
        )

    @consumer.handles(UserErasureRequestedV1)
    async def erasure_requested(
        uow: UnitOfWork, event: EventEnvelope[UserErasureRequestedV1]
    ) -> None:
        """Erase or anonymise this service's data of the user, and confirm."""
        p = event.payload
        if service not in p.expected_parts:
            return
        await answer_erasure(
            uow,
            categories=categories,
            erased_event=erased_event,
            erasure_request_id=p.erasure_request_id,
            user_id=p.user_id,
            now=uow.now(),
        )

    return consumer

"""content's tables (its own database; nobody else reads it).

Times are ``timestamptz`` in UTC. Questionnaire definitions are plain JSON (their wording is
public); what a person answered and what it scored is health data, in ``EncryptedString``
columns: the answers, one row per item, and a run's result (score, band, subscales, crisis).
A published definition version is never updated (a trigger of migration 0003 refuses it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from servicekit.security.fields import EncryptedString
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class ContentTable(SQLModel, registry=registry()):
    """Base of content's tables."""


metadata = ContentTable.metadata


def _utc(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


class Questionnaire(ContentTable, table=True):
    """A questionnaire: its editable draft and how many versions of it are published.

    ``owner_id`` is the specialist who wrote it (``None``: the practice's, written by an admin).
    The practice's questionnaires are public; a specialist's are taken by the clients they
    assign it to.
    """

    __tablename__ = "questionnaires"
    __table_args__ = (UniqueConstraint("code", name="questionnaires_code"),)

    id: uuid.UUID = Field(primary_key=True)
    code: str
    owner_id: uuid.UUID | None = Field(default=None, index=True)
    draft: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    latest_version: int = Field(default=0, description="0: never published")
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    archived_at: datetime | None = _utc(nullable=True)


class DefinitionVersion(ContentTable, table=True):
    """A published, immutable version of a questionnaire's definition."""

    __tablename__ = "definition_versions"
    __table_args__ = (
        UniqueConstraint("questionnaire_id", "version", name="definition_versions_number"),
    )

    id: uuid.UUID = Field(primary_key=True)
    questionnaire_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("questionnaires.id"), nullable=False)
    )
    version: int
    definition: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    published_at: datetime = _utc()
    published_by: uuid.UUID | None = None


class Run(ContentTable, table=True):
    """One taking of a questionnaire, scored by the version it started on.

    A signed-in run has ``user_id``; an anonymous one has the SHA-256 of its run token (the
    token itself is shown once), and keeps it after it is claimed, so a second claim can be
    told apart from a guess. ``result`` is the encrypted JSON of the score (health data).
    """

    __tablename__ = "runs"

    id: uuid.UUID = Field(primary_key=True)
    questionnaire_id: uuid.UUID = Field(index=True)
    version_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("definition_versions.id"), nullable=False)
    )
    definition_version: int
    user_id: uuid.UUID | None = Field(default=None, index=True)
    token_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    assignment_id: uuid.UUID | None = None
    status: str = Field(sa_column=Column(String(16), nullable=False))
    started_at: datetime = _utc()
    completed_at: datetime | None = _utc(nullable=True)
    claimed_at: datetime | None = _utc(nullable=True)
    result: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))


class RunAnswer(ContentTable, table=True):
    """A run's answer to one item (health data: the option chosen is encrypted)."""

    __tablename__ = "run_answers"

    run_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    item_id: str = Field(sa_column=Column(String(40), primary_key=True, nullable=False))
    option: str = Field(sa_column=Column(EncryptedString, nullable=False))
    answered_at: datetime = _utc()


class Assignment(ContentTable, table=True):
    """A specialist asked a client to take a questionnaire by ``due_at``, once or every
    ``repeat_every_days``; ``occurrence`` counts the due dates so far (the overdue timer is
    keyed by it)."""

    __tablename__ = "assignments"

    id: uuid.UUID = Field(primary_key=True)
    specialist_id: uuid.UUID = Field(index=True)
    client_id: uuid.UUID = Field(index=True)
    questionnaire_id: uuid.UUID
    repeat_every_days: int | None = None
    status: str = Field(sa_column=Column(String(16), nullable=False))
    occurrence: int = Field(sa_column=Column(Integer, nullable=False))
    due_at: datetime = _utc()
    overdue_since: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()
    last_completed_at: datetime | None = _utc(nullable=True)
    last_run_id: uuid.UUID | None = None
    cancelled_at: datetime | None = _utc(nullable=True)


class Consent(ContentTable, table=True):
    """content's copy of a user's consent for one purpose (from cabinet's events)."""

    __tablename__ = "consents"

    user_id: uuid.UUID = Field(primary_key=True)
    purpose: str = Field(primary_key=True)
    granted: bool
    document_id: uuid.UUID
    document_version: int
    changed_at: datetime = _utc()
    consent_id: uuid.UUID


class ConsentDocument(ContentTable, table=True):
    """A published consent document version (whether older grants still count)."""

    __tablename__ = "consent_documents"

    document_id: uuid.UUID = Field(primary_key=True)
    purpose: str = Field(index=True)
    version: int
    effective_from: datetime = _utc()
    requires_reconsent: bool


class Appointment(ContentTable, table=True):
    """content's copy of an appointment (from booking's events): who is whose client, and the
    sessions a client's trend shows beside their scores. Ids and times only."""

    __tablename__ = "appointments"

    appointment_id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    specialist_id: uuid.UUID = Field(index=True)
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    status: str = Field(sa_column=Column(String(24), nullable=False))
    confirmed: bool = Field(description="It was confirmed at some point: a real client")
    changed_at: datetime = _utc()


class ExportFile(ContentTable, table=True):
    """content's part of a user's data export, encrypted until cabinet fetches it through its
    signed link (``token_hash``: the link's SHA-256) or it expires (servicekit.data_rights)."""

    __tablename__ = "export_files"

    export_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    body: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    sha256: str = Field(max_length=64)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    record_counts: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False)
    )
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    downloaded_at: datetime | None = _utc(nullable=True)


class ErasedUser(ContentTable, table=True):
    """The tombstone of an erased user: events about them arriving later change nothing."""

    __tablename__ = "erased_users"

    user_id: uuid.UUID = Field(primary_key=True)
    erasure_request_id: uuid.UUID
    erased_at: datetime = _utc()

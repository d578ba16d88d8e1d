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
    Index,
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
    # An anonymous taker left a contact (once): only the fact and the keyed hash of the address
    # it came from (rate limits). The contact itself went to cabinet, sealed, and is not kept.
    contact_left_at: datetime | None = _utc(nullable=True)
    contact_source_index: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, index=True)
    )


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


# -- articles and resources ------------------------------------------------------------------


class Item(ContentTable, table=True):
    """A content item (article, exercise, audio or video resource) and its live revision.

    The columns from ``title`` to ``reading_minutes`` are the live (published) text, copied from
    the revision a reviewer approved: search and the public pages read them, so an edit under
    review never shows. ``search`` (a generated ``tsvector``, ``russian`` or ``english`` by
    ``language``, weights title A, summary B, body C) and the trigram index on ``title`` exist
    only in the database (migration 0005): raw SQL reads them.
    """

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("language", "slug", name="items_slug"),)

    id: uuid.UUID = Field(primary_key=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    language: str = Field(sa_column=Column(String(2), nullable=False))
    slug: str = Field(sa_column=Column(String(120), nullable=False))
    author_id: uuid.UUID = Field(index=True)
    status: str = Field(sa_column=Column(String(16), nullable=False))
    revision: int = Field(default=0, description="The live revision (0: never published)")
    pending_revision: int | None = Field(default=None, description="A revision not yet live")
    title: str | None = None
    summary: str | None = None
    body: str | None = None
    body_html: str | None = None
    body_text: str | None = None
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    cover_url: str | None = None
    media_url: str | None = None
    reading_minutes: int | None = None
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    first_published_at: datetime | None = _utc(nullable=True)
    published_at: datetime | None = _utc(nullable=True)
    published_by: uuid.UUID | None = None
    archived_at: datetime | None = _utc(nullable=True)
    archived_by: uuid.UUID | None = None


class LibraryState(ContentTable, table=True):
    """One row: ``version`` counts the changes of what the public library shows (each
    publication and archiving), so a process's remembered searches know when they are stale."""

    __tablename__ = "library_state"

    id: int = Field(primary_key=True)
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


class ItemRevision(ContentTable, table=True):
    """One revision of an item's text: a draft, under review, published, returned (changes
    asked), or superseded by a later publication; who wrote, submitted and reviewed it, when."""

    __tablename__ = "item_revisions"

    item_id: uuid.UUID = Field(
        sa_column=Column(Uuid, ForeignKey("items.id"), primary_key=True, nullable=False)
    )
    number: int = Field(sa_column=Column(Integer, primary_key=True, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    title: str
    summary: str | None = None
    body: str
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    cover_url: str | None = None
    media_url: str | None = None
    created_by: uuid.UUID
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    submitted_by: uuid.UUID | None = None
    submitted_at: datetime | None = _utc(nullable=True)
    reviewed_by: uuid.UUID | None = None
    reviewed_at: datetime | None = _utc(nullable=True)
    review_note: str | None = None


# -- user-generated posts and moderation ----------------------------------------------------


class Post(ContentTable, table=True):
    """A user's question to a specialist, comment on an item, or review of a specialist.

    Free text from a person (it may well be health data): ``body``, ``contact``, ``answer`` and
    the moderator's ``reason`` are encrypted. ``token_hash`` is the SHA-256 of an anonymous
    question's post token (shown once); ``source_index`` and ``text_index`` are keyed hashes of
    the sender's address and of the normalized text (rate limits, repeated submissions): neither
    can be read back.
    """

    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_status_created_at", "status", "created_at", "id"),)

    id: uuid.UUID = Field(primary_key=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(sa_column=Column(String(24), nullable=False))
    author_id: uuid.UUID | None = Field(default=None, index=True)
    token_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    contact: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    language: str = Field(sa_column=Column(String(2), nullable=False))
    specialist_id: uuid.UUID | None = Field(default=None, index=True)
    item_id: uuid.UUID | None = Field(default=None, index=True)
    appointment_id: uuid.UUID | None = None
    rating: int | None = None
    body: str = Field(sa_column=Column(EncryptedString, nullable=False))
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    source_index: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, index=True)
    )
    text_index: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    decided_at: datetime | None = _utc(nullable=True)
    decided_by: uuid.UUID | None = None
    reason: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    answer: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    answered_by: uuid.UUID | None = None
    answered_at: datetime | None = _utc(nullable=True)


class ModerationDecision(ContentTable, table=True):
    """Every decision on a post, automatic (``moderator_id`` ``None``) or a moderator's: who,
    when, what, why, the flags, and the text exactly as it was decided on (encrypted)."""

    __tablename__ = "moderation_decisions"

    id: uuid.UUID = Field(primary_key=True)
    post_id: uuid.UUID = Field(sa_column=Column(Uuid, ForeignKey("posts.id"), nullable=False))
    moderator_id: uuid.UUID | None = None
    decision: str = Field(sa_column=Column(String(24), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    flags: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    text: str = Field(sa_column=Column(EncryptedString, nullable=False))
    decided_at: datetime = _utc()


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

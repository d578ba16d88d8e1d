"""cabinet's tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from servicekit.security.fields import EncryptedString
from sqlalchemy import BigInteger, Column, Date, DateTime, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class CabinetTable(SQLModel, registry=registry()):
    """Base of cabinet's tables."""


metadata = CabinetTable.metadata


class User(CabinetTable, table=True):
    """An account. Email, name and phone are encrypted; email and phone are found by their
    keyed blind indexes. The email's index is unique; a phone's only once it is verified
    (migration 0004's partial index ``users_verified_phone``): an unverified number reserves
    nothing, so nobody can squat another person's number by typing it in."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(sa_column=Column(EncryptedString, nullable=False))
    email_index: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    email_verified: bool = False
    name: str = Field(sa_column=Column(EncryptedString, nullable=False))
    phone: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    phone_index: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    phone_verified: bool = False
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    time_zone: str
    language: str = Field(max_length=8)
    roles: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # Set when the account is erased: its contacts are overwritten, nobody can log in.
    erased_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class OneTimeToken(CabinetTable, table=True):
    """A single-use link token (email verification, password reset), stored as its SHA-256."""

    __tablename__ = "one_time_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    purpose: str = Field(max_length=32)  # verify_email | reset_password
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class RefreshToken(CabinetTable, table=True):
    """A refresh token (SHA-256 only). Every use rotates it: the old row gets ``used_at`` and
    ``replaced_by``; presenting a used token again revokes the whole family (theft detection).
    The family is the session: its id is the access tokens' ``sid``, and it ends at
    ``family_expires_at`` (set at login, copied to every rotation) however often it is used."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    family_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    family_expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    used_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    replaced_by: uuid.UUID | None = None
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class LoginThrottle(CabinetTable, table=True):
    """Counted attempts per key in a window (``cabinet.adapters.throttles``): failed logins
    (``account:<email index>``, ``address:<ip>``), verification resends (``resend:<email
    index>``, ``resend-from:<ip>``), notices of registration attempts (``attempt:<email index>``).
    """

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    window_started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    locked_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class SpecialistProfile(CabinetTable, table=True):
    """A specialist's public profile as they last wrote it. Nobody reads it here: booking
    learns of it by event and serves the one public catalogue (profile, services, zone)."""

    __tablename__ = "specialist_profiles"

    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True)
    display_name: str = Field(max_length=200)
    bio: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    photo_url: str | None = Field(default=None, max_length=1000)
    active: bool = True
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ConsentDocument(CabinetTable, table=True):
    """One version of the consent document of one purpose; immutable once published."""

    __tablename__ = "consent_documents"
    __table_args__ = (UniqueConstraint("purpose", "version", name="consent_documents_version"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    purpose: str = Field(max_length=40)
    version: int
    title: str = Field(max_length=300)
    text: str = Field(sa_column=Column(Text, nullable=False))
    effective_from: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    requires_reconsent: bool
    published_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    published_by: uuid.UUID


class ConsentRecord(CabinetTable, table=True):
    """An immutable audit row: a grant or a withdrawal of one purpose by one user."""

    __tablename__ = "consent_records"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    purpose: str = Field(max_length=40)
    document_id: uuid.UUID = Field(foreign_key="consent_documents.id")
    document_version: int
    action: str = Field(max_length=10)  # granted | withdrawn
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    source_ip: str = Field(max_length=64)
    user_agent: str | None = Field(default=None, max_length=500)


class DiaryEntry(CabinetTable, table=True):
    """A client's diary entry. Everything they wrote (mood, emotions, tags, sleep, text) is
    health data: one encrypted JSON document (``body``). Private unless ``shared_at`` is set:
    then the client's specialists read it, until it is unshared."""

    __tablename__ = "diary_entries"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    entry_date: date = Field(sa_column=Column(Date, nullable=False))
    appointment_id: uuid.UUID | None = None
    body: str = Field(sa_column=Column(EncryptedString, nullable=False))
    shared_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class AppointmentCopy(CabinetTable, table=True):
    """cabinet's copy of booking's appointments (ids and times only): which specialists a
    client has (a confirmed appointment at some point), what a diary entry may point at, the
    sessions on the mood trend's time axis."""

    __tablename__ = "appointments"

    appointment_id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    specialist_id: uuid.UUID = Field(index=True)
    starts_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ends_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = Field(max_length=24)
    confirmed: bool
    changed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class DataExport(CabinetTable, table=True):
    """A user's request for a copy of their data, its parts' collection and the archive.

    The archive (a zip) is kept encrypted (``archive``, base64 in a Fernet token) until its
    link is used or it expires; the link's token is kept as its SHA-256 only."""

    __tablename__ = "data_exports"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    status: str = Field(max_length=16)  # collecting | completed | incomplete
    language: str = Field(max_length=8)
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    legal_deadline: date = Field(sa_column=Column(Date, nullable=False))
    final_deadline_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # What its timers need of the settings when it was asked (ExportPolicy).
    policy: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    incomplete_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    archive: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    archive_sha256: str | None = Field(default=None, max_length=64)
    download_token_hash: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, unique=True)
    )
    download_expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    downloaded_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class DataExportPart(CabinetTable, table=True):
    """One service's part of an export: asked for, announced (its link, encrypted), fetched
    (its JSON, encrypted until the archive is made), or missing at the final deadline."""

    __tablename__ = "data_export_parts"

    export_id: uuid.UUID = Field(foreign_key="data_exports.id", primary_key=True)
    service: str = Field(primary_key=True, max_length=16)
    status: str = Field(max_length=16)  # requested | ready | fetched | missing
    asked: int = 1
    download_url: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    sha256: str | None = Field(default=None, max_length=64)
    body: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    record_counts: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False)
    )
    last_error: str | None = Field(default=None, max_length=300)
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ErasureRequest(CabinetTable, table=True):
    """A request to erase a user: by the user, or by an admin acting on a written request
    (``basis``, encrypted: it may name people). Executed after the cooling-off period unless
    cancelled; each service's confirmation is kept in ``confirmations``."""

    __tablename__ = "erasure_requests"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    reason: str = Field(max_length=24)  # user_request | admin
    requested_by: uuid.UUID
    basis: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    status: str = Field(max_length=16)  # cooling_off | cancelled | erasing | completed
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    execute_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    executed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    completed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    cancelled_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    confirmations: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False)
    )


class ExportFile(CabinetTable, table=True):
    """Unused by cabinet's own part (it assembles locally); the shape every service shares
    (servicekit.data_rights) is kept for the tombstone's clean-up statement."""

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
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    downloaded_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ErasedUser(CabinetTable, table=True):
    """The tombstone of an erased user: events about them arriving later change nothing."""

    __tablename__ = "erased_users"

    user_id: uuid.UUID = Field(primary_key=True)
    erasure_request_id: uuid.UUID
    erased_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

"""booking's tables (its own database; nobody else reads it).

Times are ``timestamptz`` in UTC; money is integer kopecks; P2 data (contacts, free-text reasons,
intake answers, outcome notes) is in ``EncryptedString`` columns.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from servicekit.security.fields import EncryptedString
from sqlalchemy import BigInteger, Column, Date, DateTime, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class BookingTable(SQLModel, registry=registry()):
    """Base of booking's tables."""


metadata = BookingTable.metadata


def _utc(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index),
    )


def _jsonb() -> Any:
    return Field(sa_column=Column(JSONB, nullable=False))


class Client(BookingTable, table=True):
    """booking's copy of a cabinet user (clients and specialists alike), from cabinet's events:
    the name a specialist sees in the calendar, the contacts a 54-FZ receipt needs (encrypted),
    the zone times are shown in, whether their email is verified (only then may they book or
    submit an intake form) and their roles (only a ``specialist`` has a specialist record)."""

    __tablename__ = "clients"

    user_id: uuid.UUID = Field(primary_key=True)
    name: str = Field(sa_column=Column(EncryptedString, nullable=False))
    email: str = Field(sa_column=Column(EncryptedString, nullable=False))
    phone: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    time_zone: str
    known_since: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    email_verified: bool = False
    roles: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False))


class ServiceOffering(BookingTable, table=True):
    """A service the practice offers, with the policies that govern its bookings."""

    __tablename__ = "services"

    id: uuid.UUID = Field(primary_key=True)
    name: str
    description: str
    durations: list[int] = Field(sa_column=Column(ARRAY(Integer), nullable=False))
    price_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    format: str
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    horizon_days: int
    slot_step_minutes: int | None = None
    prepayment_required: bool
    cancellation_tiers: list[dict[str, int]] = _jsonb()
    reschedule_min_notice_minutes: int
    max_reschedules: int
    active: bool
    owner_specialist_id: uuid.UUID | None = Field(default=None, index=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    version: int = 1


class Specialist(BookingTable, table=True):
    """A specialist (keyed by their cabinet user id, who holds the ``specialist`` role): the
    public profile cabinet announces (name, bio, photo), and what booking owns: zone, weekly
    hours, cap, services given. The one public catalogue of specialists is read from here."""

    __tablename__ = "specialists"

    user_id: uuid.UUID = Field(primary_key=True)
    display_name: str
    bio: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    photo_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    time_zone: str
    weekly_hours: list[dict[str, Any]] = _jsonb()
    daily_cap: int | None = None
    service_ids: list[uuid.UUID] = Field(sa_column=Column(ARRAY(Uuid), nullable=False))
    active: bool
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    version: int = 1


class ScheduleOverride(BookingTable, table=True):
    """A local date with other hours (``[]`` = day off; NULL = weekly hours) or another cap."""

    __tablename__ = "schedule_overrides"

    specialist_id: uuid.UUID = Field(primary_key=True)
    on_date: date = Field(sa_column=Column(Date, primary_key=True))
    hours: list[dict[str, str]] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    daily_cap: int | None = None
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TimeOff(BookingTable, table=True):
    """A span the specialist does not work (vacation, sick leave); the reason is encrypted."""

    __tablename__ = "time_off"

    id: uuid.UUID = Field(primary_key=True)
    specialist_id: uuid.UUID = Field(index=True)
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    reason: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    created_at: datetime = _utc()


class Appointment(BookingTable, table=True):
    """A client's session with a specialist, from hold to its end.

    ``occupied_from``/``occupied_until`` is the session plus both buffers: the exclusion
    constraint ``appointments_no_overlap`` refuses two rows of one specialist whose occupied
    ranges overlap while both are in a status that occupies time. What the service's policy was
    when the client booked is kept in ``policy`` (a later price or tier change does not apply).
    """

    __tablename__ = "appointments"

    id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID
    specialist_id: uuid.UUID
    service_id: uuid.UUID
    service_name: str
    specialist_name: str
    specialist_time_zone: str
    format: str
    duration_minutes: int
    price_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    buffer_before_minutes: int
    buffer_after_minutes: int
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    occupied_from: datetime = _utc()
    occupied_until: datetime = _utc()
    status: str
    hold_expires_at: datetime | None = _utc(nullable=True)
    prepayment_required: bool
    policy: dict[str, Any] = _jsonb()
    reschedule_count: int = 0
    confirmed_at: datetime | None = _utc(nullable=True)
    cancelled_at: datetime | None = _utc(nullable=True)
    cancelled_by: str | None = None
    cancelled_by_user_id: uuid.UUID | None = None
    cancel_reason: str | None = Field(
        default=None, sa_column=Column(EncryptedString, nullable=True)
    )
    refund_percent: int | None = None
    late_cancellation: bool | None = None
    marked_at: datetime | None = _utc(nullable=True)
    marked_by_user_id: uuid.UUID | None = None
    attendance_confirmed_at: datetime | None = _utc(nullable=True)
    waitlist_offer_id: uuid.UUID | None = None
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    version: int = 1


class SlotVersion(BookingTable, table=True):
    """How often what slot search reads about a service or a specialist (``key``: its id) has
    changed. Bumped by the database itself at every commit that changes it (migration 0007);
    nobody writes it by hand."""

    __tablename__ = "slot_versions"

    key: uuid.UUID = Field(primary_key=True)
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


class IdempotencyKey(BookingTable, table=True):
    """A POST's ``Idempotency-Key``: what was asked (a fingerprint) and what was answered.

    ``status_code`` is NULL while the first request is still running (a multi-step booking with a
    payment); a replay then gets 409 ``request_in_progress``.
    """

    __tablename__ = "idempotency_keys"

    user_id: uuid.UUID = Field(primary_key=True)
    key: str = Field(primary_key=True)
    operation: str
    fingerprint: str
    status_code: int | None = None
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime = _utc()


class Payment(BookingTable, table=True):
    """A YooKassa payment for an appointment. ``id`` is ours and the create call's
    ``Idempotence-Key``; the provider's status is mirrored only from re-fetched objects."""

    __tablename__ = "payments"

    id: uuid.UUID = Field(primary_key=True)
    appointment_id: uuid.UUID = Field(index=True)
    client_id: uuid.UUID
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    # What the appointment shows: new, pending, waiting_for_capture, succeeded, canceled,
    # not_created. ``canceled`` as soon as the hold ends, whatever YooKassa says yet.
    status: str
    # YooKassa's own status at the last re-fetch (None before the payment exists there).
    provider_status: str | None = None
    provider_payment_id: str | None = Field(default=None, unique=True)
    confirmation_url: str | None = None
    paid_at: datetime | None = _utc(nullable=True)
    cancellation_party: str | None = None
    cancellation_reason: str | None = None
    cancel_wanted: bool = False  # the hold ended: never capture; void it at YooKassa if paid
    late: bool = False  # succeeded after its hold had ended: refunded, never kept
    refunded_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Refund(BookingTable, table=True):
    """Money going back for a payment; ``id`` is the refund call's ``Idempotence-Key``."""

    __tablename__ = "refunds"

    id: uuid.UUID = Field(primary_key=True)
    payment_id: uuid.UUID = Field(index=True)
    appointment_id: uuid.UUID
    client_id: uuid.UUID
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    percent: int
    reason: str  # client_cancellation, specialist_cancellation, admin_cancellation, late_payment
    status: str  # requested, pending, succeeded, canceled
    attempt: int = 1  # a refund YooKassa cancels is tried again as a new row (a new key)
    retry_of: uuid.UUID | None = None
    provider_refund_id: str | None = None
    refunded_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class Consent(BookingTable, table=True):
    """booking's copy of a user's consent for one purpose (from cabinet's events)."""

    __tablename__ = "consents"

    user_id: uuid.UUID = Field(primary_key=True)
    purpose: str = Field(primary_key=True)
    granted: bool
    document_id: uuid.UUID
    document_version: int
    changed_at: datetime = _utc()
    consent_id: uuid.UUID


class ConsentDocument(BookingTable, table=True):
    """A published consent document version (whether older grants still count)."""

    __tablename__ = "consent_documents"

    document_id: uuid.UUID = Field(primary_key=True)
    purpose: str = Field(index=True)
    version: int
    effective_from: datetime = _utc()
    requires_reconsent: bool


class IntakeForm(BookingTable, table=True):
    """A client's intake form for a specialist (one per pair); the answers are encrypted JSON."""

    __tablename__ = "intake_forms"

    id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID
    specialist_id: uuid.UUID
    appointment_id: uuid.UUID | None = None
    answers: str = Field(sa_column=Column(EncryptedString, nullable=False))
    submitted_at: datetime = _utc()


class OutcomeRecord(BookingTable, table=True):
    """The specialist's notes after a session (the client never sees them); encrypted."""

    __tablename__ = "outcome_records"

    id: uuid.UUID = Field(primary_key=True)
    appointment_id: uuid.UUID = Field(unique=True)
    client_id: uuid.UUID
    specialist_id: uuid.UUID
    notes: str = Field(sa_column=Column(EncryptedString, nullable=False))
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    version: int = 1


class WaitlistEntry(BookingTable, table=True):
    """A client waiting for a service (with a specialist, or any) within time windows.

    ``windows`` is ``[[from, to], …]`` (RFC 3339, UTC). The queue order is the table's
    ``position`` column, an identity the database assigns (not mapped here).
    """

    __tablename__ = "waitlist_entries"

    id: uuid.UUID = Field(primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    service_id: uuid.UUID
    specialist_id: uuid.UUID | None = None
    duration_minutes: int
    windows: list[list[str]] = _jsonb()
    status: str  # waiting, booked, left (by its client), expired
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class WaitlistOffer(BookingTable, table=True):
    """A freed slot offered to one waiting client until ``expires_at``."""

    __tablename__ = "waitlist_offers"

    id: uuid.UUID = Field(primary_key=True)
    entry_id: uuid.UUID = Field(index=True)
    client_id: uuid.UUID
    service_id: uuid.UUID
    specialist_id: uuid.UUID
    duration_minutes: int
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    status: str  # open, accepted, expired, taken, withdrawn
    expires_at: datetime = _utc()
    appointment_id: uuid.UUID | None = None
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class CalendarFeed(BookingTable, table=True):
    """A person's private calendar subscription (docs/calendar-files.md): one per user, found by
    the SHA-256 of its token (the token itself is shown once and never stored). Revoking deletes
    the row; rotating replaces the hash."""

    __tablename__ = "calendar_feeds"

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(sa_column=Column(Uuid, nullable=False, unique=True))
    token_hash: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    show_client_names: bool = False
    language: str = Field(max_length=8)
    created_at: datetime = _utc()
    rotated_at: datetime = _utc()


class CalendarConnection(BookingTable, table=True):
    """A specialist's Google Calendar (docs/google-calendar.md): how booking reaches it and how
    the sync stands.

    ``credentials`` is encrypted JSON: ``{"refresh_token"}`` for an OAuth connection (the front
    end's consent), ``{"subject"}`` (the Workspace user impersonated) for the practice's service
    account with domain-wide delegation. ``sync_token`` is Google's for incremental
    ``events.list``; ``channel_*`` the live ``events.watch`` channel (its token is encrypted).
    ``status``: ``active``, or ``error`` with ``last_error`` (``revoked`` credentials, a
    ``permanent`` refusal) until the specialist reconnects.
    """

    __tablename__ = "calendar_connections"

    specialist_id: uuid.UUID = Field(primary_key=True)
    kind: str  # oauth, service_account
    calendar_id: str
    credentials: str = Field(sa_column=Column(EncryptedString, nullable=False))
    client_label: str  # initials, none
    status: str  # active, error
    last_error: str | None = None
    last_error_at: datetime | None = _utc(nullable=True)
    last_sync_at: datetime | None = _utc(nullable=True)
    sync_token: str | None = None
    channel_id: str | None = Field(default=None, index=True)
    channel_token: str | None = Field(
        default=None, sa_column=Column(EncryptedString, nullable=True)
    )
    channel_resource_id: str | None = None
    channel_expires_at: datetime | None = _utc(nullable=True)
    sync_round: int = 0
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


class CalendarEvent(BookingTable, table=True):
    """The Google event of one appointment (its id is derived from the appointment's).

    ``state``: ``pending`` (a push is due), ``synced`` (Google has what was pushed), ``deleted``
    (the appointment ended and the event was removed), ``failed`` (a push Google refused for
    good), ``disputed`` (the specialist moved or deleted it in Google; booking asked them what
    to do). ``pushed_*`` are the times Google holds, to tell the specialist's moves from ours.
    """

    __tablename__ = "calendar_events"

    appointment_id: uuid.UUID = Field(primary_key=True)
    specialist_id: uuid.UUID = Field(index=True)
    event_id: str
    state: str
    pushed_starts_at: datetime | None = _utc(nullable=True)
    pushed_ends_at: datetime | None = _utc(nullable=True)
    etag: str | None = None
    last_error: str | None = None
    updated_at: datetime = _utc()


class CalendarBusy(BookingTable, table=True):
    """Time the specialist's other Google events take (imported; docs/google-calendar.md has the
    rules). Slot search and the booking check read it as they read time off."""

    __tablename__ = "calendar_busy"

    specialist_id: uuid.UUID = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()


class ExportFile(BookingTable, table=True):
    """booking's part of a user's data export, encrypted until cabinet fetches it through its
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


class ErasedUser(BookingTable, table=True):
    """The tombstone of an erased user: events about them arriving later change nothing."""

    __tablename__ = "erased_users"

    user_id: uuid.UUID = Field(primary_key=True)
    erasure_request_id: uuid.UUID
    erased_at: datetime = _utc()

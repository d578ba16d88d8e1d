"""cabinet's CRM tables (docs/leads.md): campaigns with their deep links, leads with their
touches, status changes and notes, and the payments that make a converted lead's revenue.

A lead's contacts (email, phone, name, Telegram username, notes) are encrypted; it is found by
the keyed blind indexes of its email, phone and Telegram chat, never by plaintext."""

from __future__ import annotations

import uuid
from datetime import datetime

from servicekit.security.fields import EncryptedString
from sqlalchemy import BigInteger, Column, DateTime, String
from sqlmodel import Field

from cabinet.adapters.tables import CabinetTable


def _ts(*, nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class Campaign(CabinetTable, table=True):
    """A named campaign: its UTM values, what its Telegram link opens, the link's token
    (encrypted: the practice may copy the link again; notify knows only its SHA-256)."""

    __tablename__ = "campaigns"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    source: str = Field(max_length=64)
    medium: str | None = Field(default=None, max_length=64)
    campaign: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    service_id: uuid.UUID | None = None
    specialist_id: uuid.UUID | None = None
    token: str = Field(sa_column=Column(EncryptedString, nullable=False))
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_by: uuid.UUID
    created_at: datetime = Field(sa_column=_ts())
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    revoked_by: uuid.UUID | None = None


class Lead(CabinetTable, table=True):
    """A person who showed interest, before and up to their first completed session."""

    __tablename__ = "leads"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str = Field(max_length=16)  # new | contacted | converted | lost
    status_changed_at: datetime = Field(sa_column=_ts())
    status_changed_by: uuid.UUID | None = None  # None: the system
    user_id: uuid.UUID | None = Field(default=None, unique=True)
    email: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    email_index: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, unique=True)
    )
    name: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    telegram_index: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, unique=True)
    )
    telegram_username: str | None = Field(
        default=None, sa_column=Column(EncryptedString, nullable=True)
    )
    phone: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    phone_index: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, unique=True)
    )
    # When the person last agreed to be contacted by the practice with the contact they left
    # (an anonymous questionnaire run's contact form: a consent given with that request).
    contact_consented_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    first_channel: str = Field(max_length=16)
    first_source: str | None = Field(default=None, max_length=64)
    first_medium: str | None = Field(default=None, max_length=64)
    first_campaign: str | None = Field(default=None, max_length=64)
    first_campaign_id: uuid.UUID | None = None
    first_at: datetime = Field(sa_column=_ts())
    last_channel: str = Field(max_length=16)
    last_source: str | None = Field(default=None, max_length=64)
    last_medium: str | None = Field(default=None, max_length=64)
    last_campaign: str | None = Field(default=None, max_length=64)
    last_campaign_id: uuid.UUID | None = None
    last_at: datetime = Field(sa_column=_ts())
    first_booked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    converted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    converted_appointment_id: uuid.UUID | None = None
    created_at: datetime = Field(sa_column=_ts())
    updated_at: datetime = Field(sa_column=_ts())


class LeadTouch(CabinetTable, table=True):
    """Every touch of a lead (the history behind its first and last touch)."""

    __tablename__ = "lead_touches"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    lead_id: uuid.UUID = Field(foreign_key="leads.id", index=True)
    channel: str = Field(max_length=16)
    source: str | None = Field(default=None, max_length=64)
    medium: str | None = Field(default=None, max_length=64)
    campaign: str | None = Field(default=None, max_length=64)
    campaign_id: uuid.UUID | None = None
    at: datetime = Field(sa_column=_ts())


class LeadStatusChange(CabinetTable, table=True):
    """Who moved a lead to which status, when (``changed_by`` None: the system)."""

    __tablename__ = "lead_status_changes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    lead_id: uuid.UUID = Field(foreign_key="leads.id", index=True)
    from_status: str = Field(max_length=16)
    to_status: str = Field(max_length=16)
    changed_by: uuid.UUID | None = None
    at: datetime = Field(sa_column=_ts())


class LeadNote(CabinetTable, table=True):
    """The practice's note about a lead (encrypted: free text about a person)."""

    __tablename__ = "lead_notes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    lead_id: uuid.UUID = Field(foreign_key="leads.id", index=True)
    author_id: uuid.UUID
    text: str = Field(sa_column=Column(EncryptedString, nullable=False))
    created_at: datetime = Field(sa_column=_ts())


class LeadMoney(CabinetTable, table=True):
    """A client's payment (positive) or refund (negative), from booking's events, in kopecks:
    the revenue of a converted lead's first 90 days."""

    __tablename__ = "lead_money"

    id: uuid.UUID = Field(primary_key=True)  # booking's payment_id or refund_id
    user_id: uuid.UUID = Field(index=True)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    at: datetime = Field(sa_column=_ts())

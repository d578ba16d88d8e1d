"""notify's tables (its own metadata; never shared with another service)."""

from __future__ import annotations

import uuid
from datetime import datetime

from servicekit.security.fields import EncryptedString
from sqlalchemy import Column, DateTime, String
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class NotifyTable(SQLModel, registry=registry()):
    """Base of notify's tables."""


metadata = NotifyTable.metadata


class Recipient(NotifyTable, table=True):
    """notify's own copy of a user's contacts, zone and language, from cabinet's events.

    Contacts are P2 data: encrypted at rest, found by the keyed blind index of the email.
    """

    __tablename__ = "recipients"

    user_id: uuid.UUID = Field(primary_key=True)
    email: str = Field(sa_column=Column(EncryptedString, nullable=False))
    email_index: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    name: str = Field(sa_column=Column(EncryptedString, nullable=False))
    phone: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    time_zone: str
    language: str = Field(max_length=8)
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

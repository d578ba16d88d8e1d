"""booking's tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from servicekit.security.fields import EncryptedString
from sqlalchemy import Column, DateTime
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class BookingTable(SQLModel, registry=registry()):
    """Base of booking's tables."""


metadata = BookingTable.metadata


class Client(BookingTable, table=True):
    """booking's copy of a client, from cabinet's events: the name a specialist sees in the
    calendar, the contacts a 54-FZ receipt needs, the zone times are shown in. Encrypted."""

    __tablename__ = "clients"

    user_id: uuid.UUID = Field(primary_key=True)
    name: str = Field(sa_column=Column(EncryptedString, nullable=False))
    email: str = Field(sa_column=Column(EncryptedString, nullable=False))
    phone: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    time_zone: str
    known_since: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

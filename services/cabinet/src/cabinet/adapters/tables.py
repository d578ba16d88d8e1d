"""cabinet's tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from servicekit.security.fields import EncryptedString
from sqlalchemy import Column, DateTime, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class CabinetTable(SQLModel, registry=registry()):
    """Base of cabinet's tables."""


metadata = CabinetTable.metadata


class User(CabinetTable, table=True):
    """An account. Email, name and phone are encrypted; email and phone are found by their
    keyed blind indexes, which are also what makes them unique."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(sa_column=Column(EncryptedString, nullable=False))
    email_index: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    email_verified: bool = False
    name: str = Field(sa_column=Column(EncryptedString, nullable=False))
    phone: str | None = Field(default=None, sa_column=Column(EncryptedString, nullable=True))
    phone_index: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, unique=True)
    )
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    time_zone: str
    language: str = Field(max_length=8)
    roles: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))

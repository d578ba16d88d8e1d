"""content's tables (content items and questionnaires arrive with their issue)."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class ContentTable(SQLModel, registry=registry()):
    """Base of content's tables."""


metadata = ContentTable.metadata

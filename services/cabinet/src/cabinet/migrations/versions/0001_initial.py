"""cabinet: kit tables (outbox, inbox, timers) and users.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit.db.tables import create_kit_tables, drop_kit_tables
from servicekit.security.fields import EncryptedString

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables(op)
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("email", EncryptedString(), nullable=False),
        sa.Column("email_index", sa.String(64), nullable=False, unique=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("name", EncryptedString(), nullable=False),
        sa.Column("phone", EncryptedString(), nullable=True),
        sa.Column("phone_index", sa.String(64), nullable=True, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("users")
    drop_kit_tables(op)

"""booking: kit tables (outbox, inbox, timers) and clients.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.db.tables import create_kit_tables, drop_kit_tables
from servicekit.security.fields import EncryptedString

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_kit_tables(op)
    op.create_table(
        "clients",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("name", EncryptedString(), nullable=False),
        sa.Column("email", EncryptedString(), nullable=False),
        sa.Column("phone", EncryptedString(), nullable=True),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("known_since", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("clients")
    drop_kit_tables(op)

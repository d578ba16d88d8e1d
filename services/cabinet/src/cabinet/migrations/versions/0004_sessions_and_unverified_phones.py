"""cabinet: a refresh family ends at an absolute time; a phone number is reserved only once
verified (an unverified one no longer blocks its owner from registering it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("refresh_tokens", sa.Column("family_expires_at", TS, nullable=True))
    # Families already open end when their current token would have.
    op.execute("UPDATE refresh_tokens SET family_expires_at = expires_at")
    op.alter_column("refresh_tokens", "family_expires_at", nullable=False)
    op.add_column(
        "users",
        sa.Column("phone_verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.alter_column("users", "phone_verified", server_default=None)
    op.drop_constraint("users_phone_index_key", "users", type_="unique")
    op.create_index(
        "users_verified_phone",
        "users",
        ["phone_index"],
        unique=True,
        postgresql_where=sa.text("phone_verified"),
    )


def downgrade() -> None:
    op.drop_index("users_verified_phone", table_name="users")
    # Unverified duplicates cannot be kept under the old unique constraint: forget them.
    op.execute(
        "UPDATE users SET phone_index = NULL WHERE NOT phone_verified AND phone_index IN "
        "(SELECT phone_index FROM users GROUP BY phone_index HAVING count(*) > 1)"
    )
    op.create_unique_constraint("users_phone_index_key", "users", ["phone_index"])
    op.drop_column("users", "phone_verified")
    op.drop_column("refresh_tokens", "family_expires_at")

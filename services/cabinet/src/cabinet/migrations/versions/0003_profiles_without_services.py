"""cabinet: a specialist's profile no longer lists services (booking owns which services a
specialist gives; its catalogue is the one a front end reads).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("specialist_profiles", "service_ids")


def downgrade() -> None:
    op.add_column(
        "specialist_profiles",
        sa.Column(
            "service_ids",
            postgresql.ARRAY(sa.Uuid()),
            nullable=False,
            server_default=sa.text("'{}'::uuid[]"),
        ),
    )
    op.alter_column("specialist_profiles", "service_ids", server_default=None)

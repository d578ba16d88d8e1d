"""content: an anonymous run's taker may leave a contact (docs/content.md, "Leaving a contact").

Only the fact is kept (``contact_left_at``) and the keyed hash of the address it came from
(``contact_source_index``, for the rate limit); the contact itself travels sealed to cabinet.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("contact_left_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("runs", sa.Column("contact_source_index", sa.String(64), nullable=True))
    op.create_index("ix_runs_contact_source_index", "runs", ["contact_source_index"])


def downgrade() -> None:
    op.drop_index("ix_runs_contact_source_index", table_name="runs")
    op.drop_column("runs", "contact_source_index")
    op.drop_column("runs", "contact_left_at")

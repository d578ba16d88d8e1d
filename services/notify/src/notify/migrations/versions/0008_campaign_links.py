"""notify: campaign deep links many people open, until the practice revokes them.

Adds ``deeplinks.revoked_at`` and ``deeplinks.opened_count``. ``attribution`` links (made here by
an admin, or learnt from cabinet's ``cabinet.campaign_link.issued``) work for every opener until
they expire or are revoked; the other actions stay single-use (docs/leads.md).

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
    op.add_column("deeplinks", sa.Column("revoked_at", sa.DateTime(timezone=True)))
    op.add_column(
        "deeplinks",
        sa.Column("opened_count", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("deeplinks", "opened_count")
    op.drop_column("deeplinks", "revoked_at")

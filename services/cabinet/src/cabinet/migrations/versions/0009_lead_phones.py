"""cabinet: leads keep a phone (encrypted, found by its blind index) and when the person agreed
to be contacted, for contacts left on anonymous questionnaire runs (docs/leads.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("phone", sa.Text(), nullable=True))
    op.add_column("leads", sa.Column("phone_index", sa.String(64), nullable=True))
    op.create_unique_constraint("leads_phone_index_key", "leads", ["phone_index"])
    op.add_column(
        "leads", sa.Column("contact_consented_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("leads", "contact_consented_at")
    op.drop_constraint("leads_phone_index_key", "leads", type_="unique")
    op.drop_column("leads", "phone_index")
    op.drop_column("leads", "phone")

"""booking: export files and erased users (docs/data-rights.md).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from servicekit.data_rights import create_data_rights_tables, drop_data_rights_tables

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_data_rights_tables(op)


def downgrade() -> None:
    drop_data_rights_tables(op)

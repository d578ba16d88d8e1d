"""notify: export files and erased users (docs/data-rights.md).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from servicekit.data_rights import create_data_rights_tables, drop_data_rights_tables

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_data_rights_tables(op)


def downgrade() -> None:
    drop_data_rights_tables(op)

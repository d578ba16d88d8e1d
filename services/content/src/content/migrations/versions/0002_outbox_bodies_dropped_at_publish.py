"""content: a published outbox row keeps no body (docs/security.md, "Events and outboxes").

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-10
"""

from collections.abc import Sequence

from alembic import op

from servicekit.db.tables import keep_published_bodies, release_published_bodies

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    release_published_bodies(op)


def downgrade() -> None:
    keep_published_bodies(op)

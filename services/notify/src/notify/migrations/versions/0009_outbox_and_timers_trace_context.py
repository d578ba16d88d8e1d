"""notify: outbox rows and timers keep the trace context they were written in
(docs/observability.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from servicekit.db.tables import add_trace_context, drop_trace_context

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_trace_context(op)


def downgrade() -> None:
    drop_trace_context(op)

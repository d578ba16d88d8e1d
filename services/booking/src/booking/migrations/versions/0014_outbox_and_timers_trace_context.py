"""booking: outbox rows and timers keep the trace context they were written in
(docs/observability.md).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from servicekit.db.tables import add_trace_context, drop_trace_context

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_trace_context(op)


def downgrade() -> None:
    drop_trace_context(op)

"""booking: YooKassa's own status beside ours, and refund attempts.

``payments.provider_status`` mirrors the last re-fetched YooKassa status while ``status`` is what
the appointment shows: a payment whose hold ended is ``canceled`` for the client at once, while
booking still watches YooKassa until the payment is final there (and voids an authorisation that
comes late). ``refunds.attempt``/``retry_of``: a refund YooKassa cancels is tried again as a new
refund (a new Idempotence-Key), up to a limit. A waitlist entry its client left reads ``left``.

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
    op.add_column("payments", sa.Column("provider_status", sa.String(), nullable=True))
    op.execute(
        "UPDATE payments SET provider_status = status "
        "WHERE status IN ('pending', 'waiting_for_capture', 'succeeded', 'canceled')"
    )
    op.add_column(
        "refunds", sa.Column("attempt", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column("refunds", sa.Column("retry_of", sa.Uuid(), nullable=True))
    op.drop_constraint("waitlist_status", "waitlist_entries", type_="check")
    op.execute("UPDATE waitlist_entries SET status = 'left' WHERE status = 'cancelled'")
    op.create_check_constraint(
        "waitlist_status", "waitlist_entries", "status IN ('waiting', 'booked', 'left', 'expired')"
    )


def downgrade() -> None:
    op.drop_constraint("waitlist_status", "waitlist_entries", type_="check")
    op.execute("UPDATE waitlist_entries SET status = 'cancelled' WHERE status = 'left'")
    op.create_check_constraint(
        "waitlist_status",
        "waitlist_entries",
        "status IN ('waiting', 'booked', 'cancelled', 'expired')",
    )
    op.drop_column("refunds", "retry_of")
    op.drop_column("refunds", "attempt")
    op.drop_column("payments", "provider_status")

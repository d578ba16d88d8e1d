"""booking: appointments, with the exclusion constraint that makes double booking impossible.

``btree_gist`` lets one GiST index combine equality on the specialist with overlap of the
occupied range. It is a trusted extension (PostgreSQL 13+), so the service's own role can create
it; the deployment's init script also creates it up front.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit.security.fields import EncryptedString

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "('held', 'confirmed', 'completed', 'no_show', 'expired', 'cancelled')"
OCCUPYING = "('held', 'confirmed', 'completed', 'no_show')"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("service_name", sa.String(), nullable=False),
        sa.Column("specialist_name", sa.String(), nullable=False),
        sa.Column("specialist_time_zone", sa.String(), nullable=False),
        sa.Column("format", sa.String(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("price_amount", sa.BigInteger(), nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occupied_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occupied_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("prepayment_required", sa.Boolean(), nullable=False),
        sa.Column("policy", postgresql.JSONB(), nullable=False),
        sa.Column("reschedule_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(), nullable=True),
        sa.Column("cancelled_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("cancel_reason", EncryptedString(), nullable=True),
        sa.Column("refund_percent", sa.Integer(), nullable=True),
        sa.Column("late_cancellation", sa.Boolean(), nullable=True),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("marked_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("attendance_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("waitlist_offer_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="appointments_status"),
        sa.CheckConstraint(
            "occupied_from <= starts_at AND starts_at < ends_at AND ends_at <= occupied_until",
            name="appointments_times_ordered",
        ),
        sa.CheckConstraint(
            "status <> 'held' OR hold_expires_at IS NOT NULL", name="appointments_hold_expiry"
        ),
    )
    op.execute(
        f"""
        ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap
        EXCLUDE USING gist (
            specialist_id WITH =,
            tstzrange(occupied_from, occupied_until, '[)') WITH &&
        ) WHERE (status IN {OCCUPYING})
        """
    )
    op.create_index("appointments_client", "appointments", ["client_id", "starts_at", "id"])
    op.create_index(
        "appointments_specialist", "appointments", ["specialist_id", "starts_at", "id"]
    )
    op.create_index(
        "appointments_live_holds",
        "appointments",
        ["hold_expires_at"],
        postgresql_where=sa.text("status = 'held'"),
    )


def downgrade() -> None:
    op.drop_table("appointments")

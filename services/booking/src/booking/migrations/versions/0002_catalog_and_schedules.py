"""booking: service catalog, specialists, schedule overrides, time off.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit.security.fields import EncryptedString

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _times() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
    ]


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("durations", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("price_amount", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(), nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_after_minutes", sa.Integer(), nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("slot_step_minutes", sa.Integer(), nullable=True),
        sa.Column("prepayment_required", sa.Boolean(), nullable=False),
        sa.Column("cancellation_tiers", postgresql.JSONB(), nullable=False),
        sa.Column("reschedule_min_notice_minutes", sa.Integer(), nullable=False),
        sa.Column("max_reschedules", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("owner_specialist_id", sa.Uuid(), nullable=True),
        *_times(),
        sa.CheckConstraint("price_amount >= 0", name="services_price_not_negative"),
        sa.CheckConstraint("format IN ('online', 'in_person')", name="services_format"),
    )
    op.create_index("ix_services_owner_specialist_id", "services", ["owner_specialist_id"])
    op.create_index("services_created", "services", ["created_at", "id"])

    op.create_table(
        "specialists",
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("weekly_hours", postgresql.JSONB(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("service_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_times(),
    )
    op.create_index("specialists_created", "specialists", ["created_at", "user_id"])
    op.create_index(
        "specialists_service_ids", "specialists", ["service_ids"], postgresql_using="gin"
    )

    op.create_table(
        "schedule_overrides",
        sa.Column("specialist_id", sa.Uuid(), primary_key=True),
        sa.Column("on_date", sa.Date(), primary_key=True),
        sa.Column("hours", postgresql.JSONB(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )

    op.create_table(
        "time_off",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", EncryptedString(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("starts_at < ends_at", name="time_off_ordered"),
    )
    op.create_index("ix_time_off_specialist_id", "time_off", ["specialist_id"])


def downgrade() -> None:
    op.drop_table("time_off")
    op.drop_table("schedule_overrides")
    op.drop_table("specialists")
    op.drop_table("services")
